"""DINOv2 similarity as VinciCoder computes it (the ``dino`` baseline reward).

The candidate render is resized to the reference's size (bicubic); each image is cut into
InternVL-style dynamic 448-px tiles (the aspect-ratio grid closest to the image's, at most 12
tiles, plus a thumbnail when there is more than one tile), normalised with ImageNet mean/std; per
tile the CLS token of the last hidden state (before the final layer norm) is compared by cosine,
mapped to (sim + 1) / 2, and averaged over tiles.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _closest_grid(aspect: float, width: int, height: int, max_tiles: int, tile: int) -> tuple[int, int]:
    grids = sorted({(i, j) for n in range(1, max_tiles + 1) for i in range(1, n + 1) for j in range(1, n + 1)
                    if i * j <= max_tiles}, key=lambda g: g[0] * g[1])
    best, best_diff = (1, 1), float("inf")
    area = width * height
    for cols, rows in grids:
        diff = abs(aspect - cols / rows)
        if diff < best_diff or (diff == best_diff and area > 0.5 * tile * tile * cols * rows):
            best, best_diff = (cols, rows), diff
    return best


def dynamic_tiles(image: Image.Image, tile: int = 448, max_tiles: int = 12,
                  thumbnail: bool = True) -> list[Image.Image]:
    """InternVL's dynamic_preprocess: resize to a cols×rows grid of tiles matching the aspect ratio."""
    width, height = image.size
    cols, rows = _closest_grid(width / height, width, height, max_tiles, tile)
    resized = image.resize((tile * cols, tile * rows), Image.Resampling.BICUBIC)
    tiles = [resized.crop((c * tile, r * tile, (c + 1) * tile, (r + 1) * tile))
             for r in range(rows) for c in range(cols)]
    if thumbnail and len(tiles) > 1:
        tiles.append(image.resize((tile, tile), Image.Resampling.BICUBIC))
    return tiles


def paired_tiles(ref_png: bytes, cand_png: bytes, tile: int = 448, max_tiles: int = 12) -> tuple[list, list]:
    """Tiles of the reference and of the candidate resized to the reference's size (same grid)."""
    ref = Image.open(io.BytesIO(ref_png)).convert("RGB")
    cand = Image.open(io.BytesIO(cand_png)).convert("RGB").resize(ref.size, Image.Resampling.BICUBIC)
    return dynamic_tiles(ref, tile, max_tiles), dynamic_tiles(cand, tile, max_tiles)


def to_tensor(tiles: list[Image.Image]):
    import torch

    arr = np.stack([np.asarray(t, dtype=np.float32) / 255 for t in tiles])
    arr = (arr - np.array(IMAGENET_MEAN, dtype=np.float32)) / np.array(IMAGENET_STD, dtype=np.float32)
    return torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()


class DinoScorer:
    """DINOv2 (any size; VinciCoder and the paper use dinov2-large) loaded from a local folder."""

    def __init__(self, model_path: str, device: str = "auto", dtype: str = "auto", tile: int = 448,
                 max_tiles: int = 12):
        import torch
        from transformers import AutoModel

        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        torch_dtype = (torch.bfloat16 if device.startswith("cuda") else torch.float32) if dtype == "auto" \
            else getattr(torch, dtype)
        self.model = AutoModel.from_pretrained(model_path, dtype=torch_dtype).to(device).eval()
        self.device, self.dtype, self.tile, self.max_tiles = device, torch_dtype, tile, max_tiles

    def similarities(self, pairs: list[tuple[bytes, bytes]]) -> list[float]:
        """Tile-averaged (cos + 1) / 2 for each (reference, candidate) pair, in one forward pass."""
        import torch

        ref_tiles, cand_tiles, owners = [], [], []
        for k, (ref, cand) in enumerate(pairs):
            r, c = paired_tiles(ref, cand, self.tile, self.max_tiles)
            ref_tiles += r
            cand_tiles += c
            owners += [k] * len(r)
        if not owners:
            return []
        pixels = to_tensor(ref_tiles + cand_tiles).to(self.device, self.dtype)
        with torch.inference_mode():
            hidden = self.model(pixel_values=pixels, output_hidden_states=True).hidden_states[-1]
        cls = hidden[:, 0].float()
        n = len(owners)
        sims = torch.nn.functional.cosine_similarity(cls[:n], cls[n:], dim=-1)
        mapped = ((sims + 1) / 2).cpu().numpy()
        owners_arr = np.asarray(owners)
        return [float(mapped[owners_arr == k].mean()) for k in range(len(pairs))]


def build_tiny_dinov2(path: str, seed: int = 0) -> str:
    """A tiny random DINOv2 for tests (proves the code path, not the similarity)."""
    import torch
    from transformers import Dinov2Config, Dinov2Model

    torch.manual_seed(seed)
    config = Dinov2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                          image_size=448, patch_size=56)
    Dinov2Model(config).save_pretrained(path)
    return path


__all__ = ["DinoScorer", "build_tiny_dinov2", "dynamic_tiles", "paired_tiles"]


