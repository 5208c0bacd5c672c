"""Framing between a render client and its warm worker, and between a worker and its child.

Client ↔ worker (both trusted): length-prefixed pickles over the worker's stdin/stdout.
Child → worker (the child ran untrusted code): never pickle. The child writes
``png bytes | JSON header | 8-byte header length``; the worker parses it from the end, so bytes a
hostile program wrote earlier on the same pipe are ignored.
"""

from __future__ import annotations

import json
import os
import pickle
import select
import struct
import time
from typing import Any

_LEN = struct.Struct("!Q")


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


def encode_child_frame(header: dict[str, Any], png: bytes | None) -> bytes:
    head = json.dumps({**header, "png_len": len(png or b"")}).encode()
    return (png or b"") + head + _LEN.pack(len(head))


def decode_child_frame(data: bytes) -> tuple[dict[str, Any], bytes | None]:
    """Parse a child's frame from its end. Raises ValueError when it is not a valid frame."""
    if len(data) < _LEN.size:
        raise ValueError("no result frame")
    (head_len,) = _LEN.unpack(data[-_LEN.size:])
    if head_len <= 0 or head_len > len(data) - _LEN.size:
        raise ValueError("bad result frame")
    head = json.loads(data[-_LEN.size - head_len:-_LEN.size])
    png_len = int(head.pop("png_len", 0))
    end = len(data) - _LEN.size - head_len
    if not isinstance(head, dict) or png_len < 0 or png_len > end:
        raise ValueError("bad result frame")
    return head, (data[end - png_len:end] if png_len else None)
