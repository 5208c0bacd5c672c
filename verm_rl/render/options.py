"""Render settings: the one place their defaults live (the client, the worker, the sandbox and the
config read them from here)."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from verm_rl.tasks import UnknownTaskError, get_task

DEFAULT_TIMEOUT_S = 15.0  # a task name nobody registered (the render itself then fails as an unknown task)

CAP_FIELDS = ("max_table_cells", "max_text_chars", "max_svg_elements", "max_svg_depth", "max_table_elements",
              "max_table_frames")


@dataclass(frozen=True)
class RenderOptions:
    """Render settings. The same settings must be used for the reference and the candidate."""

    dpi: int | str = 100  # chart savefig dpi (upstream: matplotlib's default 100); "figure": the figure's own dpi
    # chart output: "requested" = the figure the program saved to a path, else the current one (the same figure
    # for any program order); "released" = the current figure when the program ends, as the released reward
    # (it deletes the program's savefig calls and appends one), so a program that closes its figure renders blank
    chart_output: str = "requested"
    timeout_s: float | None = None  # wall clock that kills; None = the task's (its TaskSpec.render_timeout_s)
    memory_mb: int = 2048  # address space a program may add on top of the warm worker
    file_size_mb: int = 64  # largest file a program may write in its scratch dir
    max_procs: int = 64  # RLIMIT_NPROC of the user a root worker drops to (threads count here too)
    drop_to_user: str = "nobody"  # a root worker runs programs as this user (non-root: the user namespace)
    max_pixels: int = 40_000_000  # largest image (w*h) a chart or table may produce
    max_png_mb: int = 16
    max_source_kb: int = 512  # longer programs are not run ("too_large")
    svg_width: int = 336
    svg_height: int = 336
    table_padding: int = 12  # crop to content plus this many pixels
    stdout_bytes: int = 8192  # captured program output kept in RenderResult.stdout
    # caps on degenerate outputs (repetition loops): over a cap the render is "too_large", early
    max_table_cells: int = 2_000  # rows x columns of a table (a 200x10 table is fine)
    max_text_chars: int = 100_000  # text of a table or an SVG
    max_svg_elements: int = 20_000
    max_table_elements: int = 20_000  # opening tags of an HTML table (unclosed ones repeated nest deep)
    max_table_frames: int = 10  # <iframe>/<object>/<embed> in an HTML table (each is a document of its own)
    max_svg_depth: int = 64
    trace: bool = False  # chart only: also describe the figure (RenderResult.meta["trace"]) for the critic

    def replace(self, **overrides: Any) -> RenderOptions:
        if not overrides:
            return self
        unknown = set(overrides) - _NAMES
        if unknown:
            raise TypeError(f"unknown render option(s) {sorted(unknown)}; known: {sorted(_NAMES)}")
        return replace(self, **overrides)

    def resolved(self, task: str) -> RenderOptions:
        """These options with the task's timeout (``TaskSpec.render_timeout_s``) filled in."""
        if self.timeout_s is not None:
            return self
        try:
            timeout_s = get_task(task).render_timeout_s
        except UnknownTaskError:
            timeout_s = DEFAULT_TIMEOUT_S
        return replace(self, timeout_s=timeout_s)

    @property
    def timeout(self) -> float:
        """The wall clock in seconds (only on resolved options)."""
        if self.timeout_s is None:
            raise ValueError("unresolved RenderOptions: call .resolved(task) first")
        return float(self.timeout_s)

    def caps(self) -> dict[str, int]:
        """The caps on degenerate outputs, as the SVG and table checks take them."""
        return {k: int(getattr(self, k)) for k in CAP_FIELDS}

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _NAMES}  # flat values: no deep copy (asdict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RenderOptions:
        unknown = set(data) - _NAMES
        if unknown:
            raise TypeError(f"unknown render option(s) {sorted(unknown)}; known: {sorted(_NAMES)}")
        return cls(**data)


_NAMES = frozenset(f.name for f in fields(RenderOptions))


__all__ = ["CAP_FIELDS", "DEFAULT_TIMEOUT_S", "RenderOptions"]
