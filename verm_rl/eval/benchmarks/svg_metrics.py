"""UniSVG ISVGEN metrics (evaluation.md §5; UniSVG ``evaluation.py``):

- SVG extraction: the first ``<svg…>…</svg>``; else ``<svg…`` to the end, repaired (a trailing partial tag
  dropped, closing tags appended for opened tags never closed — self-closing ones included, as the
  official repair does — then ``</svg>``); else an empty 336×336 SVG (renders white, scored normally).
- Render: cairosvg at 336 × 336 on white (our sandboxed ``verm_rl.render`` SVG worker does exactly that).
- SSIM: ``skimage.metrics.structural_similarity`` on the H×W×3 uint8 arrays, ``channel_axis=2``,
  ``win_size = min(7, min side // 2 * 2 + 1)``, library defaults otherwise (uniform window, K1 0.01,
  K2 0.03, data range 255 from the dtype).
- LPIPS: ``lpips.LPIPS(net='alex')`` v0.1 on inputs scaled x/127.5 − 1 (lower is better).
- CLIP: ``openai/clip-vit-large-patch14-336``; cosine of the two projected image embeddings.
- Score = 0.2·SSIM + 0.2·(1 − LPIPS) + 0.6·CLIP on the means (×100 when reported).
"""

from __future__ import annotations

import io
import re
import threading
from pathlib import Path

import numpy as np

EMPTY_SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="336" height="336"></svg>'
SIZE = 336


def extract_svg(text: str | None) -> str:
    if not text:
        return EMPTY_SVG
    m = re.search(r"<svg[^>]*>(.*?)</svg>", text, re.DOTALL)
    if m:
        return m.group(0)
    m = re.search(r"<svg[^>]*>.*", text, re.DOTALL)
    return repair_svg(m.group(0)) if m else EMPTY_SVG


def repair_svg(svg: str) -> str:
    """Close a truncated SVG the way the official script does (tag names only, so an unclosed
    self-closing ``<path/>`` also gets a ``</path>``)."""
    svg = re.sub(r"<[^>]*$", "", svg)
    closes = re.findall(r"</([a-zA-Z]+)>", svg)
    unclosed = []
    for tag in re.findall(r"<([a-zA-Z]+)[^>]*>", svg):
        if tag in closes:
            closes.remove(tag)
        else:
            unclosed.append(tag)
    svg += "".join(f"</{tag}>" for tag in reversed(unclosed))
    return svg if svg.strip().endswith("</svg>") else svg + "</svg>"


def rgb_array(png: bytes) -> np.ndarray:
    """PNG bytes → H×W×3 uint8 (``convert('RGB')``: alpha dropped, not composited, as the official)."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8)


def white_png(size: int = SIZE) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (size, size), "white").save(buf, format="PNG")
    return buf.getvalue()


def ssim(reference: np.ndarray, candidate: np.ndarray) -> float:
    """UniSVG's SSIM; raises ValueError on a size mismatch (the official then scores the sample 0/1/0)."""
    from skimage.metrics import structural_similarity

    if reference.shape != candidate.shape:
        raise ValueError(f"image sizes differ: {reference.shape} vs {candidate.shape}")
    win = min(7, min(reference.shape[0], reference.shape[1]) // 2 * 2 + 1)
    return float(structural_similarity(reference, candidate, win_size=win, channel_axis=2))


def composite_score(ssim_mean: float, lpips_mean: float, clip_mean: float) -> float:
    return 0.2 * ssim_mean + 0.2 * (1.0 - lpips_mean) + 0.6 * clip_mean


def _device(device: str | None) -> str:
    import torch

    return device or ("cuda" if torch.cuda.is_available() else "cpu")


class LpipsScorer:
    """LPIPS (AlexNet, v0.1 linear heads) from local weights, never downloaded.

    ``path``: a folder with ``alexnet.pth`` (torchvision AlexNet state dict, e.g. a copy of
    ``alexnet-owt-7be5be79.pth``) and optionally ``alex.pth`` (the v0.1 linear heads; default: the copy
    shipped inside the ``lpips`` package), or the AlexNet ``.pth`` file itself.
    """

    def __init__(self, path: str, device: str | None = None):
        import lpips
        import torch

        p = Path(path)
        backbone = p / "alexnet.pth" if p.is_dir() else p
        heads = p / "alex.pth" if p.is_dir() and (p / "alex.pth").exists() else None
        if not backbone.exists():
            raise FileNotFoundError(f"LPIPS: no AlexNet weights at {backbone}")
        kwargs = {"model_path": str(heads)} if heads else {}
        self.model = lpips.LPIPS(net="alex", pretrained=True, pnet_rand=True, verbose=False, **kwargs)
        state = torch.load(backbone, map_location="cpu", weights_only=True)
        loaded = 0
        for slice_ in (self.model.net.slice1, self.model.net.slice2, self.model.net.slice3, self.model.net.slice4,
                       self.model.net.slice5):
            for name, module in slice_.named_children():
                for param in ("weight", "bias"):
                    key = f"features.{name}.{param}"
                    if key in state and hasattr(module, param):
                        getattr(module, param).data.copy_(state[key])
                        loaded += 1
        if loaded != 10:  # 5 conv layers × (weight, bias)
            raise ValueError(f"LPIPS: {backbone} is not a torchvision AlexNet state dict ({loaded}/10 tensors)")
        self.device = _device(device)
        self.model = self.model.to(self.device).eval()
        self._lock = threading.Lock()

    def __call__(self, reference: np.ndarray, candidate: np.ndarray) -> float:
        import torch

        def tensor(a: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(a.astype(np.float32) / 127.5 - 1.0).permute(2, 0, 1)[None].to(self.device)

        with self._lock, torch.no_grad():
            return float(self.model(tensor(reference), tensor(candidate)).item())


class ClipScorer:
    """Cosine of the projected CLIP image embeddings (a local ``clip-vit-large-patch14-336`` folder)."""

    def __init__(self, path: str, device: str | None = None):
        from transformers import AutoImageProcessor, CLIPModel

        self.device = _device(device)
        self.model = CLIPModel.from_pretrained(path).to(self.device).eval()
        self.processor = AutoImageProcessor.from_pretrained(path)
        self._lock = threading.Lock()

    def __call__(self, reference: np.ndarray, candidate: np.ndarray) -> float:
        import torch
        from PIL import Image

        images = [Image.fromarray(reference), Image.fromarray(candidate)]
        with self._lock, torch.no_grad():
            pixels = self.processor(images=images, return_tensors="pt")["pixel_values"].to(self.device)
            out = self.model.get_image_features(pixel_values=pixels)
            emb = out if isinstance(out, torch.Tensor) else out.pooler_output
            emb = emb / emb.norm(dim=-1, keepdim=True)
            return float(torch.cosine_similarity(emb[0], emb[1], dim=0).item())
