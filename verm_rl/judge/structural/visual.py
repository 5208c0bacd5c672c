"""Visual equivalence, checked before any structural comparison: two programs whose renders are
pixel-identical show the same thing, whatever their code looks like, so the critic reports nothing.

Near-identical renders (same size, at most ``rules.NEAR_FRACTION`` of the pixels differing by more than
``rules.LEVEL_TOLERANCE`` on some channel — antialiasing and sub-pixel placement) still go to the
structural comparison, which is told so (``VisualMatch.near``) and records it in its notes.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from verm_rl.judge.structural import rules


@dataclass(frozen=True)
class VisualMatch:
    """How close two renders are. ``identical``: same size, every pixel equal. ``near``: same size,
    at most ``rules.NEAR_FRACTION`` of the pixels changed by more than ``rules.LEVEL_TOLERANCE``.
    ``changed_fraction``: that share (1.0 when the sizes differ)."""

    identical: bool
    near: bool
    changed_fraction: float
    same_size: bool

    def note(self) -> str | None:
        if self.identical:
            return "pixel_identical"
        if self.near:
            return f"near_identical:{self.changed_fraction:.5f}"
        return None


def _rgb(png: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(png)) as img:
        return np.asarray(img.convert("RGB"), dtype=np.int16)


def visual_match(reference_png: bytes | None, candidate_png: bytes | None) -> VisualMatch | None:
    """Compare two renders pixel by pixel; None when either is missing or cannot be decoded."""
    if not reference_png or not candidate_png:
        return None
    if reference_png == candidate_png:
        return VisualMatch(True, True, 0.0, True)
    try:
        a, b = _rgb(reference_png), _rgb(candidate_png)
    except Exception:  # noqa: BLE001 - not an image: no visual fact to offer
        return None
    if a.shape != b.shape:
        return VisualMatch(False, False, 1.0, False)
    diff = np.abs(a - b).max(axis=-1)
    if not diff.any():
        return VisualMatch(True, True, 0.0, True)
    fraction = float((diff > rules.LEVEL_TOLERANCE).mean())
    return VisualMatch(False, fraction <= rules.NEAR_FRACTION, fraction, True)
