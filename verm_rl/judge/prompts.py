"""Judge prompts (one file per task, replaceable) and the chat messages sent with two images."""

from __future__ import annotations

import base64
import io
from functools import lru_cache
from importlib import resources
from pathlib import Path

from PIL import Image

from verm_rl.tasks import check_task

TABLE_SYSTEM_PROMPT = "You are a helpful assistant."  # the released table RM call has it; chart/SVG none


@lru_cache(maxsize=32)
def load_prompt(task: str, path: str | None = None) -> str:
    """The judge prompt for ``task``: from ``path`` when given (e.g. the released model's exact
    prompt, set by the ``judge.prompts.<task>`` Hydra option), else the bundled file."""
    check_task(task)
    if path:
        return Path(path).expanduser().read_text()
    return (resources.files("verm_rl") / "prompts" / f"{task}.txt").read_text()


def prepare_image(png: bytes, max_side: int = 1024, fmt: str = "png") -> tuple[bytes, str]:
    """Downscale so the longest side is ≤ ``max_side`` (as upstream) and encode; returns (bytes, mime)."""
    with Image.open(io.BytesIO(png)) as img:
        img = img.convert("RGB")
        if max(img.size) > max_side:
            img.thumbnail((max_side, max_side), Image.Resampling.BICUBIC)
        out = io.BytesIO()
        if fmt.lower() in ("jpg", "jpeg"):
            img.save(out, format="JPEG", quality=95)
            return out.getvalue(), "image/jpeg"
        img.save(out, format="PNG")
        return out.getvalue(), "image/png"


def data_url(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def openai_messages(task: str, reference_png: bytes, candidate_png: bytes, prompt: str,
                    max_side: int = 1024, image_format: str = "png") -> list[dict]:
    """OpenAI chat messages: [reference image, candidate image, prompt] (Visual-ERM's order)."""
    parts = []
    for png in (reference_png, candidate_png):
        data, mime = prepare_image(png, max_side, image_format)
        parts.append({"type": "image_url", "image_url": {"url": data_url(data, mime)}})
    parts.append({"type": "text", "text": prompt})
    messages = [{"role": "user", "content": parts}]
    if task == "table":
        messages.insert(0, {"role": "system", "content": TABLE_SYSTEM_PROMPT})
    return messages


def local_messages(task: str, prompt: str) -> list[dict]:
    """The same conversation for a local processor's chat template (images passed separately)."""
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "image"}, {"type": "text", "text": prompt}]}]
    if task == "table":
        messages.insert(0, {"role": "system", "content": TABLE_SYSTEM_PROMPT})
    return messages
