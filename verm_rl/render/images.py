"""Small image helpers shared by the renderers."""

from __future__ import annotations

import io
import struct

import numpy as np
from PIL import Image


def is_blank(png: bytes) -> bool:
    """True when every pixel is white (upstream's blank-render rule)."""
    with Image.open(io.BytesIO(png)) as img:
        return img.convert("L").getextrema() == (255, 255)


def crop_to_content(png: bytes, padding: int = 12) -> bytes | None:
    """Crop to the pixels that differ from the top-left pixel, plus ``padding``; None if none do."""
    with Image.open(io.BytesIO(png)) as img:
        rgb = np.asarray(img.convert("RGB"))
    diff = np.any(rgb != rgb[0, 0], axis=-1)
    rows, cols = np.nonzero(diff.any(axis=1))[0], np.nonzero(diff.any(axis=0))[0]
    if rows.size == 0:
        return None
    h, w = diff.shape
    top, bottom = max(rows[0] - padding, 0), min(rows[-1] + 1 + padding, h)
    left, right = max(cols[0] - padding, 0), min(cols[-1] + 1 + padding, w)
    out = io.BytesIO()
    Image.fromarray(rgb[top:bottom, left:right]).save(out, format="PNG", compress_level=1)
    return out.getvalue()


def png_size(png: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(png)) as img:
        return img.size


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_problem(png: bytes, max_pixels: int) -> tuple[str, str] | None:
    """(error kind, message) when bytes from a process that ran untrusted code are not a PNG of at
    most ``max_pixels`` pixels, from the header alone (no decode: a forged header can claim a
    decompression bomb); None when they pass. The program owns its process, so it can patch the
    PNG writer or forge its result frame: the worker checks."""
    if len(png) < 33 or png[:8] != PNG_SIGNATURE or png[12:16] != b"IHDR":
        return "crash", "the render process returned bytes that are not a PNG"
    width, height = struct.unpack(">II", png[16:24])
    if width == 0 or height == 0:
        return "crash", f"the render process returned a {width}x{height} PNG"
    if width * height > max_pixels:
        return "too_large", f"PNG of {width}x{height} px (max_pixels {max_pixels})"
    return None
