"""Which function renders which task: the one mapping task → renderer (the task registry points here).

A renderer is named by an import path (``"module:function"``) so that the warm worker, a separate
process, can import it before it forks the sandboxed child that calls it. It runs inside the
sandbox and returns PNG bytes or raises ``RenderFailure``; ``meta`` is a dict it may fill (it ends
up in ``RenderResult.meta``, e.g. a chart's trace).

- family ``"python"``: ``fn(source: str, options: RenderOptions, meta: dict) -> bytes``, in a child
  forked from the warm Python worker per render (untrusted code: a fresh process every time), or,
  with ``long_lived=True`` (it runs no user code, e.g. SVG), in one long-lived sandboxed child;
- family ``"browser"``: ``fn(browser: TableBrowser, source, options, meta) -> bytes``, in the
  table browser's worker.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from verm_rl.render.options import RenderOptions
from verm_rl.render.result import RenderFailure

FAMILIES = ("python", "browser")


class UnknownTask(ValueError):
    """A task with no registered renderer."""


@dataclass(frozen=True)
class RendererSpec:
    """How one task renders (see the module docstring for the function's signature)."""

    task: str
    target: str  # "module:function"
    family: str = "python"
    long_lived: bool = False  # python family only: served by one long-lived sandboxed child (no user code)
    check_blank: bool = True  # the child rejects an all-white PNG (False: the function checks it itself)

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"renderer family {self.family!r}: expected one of {FAMILIES}")
        if ":" not in self.target:
            raise ValueError(f"renderer target {self.target!r}: expected 'module:function'")

    def load(self) -> Callable[..., bytes]:
        """Import the function (in the warm worker, before any fork)."""
        module, _, name = self.target.partition(":")
        fn: Any = importlib.import_module(module)
        for part in name.split("."):
            fn = getattr(fn, part)
        return fn


RENDERERS: dict[str, RendererSpec] = {}


def register_renderer(task: str, target: str | Callable[..., bytes], family: str = "python",
                      long_lived: bool = False, check_blank: bool = True) -> RendererSpec:
    """Register (or replace) the renderer of ``task``; ``target`` is a module-level function or its
    ``"module:function"`` path. Returns the spec."""
    if callable(target):
        target = f"{target.__module__}:{target.__qualname__}"
    spec = RendererSpec(task, target, family, long_lived, check_blank)
    RENDERERS[task] = spec
    return spec


def renderer_for(task: str) -> RendererSpec:
    """The spec of ``task``; ``UnknownTask`` (a ValueError) names the registered ones."""
    try:
        return RENDERERS[task]
    except (KeyError, TypeError):
        raise UnknownTask(f"unknown task {task!r}; expected one of {tuple(RENDERERS)}") from None


# --- the built-in renderers -------------------------------------------------------------------------


def render_chart_task(source: str, options: RenderOptions, meta: dict[str, Any]) -> bytes:
    from verm_rl.render.chart import render_chart

    trace: dict[str, Any] | None = {} if options.trace else None
    dpi = options.dpi if options.dpi == "figure" else int(options.dpi)
    png = render_chart(source, dpi=dpi, max_pixels=int(options.max_pixels), trace=trace, output=options.chart_output)
    if trace is not None:
        meta["trace"] = trace
    return png


def render_svg_task(source: str, options: RenderOptions, meta: dict[str, Any]) -> bytes:
    from verm_rl.render.svg import render_svg_checked

    png, blank = render_svg_checked(source, int(options.svg_width), int(options.svg_height), caps=options.caps())
    if blank:  # read on cairo's pixels, before PNG encoding
        raise RenderFailure("blank", "the render is all white")
    return png


def render_table_task(browser: Any, source: str, options: RenderOptions, meta: dict[str, Any]) -> bytes:
    return browser.render(source, timeout_s=options.timeout, max_pixels=int(options.max_pixels),
                          padding=int(options.table_padding), caps=options.caps())


register_renderer("chart", render_chart_task, check_blank=False)  # blank-checked on the canvas
register_renderer("svg", render_svg_task, long_lived=True, check_blank=False)
register_renderer("table", render_table_task, family="browser", check_blank=False)  # cropped: empty → blank


__all__ = ["FAMILIES", "RENDERERS", "RendererSpec", "UnknownTask", "register_renderer", "renderer_for",
           "render_chart_task", "render_svg_task", "render_table_task"]
