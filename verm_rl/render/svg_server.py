"""A long-lived sandboxed SVG renderer: one child serves many SVG renders.

SVG rendering runs no user code, so the cost of a fork with new namespaces per 7 ms render is not
needed: the child is sandboxed once (same namespaces, filesystem view, rlimits and audit hook as a
chart child) and then renders request after request. The warm worker is its watchdog: it waits
for each answer on a wall clock, kills the child on timeout (the next request starts a new one)
and recycles it every ``recycle_every`` renders or when the limits it was started with change.

Worker → child: 8-byte length + JSON request. Child → worker: 8-byte length + a child frame
(``protocol.encode_child_frame``: PNG bytes, JSON header; never a pickle).
"""

from __future__ import annotations

import json
import os
import resource
import select
import shutil
import signal
import struct
import sys
import tempfile
import time
from typing import Any

from verm_rl.render.fsview import FsView
from verm_rl.render.protocol import decode_child_frame, encode_child_frame
from verm_rl.render.result import RenderFailure
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
           view: FsView | None) -> None:
    """The child's loop: sandbox once, then render every request until EOF."""
    from verm_rl.render.svg import render_svg_checked

    _, layers, guard = enter_sandbox(cfg, base_vsize, scratch, layers, view, {req_fd, resp_fd})
    summary = layers.summary()
    sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - for the child's whole life
    _, cpu_hard = resource.getrlimit(resource.RLIMIT_CPU)
    while True:
        head = _read_exact(req_fd, _LEN.size, None)
        if head is None:
            return
        body = _read_exact(req_fd, _LEN.unpack(head)[0], None)
        if body is None:
            return
        request = json.loads(body)
        options = request["options"]
        used = resource.getrusage(resource.RUSAGE_SELF)
        soft = int(used.ru_utime + used.ru_stime + float(options["timeout_s"])) + 2
        try:
            resource.setrlimit(resource.RLIMIT_CPU, (min(soft, cpu_hard) if cpu_hard >= 0 else soft, cpu_hard))
        except (ValueError, OSError):
            pass
        guard.reset()
        began = time.monotonic()
        header: dict[str, Any] = {"ok": False, "layers": summary}
        png = None
        try:
            png, blank = render_svg_checked(request["source"], int(options["svg_width"]),
                                            int(options["svg_height"]), caps=options)
            if guard.violation or guard.network:
                raise ForbiddenOperation(guard.violation or guard.network)
            if len(png) > int(options["max_png_mb"]) * 2**20:
                raise RenderFailure("too_large", f"PNG of {len(png)} bytes")
            if blank:
                raise RenderFailure("blank", "the render is all white")
            header["ok"] = True
        except RenderFailure as e:
            png, header["error_kind"], header["message"] = None, e.kind, e.message
        except ForbiddenOperation as e:
            png, header["error_kind"], header["message"] = None, "forbidden", f"sandbox refused {e}"
        except MemoryError:
            png, header["error_kind"], header["message"] = None, "memory", "MemoryError"
        except Exception as e:  # noqa: BLE001 - every input gets a typed answer
            png, header["error_kind"], header["message"] = None, "runtime", f"{type(e).__name__}: {e}"[:1000]
        header["render_s"] = round(time.monotonic() - began, 6)
        frame = encode_child_frame(header, png)
        _write_all(resp_fd, _LEN.pack(len(frame)) + frame)


class SvgServer:
    """The warm worker's handle on its long-lived SVG child (the watchdog)."""

    def __init__(self, recycle_every: int = RECYCLE_EVERY, view: FsView | None = None,
                 close_in_child: tuple[int, ...] = ()):
        self.recycle_every = recycle_every
        self.view = view
        self.close_in_child = close_in_child
        self.pid: int | None = None
        self.req_fd = self.resp_fd = -1
        self.served = 0
        self.key: tuple[int, int] | None = None
        self.scratch = ""
        self.starts = 0

    def _start(self, cfg: SandboxConfig) -> None:
        self.stop()
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
                _serve(req_r, resp_w, life, base_vsize, self.scratch, layers, self.view)
            finally:
                os._exit(0)
        os.close(req_r)
        os.close(resp_w)
        self.pid, self.req_fd, self.resp_fd = pid, req_w, resp_r
        self.served, self.key = 0, (cfg.memory_mb, cfg.file_size_mb)
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

    def render(self, request: dict[str, Any], cfg: SandboxConfig) -> dict[str, Any]:
        """One SVG render; a result dict as ``worker.render_in_child`` gives."""
        options = request["options"]
        start = time.monotonic()
        if self.pid is None or self.served >= self.recycle_every or self.key != (cfg.memory_mb, cfg.file_size_mb):
            self._start(cfg)
        self.served += 1
        body = json.dumps({"source": request["source"], "options": options}).encode()
        try:
            _write_all(self.req_fd, _LEN.pack(len(body)) + body)
        except OSError:
            self.stop()
            return _failure("crash", "the SVG render process vanished", time.monotonic() - start)
        deadline = start + float(options["timeout_s"])
        head = _read_exact(self.resp_fd, _LEN.size, deadline)
        size = _LEN.unpack(head)[0] if head else 0
        cap = int(options["max_png_mb"]) * 2**20 + 2**20
        frame = _read_exact(self.resp_fd, size, deadline) if head and size <= cap else None
        seconds = time.monotonic() - start
        if frame is None:
            timed_out = time.monotonic() >= deadline
            status = self._exit_status()
            self.stop()
            if head and size > cap:
                return _failure("too_large", "the render produced too much output", seconds)
            if timed_out:
                return _failure("timeout", f"killed after {options['timeout_s']} s wall clock", seconds)
            if status is not None and os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGXCPU:
                return _failure("timeout", "CPU time limit", seconds)
            return _failure("crash", "the SVG render process died", seconds)
        try:
            header, png = decode_child_frame(frame)
        except ValueError:
            self.stop()
            return _failure("crash", "bad answer from the SVG render process", seconds)
        ok = bool(header.get("ok")) and png is not None
        return {"ok": ok, "png": png if ok else None, "error_kind": None if ok else header.get("error_kind", "crash"),
                "message": str(header.get("message", ""))[:2000], "seconds": seconds, "stdout": "",
                "meta": {"layers": header.get("layers", ""),
                         "timings": {"render": float(header.get("render_s", 0.0)), "total": round(seconds, 6)},
                         "svg_server": {"served": self.served, "starts": self.starts}}}

    def _exit_status(self) -> int | None:
        if self.pid is None:
            return None
        try:
            done, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            return None
        return status if done else None


def _failure(kind: str, message: str, seconds: float) -> dict[str, Any]:
    return {"ok": False, "png": None, "error_kind": kind, "message": message, "seconds": seconds,
            "stdout": "", "meta": {}}


__all__ = ["RECYCLE_EVERY", "SvgServer"]
