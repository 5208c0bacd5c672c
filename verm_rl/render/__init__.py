"""Sandboxed renderers: chart (matplotlib), table (HTML/markdown in Chromium), SVG (cairosvg).

Which function renders a task is the task's ``TaskSpec`` (``verm_rl.tasks``); ``renderer_for(task)``
reads it (``renderers``). A fourth task registers its spec with ``verm_rl.tasks.register_task``.
"""

from verm_rl.render.client import Renderer, WarmWorker, default_renderer, render
from verm_rl.render.options import RenderOptions
from verm_rl.render.renderers import RendererSpec, UnknownTask, renderer_for
from verm_rl.render.result import ERROR_KINDS, ErrorKind, RenderFailure, RenderResult
from verm_rl.tasks import extract_code

__all__ = [
    "ERROR_KINDS", "ErrorKind", "RenderFailure", "RenderOptions", "RenderResult", "Renderer", "RendererSpec",
    "UnknownTask", "WarmWorker", "default_renderer", "extract_code", "render", "renderer_for",
]
