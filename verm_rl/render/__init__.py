"""Sandboxed renderers: chart (matplotlib), table (HTML/markdown in Chromium), SVG (cairosvg).

``RENDERERS`` maps each task to its renderer (``renderers``); ``register_renderer`` adds a task.
"""

from verm_rl.render.client import Renderer, WarmWorker, default_renderer, render
from verm_rl.render.options import TASK_TIMEOUT_S, RenderOptions
from verm_rl.render.renderers import RENDERERS, RendererSpec, UnknownTask, register_renderer, renderer_for
from verm_rl.render.result import ERROR_KINDS, ErrorKind, RenderFailure, RenderResult
from verm_rl.tasks import extract_code

__all__ = [
    "ERROR_KINDS", "RENDERERS", "TASK_TIMEOUT_S", "ErrorKind", "RenderFailure", "RenderOptions", "RenderResult",
    "Renderer", "RendererSpec", "UnknownTask", "WarmWorker", "default_renderer", "extract_code", "register_renderer",
    "render", "renderer_for",
]
