"""A pool of warm renderers in this process (no Ray): N workers, async ``render`` like ``RenderPool``."""

from __future__ import annotations

import asyncio
import os
import queue
from typing import Any

from verm_rl.render.client import Renderer
from verm_rl.render.result import RenderResult


class LocalRenderPool:
    """``await pool.render(task, source, **options)`` on the first free of ``size`` renderers."""

    def __init__(self, size: int | None = None, **render_defaults: Any):
        self.size = size or max(1, (os.cpu_count() or 2))
        self._renderers = [Renderer(**render_defaults) for _ in range(self.size)]
        self._free: queue.Queue[Renderer] = queue.Queue()
        for r in self._renderers:
            self._free.put(r)

    def render_blocking(self, task: str, source: str | None, **options: Any) -> RenderResult:
        renderer = self._free.get()
        try:
            return renderer.render(task, source, **options)
        finally:
            self._free.put(renderer)

    async def render(self, task: str, source: str | None, **options: Any) -> RenderResult:
        return await asyncio.to_thread(self.render_blocking, task, source, **options)

    def close(self) -> None:
        for r in self._renderers:
            r.close()

    def __enter__(self) -> LocalRenderPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
