"""A long-lived sandboxed renderer for tasks that run no user code (SVG): one child serves many renders.

SVG rendering runs no user code, so the cost of a fork with new namespaces per 7 ms render is not
needed: the child is sandboxed once (same namespaces, filesystem view, rlimits and audit hook as a
chart child) and then renders request after request. The warm worker is its watchdog: it waits
for each answer on a wall clock, kills the child on timeout (the next request starts a new one)
and recycles it every ``recycle_every`` renders or when the limits it was started with change.

Worker → child: a ``protocol.ChildRequest`` (8-byte length + JSON). Child → worker: 8-byte length
+ a child frame (``protocol.encode_child_frame``: PNG bytes, JSON header; never a pickle). The
renderer is the request's ``long_lived`` one (``renderers``), imported before the child is forked.
"""

from __future__ import annotations

import os
import resource
import select
import shutil
import signal
import struct
import sys
import tempfile
import time
from collections.abc import Callable

from verm_rl.render.child import classify
from verm_rl.render.fsview import FsView
from verm_rl.render.protocol import ChildRequest, RenderRequest, decode_child_frame, encode_child_frame
from verm_rl.render.result import RenderFailure, RenderResult
from verm_rl.render.sandbox import (
    ForbiddenOperation,
    Layers,
    SandboxConfig,
    current_vsize,
    enter_sandbox,
    fork_isolated,
)

_LEN = struct.Struct("!Q")
RECYCLE_EVERY = 500


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _read_exact(fd: int, n: int, deadline: float | None) -> bytes | None:
    """``n`` bytes, or None on EOF / past the deadline."""
    chunks, got = [], 0
    while got < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _serve(req_fd: int, resp_fd: int, cfg: SandboxConfig, base_vsize: int, scratch: str, layers: Layers,
           view: FsView | None, fn: Callable[..., bytes]) -> None:
    """The child's loop: sandbox once, then render every request until EOF."""
    _, layers, guard = enter_sandbox(cfg, base_vsize, scratch, layers, view, {req_fd, resp_fd})
    summary = layers.summary()
    sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - for the child's whole life
    _, cpu_hard = resource.getrlimit(resource.RLIMIT_CPU)
    while True:
        request = ChildRequest.read(req_fd)
        if request is None:
            return
        options = request.options
        used = resource.getrusage(resource.RUSAGE_SELF)
        soft = int(used.ru_utime + used.ru_stime + options.timeout) + 2
        try:
            resource.setrlimit(resource.RLIMIT_CPU, (min(soft, cpu_hard) if cpu_hard >= 0 else soft, cpu_hard))
        except (ValueError, OSError):
            pass
        guard.reset()
        began = time.monotonic()
        result = RenderResult(ok=False, meta={"layers": summary})
        try:
            png = fn(request.source, options, {})
            if guard.violation or guard.network:
                raise ForbiddenOperation(guard.violation or guard.network)
            if len(png) > int(options.max_png_mb) * 2**20:
                raise RenderFailure("too_large", f"PNG of {len(png)} bytes")
            result.ok, result.png = True, png
        except BaseException as e:  # noqa: BLE001 - every input gets a typed answer
            result.error_kind, result.message = classify(e, None)  # type: ignore[assignment]
        result.meta["render_s"] = round(time.monotonic() - began, 6)
        frame = encode_child_frame(result)
        _write_all(resp_fd, _LEN.pack(len(frame)) + frame)


class SvgServer:
    """The warm worker's handle on its long-lived child (the watchdog)."""

    def __init__(self, recycle_every: int = RECYCLE_EVERY, view: FsView | None = None,
                 close_in_child: tuple[int, ...] = ()):
        self.recycle_every = recycle_every
        self.view = view
        self.close_in_child = close_in_child
        self.pid: int | None = None
        self.req_fd = self.resp_fd = -1
        self.served = 0
        self.key: tuple[object, ...] | None = None
        self.scratch = ""
        self.starts = 0
        self.renderers: dict[str, Callable[..., bytes]] = {}

    @staticmethod
    def _key(cfg: SandboxConfig, target: str) -> tuple[object, ...]:
        """What a running child was started with (a new value: a new child). The CPU limit is re-armed
        per request, the others hold for the child's life."""
        return target, cfg.memory_mb, cfg.file_size_mb, cfg.max_procs, cfg.drop_to_user

    def _start(self, cfg: SandboxConfig, target: str) -> None:
        self.stop()
        fn = self.renderers.get(target)
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        self.scratch = tempfile.mkdtemp(prefix="verm_svg_")
        base_vsize = current_vsize()
        # the rlimit on CPU seconds is re-armed per request below the hard limit, set for a long life
        life = SandboxConfig(timeout_s=max(cfg.timeout_s, 1.0) * (self.recycle_every + 1) + 60,
                             memory_mb=cfg.memory_mb, file_size_mb=cfg.file_size_mb, max_procs=cfg.max_procs,
                             stdout_bytes=cfg.stdout_bytes, drop_to_user=cfg.drop_to_user)
        pid, layers = fork_isolated()
        if pid == 0:
            try:
                for fd in (req_w, resp_r, *self.close_in_child):
                    os.close(fd)
                devnull = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(devnull, fd)
                _serve(req_r, resp_w, life, base_vsize, self.scratch, layers, self.view, fn)
            finally:
                os._exit(0)
        os.close(req_r)
        os.close(resp_w)
        self.pid, self.req_fd, self.resp_fd = pid, req_w, resp_r
        self.served, self.key = 0, self._key(cfg, target)
        self.starts += 1

    def stop(self) -> None:
        if self.pid is not None:
            for fd in (self.req_fd, self.resp_fd):
                try:
                    os.close(fd)
                except OSError:
                    pass
            for kill in (os.killpg, os.kill):
                try:
                    kill(self.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            try:
                os.waitpid(self.pid, 0)
            except ChildProcessError:  # already reaped by _exit_status
                pass
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.pid = None

    def render(self, request: RenderRequest) -> RenderResult:
        """One render in the long-lived child (started, or replaced, as needed)."""
        options, spec = request.options, request.renderer
        start = time.monotonic()
        cfg = SandboxConfig.from_options(options)
        try:
            if spec.target not in self.renderers:
                self.renderers[spec.target] = spec.load()
        except Exception as e:  # noqa: BLE001
            return RenderResult.failure("crash", f"renderer {spec.target!r} cannot be loaded: {type(e).__name__}: {e}")
        if self.pid is None or self.served >= self.recycle_every or self.key != self._key(cfg, spec.target):
            self._start(cfg, spec.target)
        self.served += 1
        body = ChildRequest(request.task, request.source, options, spec.target, spec.check_blank).encode()
        try:
            _write_all(self.req_fd, body)
        except OSError:
            self.stop()
            return RenderResult.failure("crash", "the SVG render process vanished", time.monotonic() - start)
        deadline = start + options.timeout
        head = _read_exact(self.resp_fd, _LEN.size, deadline)
        size = _LEN.unpack(head)[0] if head else 0
        cap = int(options.max_png_mb) * 2**20 + 2**20
        frame = _read_exact(self.resp_fd, size, deadline) if head and size <= cap else None
        seconds = time.monotonic() - start
        if frame is None:
            timed_out = time.monotonic() >= deadline
            status = self._exit_status()
            self.stop()
            if head and size > cap:
                return RenderResult.failure("too_large", "the render produced too much output", seconds)
            if timed_out:
                return RenderResult.failure("timeout", f"killed after {options.timeout_s} s wall clock", seconds)
            if status is not None and os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGXCPU:
                return RenderResult.failure("timeout", "CPU time limit", seconds)
            return RenderResult.failure("crash", "the SVG render process died", seconds)
        try:
            result = decode_child_frame(frame)
        except ValueError:
            self.stop()
            return RenderResult.failure("crash", "bad answer from the SVG render process", seconds)
        render_s = result.meta.pop("render_s", 0.0)
        result.seconds = seconds
        result.meta["timings"] = {"render": float(render_s) if isinstance(render_s, (int, float)) else 0.0,
                                  "total": round(seconds, 6)}
        result.meta["svg_server"] = {"served": self.served, "starts": self.starts}
        return result

    def _exit_status(self) -> int | None:
        if self.pid is None:
            return None
        try:
            done, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            return None
        return status if done else None


__all__ = ["RECYCLE_EVERY", "SvgServer"]
