"""The child side of the warm Python worker: what runs in a forked, sandboxed render child.

A child is forked (``worker.Forker``) before its request is known, enters the sandbox, breaks
copy-on-write on the pages renders usually write (``prefault``), then waits for one
``ChildRequest`` on a pipe, runs the task's renderer on it, writes one frame (``protocol``) and
exits. Everything a program can do ends as a typed ``RenderResult``.
"""

from __future__ import annotations

import errno
import io
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from verm_rl.render.fsview import FsView
from verm_rl.render.prefault import Runs, populate
from verm_rl.render.protocol import ChildRequest, encode_child_frame
from verm_rl.render.result import RenderFailure, RenderResult
from verm_rl.render.sandbox import ForbiddenOperation, Layers, SandboxConfig, enter_sandbox, seed_random


class BoundedText(io.TextIOBase):
    """A text stream that keeps the first ``limit`` characters and drops the rest."""

    def __init__(self, limit: int):
        self.limit, self.parts, self.size, self.dropped = limit, [], 0, 0

    def write(self, s: str) -> int:
        room = self.limit - self.size
        if room > 0:
            self.parts.append(s[:room])
            self.size += min(len(s), room)
        self.dropped += max(0, len(s) - max(room, 0))
        return len(s)

    def getvalue(self) -> str:
        tail = f"\n[... {self.dropped} more characters dropped]" if self.dropped else ""
        return "".join(self.parts) + tail


def classify(exc: BaseException, guard_violation: str | None) -> tuple[str, str]:
    """(error kind, message) of an exception that ended a render."""
    text = f"{type(exc).__name__}: {exc}"[:1000]
    if isinstance(exc, RenderFailure):
        if guard_violation and exc.kind == "runtime":
            return "forbidden", f"sandbox refused {guard_violation}; {exc.message}"
        return exc.kind, exc.message
    if isinstance(exc, ForbiddenOperation) or guard_violation:
        return "forbidden", f"sandbox refused {guard_violation or exc}"
    if isinstance(exc, MemoryError) or (isinstance(exc, OSError) and exc.errno == errno.ENOMEM):
        return "memory", text or "MemoryError"
    if isinstance(exc, OSError) and exc.errno in (errno.EFBIG, errno.ENOSPC):
        return "too_large", f"file size limit: {text}" if exc.errno == errno.EFBIG else f"scratch space full: {text}"
    return "runtime", text


def _write_frame(fd: int, result: RenderResult) -> None:
    view = memoryview(encode_child_frame(result))
    while view:
        view = view[os.write(fd, view):]
    os.close(fd)  # EOF now: the worker answers without waiting for our exit


def serve_one(req_fd: int, result_fd: int, cfg: SandboxConfig, base_vsize: int, scratch: str, layers: Layers,
              view: FsView | None, renderers: dict[str, Callable[..., bytes]], prefault: Runs) -> None:
    """Body of a forked child: sandbox, pre-fault, wait for one request, render it, answer. Never
    returns (``os._exit``)."""
    marks: dict[str, float] = {"forked": time.monotonic()}
    capture = BoundedText(cfg.stdout_bytes)
    result = RenderResult(ok=False)
    guard = None
    try:
        try:
            _, layers, guard = enter_sandbox(cfg, base_vsize, scratch, layers, view, {req_fd, result_fd})
            result.meta["layers"] = layers.summary()
            populate(prefault)
        except BaseException as exc:  # noqa: BLE001 - still answer the request below
            result.error_kind, result.message = "crash", f"sandbox set-up failed: {type(exc).__name__}: {exc}"[:1000]
        marks["sandboxed"] = time.monotonic()
        request = ChildRequest.read(req_fd)
        if request is None:  # the worker discarded this spare
            os._exit(0)
        os.close(req_fd)  # the program gets no descriptor but stdio and the result pipe
        marks["request"] = time.monotonic()
        if result.error_kind is None:
            _run(request, result, renderers, guard, capture)
        marks["rendered"] = time.monotonic()
        result.stdout = capture.getvalue()
        result.meta["marks"] = marks
        _write_frame(result_fd, result)
    finally:
        os._exit(0)


def _run(request: ChildRequest, result: RenderResult, renderers: dict[str, Callable[..., bytes]], guard: Any,
         capture: BoundedText) -> None:
    options = request.options
    try:
        fn = renderers.get(request.target)
        if fn is None:
            raise RenderFailure("crash", f"renderer {request.target!r} was not loaded before the fork")
        sys.argv = ["script.py"]
        sys.stdout = sys.stderr = capture
        seed_random()  # every render starts from the same random state, whichever worker runs it
        meta: dict[str, Any] = {}
        png = fn(request.source, options, meta)
        if guard.violation:
            raise ForbiddenOperation(guard.violation)
        if not isinstance(png, bytes) or not png:
            raise RenderFailure("crash", f"renderer returned {type(png).__name__}, not PNG bytes")
        if len(png) > int(options.max_png_mb) * 2**20:
            raise RenderFailure("too_large", f"PNG of {len(png)} bytes")
        if request.check_blank:
            from verm_rl.render.images import is_blank

            if is_blank(png):
                raise RenderFailure("blank", "the render is all white")
        result.ok, result.png = True, png
        result.meta.update(meta)
    except BaseException as exc:  # noqa: BLE001 - everything becomes a typed result
        result.ok, result.png = False, None
        refused = (guard.violation or guard.network) if guard else None
        result.error_kind, result.message = classify(exc, refused)  # type: ignore[assignment]


__all__ = ["BoundedText", "classify", "serve_one"]
