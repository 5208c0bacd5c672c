"""How a task renders, read from its ``TaskSpec`` (``verm_rl.tasks``: the one registry), and the
built-in renderers the specs name.

A renderer is named by an import path (``"module:function"``) so that the warm worker, a separate
process, can import it before it forks the sandboxed child that calls it. It runs inside the
sandbox and returns PNG bytes or raises ``RenderFailure``; ``meta`` is a dict it may fill (it ends
up in ``RenderResult.meta``, e.g. a chart's trace).

- family ``"python"``: ``fn(source: str, options: RenderOptions, meta: dict) -> bytes``, in a child
  forked from the warm Python worker per render (untrusted code: a fresh process every time), or,
  with ``long_lived=True`` (it runs no user code, e.g. SVG), in one long-lived sandboxed child;
- family ``"browser"``: ``fn(browser: TableBrowser, source, options, meta) -> bytes``, in the
  table browser's worker.

``renderer_for(task)`` builds the ``RendererSpec`` from the task's spec (``renderer``,
``worker_family``, ``render_long_lived``, ``render_check_blank``); the client sends it with every
request, so a task registered only in the client's process renders in the worker as well.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from verm_rl.render.options import RenderOptions
from verm_rl.render.result import RenderFailure
from verm_rl.tasks import UnknownTaskError, get_task, task_names

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


def target_of(ref: Any) -> str:
    """The ``"module:function"`` path of a renderer reference (a path already, or a module-level function)."""
    if isinstance(ref, str):
        return ref
    module, qualname = getattr(ref, "__module__", None), getattr(ref, "__qualname__", "")
    if not module or not qualname or "<" in qualname:
        raise ValueError(f"renderer {ref!r} is not a module-level function the worker can import")
    return f"{module}:{qualname}"


def renderer_for(task: str) -> RendererSpec:
    """How ``task`` renders, from its ``TaskSpec``; ``UnknownTask`` (a ValueError) names the registered
    tasks when ``task`` is not one, or says the task has no renderer."""
    try:
        spec = get_task(task)
    except UnknownTaskError:
        raise UnknownTask(f"unknown task {task!r}; expected one of {task_names()}") from None
    if spec.renderer is None:
        raise UnknownTask(f"task {task!r} has no renderer; tasks with one: {task_names('renderer')}")
    return RendererSpec(task, target_of(spec.renderer), spec.worker_family, spec.render_long_lived,
                        spec.render_check_blank)


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


__all__ = ["FAMILIES", "RendererSpec", "UnknownTask", "renderer_for", "render_chart_task", "render_svg_task",
           "render_table_task", "target_of"]
