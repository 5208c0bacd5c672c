"""Sandboxed renderers: chart (matplotlib), table (HTML/markdown in Chromium), SVG (cairosvg)."""

from verm_rl.render.client import Renderer, RenderOptions, WarmWorker, default_renderer, render
from verm_rl.render.result import ERROR_KINDS, ErrorKind, RenderFailure, RenderResult
from verm_rl.tasks import extract_code

__all__ = [
    "ERROR_KINDS", "ErrorKind", "RenderFailure", "RenderOptions", "RenderResult", "Renderer",
    "WarmWorker", "default_renderer", "extract_code", "render",
]
