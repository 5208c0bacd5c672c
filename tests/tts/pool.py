"""A render pool over the session's shared warm ``Renderer`` (tests/conftest.py), so these tests do
not start warm workers of their own: same ``render``/``render_blocking`` interface as LocalRenderPool."""

from __future__ import annotations

import asyncio
import threading


class SharedRendererPool:
    def __init__(self, renderer):
        self.renderer = renderer
        self._lock = threading.Lock()  # one request at a time per warm worker

    def render_blocking(self, task, source, **options):
        with self._lock:
            return self.renderer.render(task, source, **options)

    async def render(self, task, source, **options):
        return await asyncio.to_thread(self.render_blocking, task, source, **options)
