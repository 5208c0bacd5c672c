"""Image similarities of two renders: SSIM and pixel L2, each in [0, 1] (1 = identical)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def _gray_pair(ref_png: bytes, cand_png: bytes, max_side: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Both images in grayscale at the reference's size (capped at ``max_side``), as floats in [0, 1]."""
    with Image.open(io.BytesIO(ref_png)) as ref, Image.open(io.BytesIO(cand_png)) as cand:
        ref = ref.convert("L")
        if max(ref.size) > max_side:
            ref.thumbnail((max_side, max_side), Image.Resampling.BICUBIC)
        cand = cand.convert("L").resize(ref.size, Image.Resampling.BICUBIC)
        return np.asarray(ref, dtype=np.float64) / 255, np.asarray(cand, dtype=np.float64) / 255


def ssim_similarity(ref_png: bytes, cand_png: bytes) -> float:
    """SSIM (scikit-image, window ≤ 7 as UniSVG's evaluation) of the two renders, clipped to [0, 1]."""
    from skimage.metrics import structural_similarity

    a, b = _gray_pair(ref_png, cand_png)
    win = min(7, min(a.shape) - (1 - min(a.shape) % 2))
    if win < 3:
        return float(np.allclose(a, b))
    return float(max(0.0, structural_similarity(a, b, data_range=1.0, win_size=win)))


def pixel_l2_similarity(ref_png: bytes, cand_png: bytes) -> float:
    """1 − mean squared pixel difference (grayscale, [0, 1] scale)."""
    a, b = _gray_pair(ref_png, cand_png)
    return float(1.0 - np.mean((a - b) ** 2))
