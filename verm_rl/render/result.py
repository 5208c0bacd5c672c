"""The typed outcome of one render."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

ErrorKind = Literal[
    "no_code", "syntax", "runtime", "timeout", "memory", "forbidden", "blank", "too_large", "crash"
]
ERROR_KINDS: tuple[str, ...] = (
    "no_code", "syntax", "runtime", "timeout", "memory", "forbidden", "blank", "too_large", "crash",
)


@dataclass
class RenderResult:
    """What a render gives back. Never raised: failures are values with an ``error_kind``.

    ok: the program rendered a non-blank image.
    png: the PNG bytes when ok.
    error_kind: one of ``ERROR_KINDS`` when not ok.
    message: a short human-readable explanation (exception text, signal, limit hit).
    seconds: wall-clock time of the render, sandbox included.
    stdout: the first bytes of what the program printed (bounded), for debugging.
    """

    ok: bool
    png: bytes | None = None
    error_kind: ErrorKind | None = None
    message: str = ""
    seconds: float = 0.0
    stdout: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def failure(cls, kind: ErrorKind, message: str, seconds: float = 0.0, **kw: Any) -> RenderResult:
        if kind not in ERROR_KINDS:
            raise ValueError(f"unknown error kind {kind!r}")
        return cls(ok=False, error_kind=kind, message=message[:2000], seconds=seconds, **kw)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class RenderFailure(Exception):
    """Raised inside a render to end it with a typed failure."""

    def __init__(self, kind: ErrorKind, message: str):
        super().__init__(message)
        self.kind = kind
        self.message = message
