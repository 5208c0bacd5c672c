"""Framing between a render client and its warm worker, and between a worker and its child.

Client ↔ worker (both trusted): length-prefixed pickles over the worker's stdin/stdout: a
``RenderRequest`` in, a ``RenderResult`` out (``None`` in asks the worker to exit).
Worker → child: a length-prefixed JSON ``ChildRequest`` (source, resolved options, renderer target).
Child → worker (the child ran untrusted code): never pickle. The child writes
``png bytes | JSON header | 8-byte header length`` (the header: the ``RenderResult`` fields but the
PNG); the worker parses it from the end, so bytes a hostile program wrote earlier on the same pipe
are ignored, and checks every field's type.
"""

from __future__ import annotations

import json
import os
import pickle
import select
import struct
import time
from dataclasses import dataclass
from typing import Any

from verm_rl.render.options import RenderOptions
from verm_rl.render.renderers import RendererSpec
from verm_rl.render.result import ERROR_KINDS, RenderResult

_LEN = struct.Struct("!Q")


@dataclass(frozen=True)
class RenderRequest:
    """Client → worker: one render. ``options`` are resolved (the timeout is a number)."""

    task: str
    source: str
    options: RenderOptions
    renderer: RendererSpec


@dataclass(frozen=True)
class ChildRequest:
    """Worker → sandboxed child (JSON): what the child needs to run one renderer."""

    task: str
    source: str
    options: RenderOptions
    target: str
    check_blank: bool = True

    def encode(self) -> bytes:
        body = json.dumps({"task": self.task, "source": self.source, "options": self.options.to_dict(),
                           "target": self.target, "check_blank": self.check_blank}).encode()
        return _LEN.pack(len(body)) + body

    @classmethod
    def decode(cls, body: bytes) -> ChildRequest:
        d = json.loads(body)
        return cls(d["task"], d["source"], RenderOptions.from_dict(d["options"]), d["target"], bool(d["check_blank"]))

    @classmethod
    def read(cls, fd: int) -> ChildRequest | None:
        """The next request on ``fd``; None at EOF (the worker is gone or gave up this child)."""
        try:
            (size,) = _LEN.unpack(read_exact(fd, _LEN.size))
            return cls.decode(read_exact(fd, size))
        except WorkerGone:
            return None


class WorkerGone(Exception):
    """The other end closed the pipe or did not answer in time."""


def write_message(fd: int, obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    _write_all(fd, _LEN.pack(len(data)) + data)


def read_message(fd: int, deadline: float | None = None) -> Any:
    (size,) = _LEN.unpack(read_exact(fd, _LEN.size, deadline))
    return pickle.loads(read_exact(fd, size, deadline))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def read_exact(fd: int, n: int, deadline: float | None = None) -> bytes:
    chunks, got = [], 0
    while got < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise WorkerGone("timed out waiting for the worker")
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            raise WorkerGone("the worker closed its pipe")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def encode_child_frame(result: RenderResult) -> bytes:
    png = result.png if result.ok else None
    header = {"ok": bool(result.ok and png), "error_kind": result.error_kind, "message": result.message,
              "stdout": result.stdout, "meta": result.meta, "png_len": len(png or b"")}
    head = json.dumps(header, default=str).encode()  # a renderer's meta: anything, as text if need be
    return (png or b"") + head + _LEN.pack(len(head))


def decode_child_frame(data: bytes) -> RenderResult:
    """The ``RenderResult`` in a child's frame (``seconds`` is the worker's to set). Raises
    ValueError when it is not a valid frame; wrong field types become a ``crash``."""
    head, png = _split_frame(data)
    ok, kind = head.get("ok") is True and png is not None, head.get("error_kind")
    message, stdout, meta = head.get("message", ""), head.get("stdout", ""), head.get("meta", {})
    if not (isinstance(message, str) and isinstance(stdout, str) and isinstance(meta, dict)) or (
            not ok and kind not in ERROR_KINDS) or _depth(meta) > MAX_META_DEPTH:
        return RenderResult.failure("crash", "malformed result from the render process")
    return RenderResult(ok=ok, png=png if ok else None, error_kind=None if ok else kind, message=message[:2000],
                        stdout=stdout[:65536], meta=meta)


MAX_META_DEPTH = 32  # a trace is a few levels deep; pickling the answer for the client fails at a few hundred


def _depth(value: Any) -> int:
    """Nesting depth of JSON data (iterative: the data is untrusted)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (dict, list)):
            deepest = max(deepest, depth)
            if deepest > MAX_META_DEPTH:
                return deepest
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return deepest


def _split_frame(data: bytes) -> tuple[dict[str, Any], bytes | None]:
    if len(data) < _LEN.size:
        raise ValueError("no result frame")
    (head_len,) = _LEN.unpack(data[-_LEN.size:])
    if head_len <= 0 or head_len > len(data) - _LEN.size:
        raise ValueError("bad result frame")
    try:  # untrusted text: a header nested 100k deep is a RecursionError, not a ValueError
        head = json.loads(data[-_LEN.size - head_len:-_LEN.size])
    except RecursionError:
        raise ValueError("bad result frame") from None
    png_len = head.pop("png_len", 0) if isinstance(head, dict) else -1
    end = len(data) - _LEN.size - head_len
    if not isinstance(png_len, int) or png_len < 0 or png_len > end:
        raise ValueError("bad result frame")
    return head, (data[end - png_len:end] if png_len else None)
