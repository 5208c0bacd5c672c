"""Judge prompts (one file per task, replaceable) and the chat messages sent with two images.

Prompts come from the bundled files (our own wording), or from files the user points at: a
directory with ``<task>.txt`` inside (what ``verm-rl import-prompts`` writes from the released
code) or one file per task. Images and layout follow the task's ``TaskJudgeSettings`` (profiles.py).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from verm_rl.tasks import get_task, task_names

if TYPE_CHECKING:
    from verm_rl.judge.profiles import TaskJudgeSettings

log = logging.getLogger(__name__)
MANIFEST = "manifest.json"


@lru_cache(maxsize=32)
def load_prompt(task: str, path: str | None = None) -> str:
    """The judge prompt for ``task``: from ``path`` when given (e.g. the released model's exact
    prompt written by ``verm-rl import-prompts``), else the bundled file. Read byte-exact (no
    newline translation, no stripping)."""
    spec = get_task(task)
    if path:
        return Path(path).expanduser().read_bytes().decode("utf-8")
    if spec.judge_prompt is None:
        raise FileNotFoundError(f"task {task!r} has no bundled judge prompt: pass a prompt file for it")
    return (resources.files("verm_rl") / "prompts" / spec.judge_prompt).read_text()


def released_system_prompt(task: str) -> str | None:
    """The system message the task's released judge call has (tables: "You are a helpful assistant.")."""
    from verm_rl.judge.profiles import profile_settings

    return profile_settings("released", task).system_prompt


def resolve_prompt_files(spec: str | Path | Mapping[str, str | None] | None) -> dict[str, str]:
    """task -> prompt file, from the ``verm.judge.prompts`` option.

    ``null``: the bundled prompts. A directory: ``<task>.txt`` inside for every task (a missing one
    is an error, so a half-imported directory never mixes prompts silently; a ``manifest.json``
    there is checked against the files' sha256). A mapping: task -> file (null entries = bundled).
    """
    if spec is None or spec == "":
        return {}
    if isinstance(spec, (str, Path)):
        folder = Path(spec).expanduser()
        if not folder.is_dir():
            raise FileNotFoundError(f"verm.judge.prompts={spec}: not a directory (expected <task>.txt inside, "
                                    "as `verm-rl import-prompts` writes)")
        files = {t: folder / f"{t}.txt" for t in task_names() if get_task(t).judge_prompt is not None}
        missing = [str(p) for p in files.values() if not p.is_file()]
        if missing:
            raise FileNotFoundError(f"verm.judge.prompts={spec}: missing {', '.join(missing)}")
        _check_manifest(folder, files)
        return {t: str(p.resolve()) for t, p in files.items()}
    out = {}
    for task, path in dict(spec).items():
        get_task(task)
        if path:
            if not Path(path).expanduser().is_file():
                raise FileNotFoundError(f"verm.judge.prompts.{task}={path}: no such file")
            out[task] = str(Path(path).expanduser().resolve())
    return out


def _check_manifest(folder: Path, files: dict[str, Path]) -> None:
    manifest = folder / MANIFEST
    if not manifest.is_file():
        return
    try:
        entries = json.loads(manifest.read_text()).get("prompts", {})
    except (ValueError, AttributeError):
        log.warning("%s is not a prompt manifest; not checked", manifest)
        return
    for task, path in files.items():
        want = (entries.get(task) or {}).get("sha256")
        have = hashlib.sha256(path.read_bytes()).hexdigest()
        if want and want != have:
            log.warning("judge prompt %s was edited after import (sha256 %s, manifest %s)", path, have[:12], want[:12])


def encode_image(png: bytes, settings: TaskJudgeSettings) -> tuple[bytes, str]:
    """Shrink (Pillow ``thumbnail``: longest side ≤ ``max_image_side``, never enlarged) and encode
    as the task's settings say; returns (bytes, media type). The order of the shrink and the RGB
    conversion and the encoder defaults follow the released reward code, so the bytes match."""
    side = int(settings.max_image_side)
    with Image.open(io.BytesIO(png)) as img:
        if settings.resize_then_rgb:
            img.thumbnail((side, side))
            img = img.convert("RGB") if img.mode != "RGB" else img
        else:
            img = img.convert("RGB")
            img.thumbnail((side, side))
        out = io.BytesIO()
        if settings.image_format == "jpeg":
            kwargs = {"quality": settings.jpeg_quality} if settings.jpeg_quality else {}
            img.save(out, format="JPEG", **kwargs)
        else:
            img.save(out, format="PNG")
    return out.getvalue(), settings.mime


def prepare_image(png: bytes, max_side: int = 1024, fmt: str = "png") -> tuple[bytes, str]:
    """Downscale to ≤ ``max_side`` and encode as ``fmt`` (png or jpeg); returns (bytes, mime)."""
    from verm_rl.judge.profiles import TaskJudgeSettings

    return encode_image(png, TaskJudgeSettings(image_format=fmt, max_image_side=max_side))


def data_url(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def _ordered(reference: bytes, candidate: bytes, settings: TaskJudgeSettings) -> tuple[bytes, bytes]:
    return (reference, candidate) if settings.reference_first else (candidate, reference)


def openai_messages(reference_png: bytes, candidate_png: bytes, prompt: str,
                    settings: TaskJudgeSettings) -> list[dict]:
    """OpenAI chat messages: [system?], user: [image 1, image 2, text] with the task's settings."""
    parts = []
    for png in _ordered(reference_png, candidate_png, settings):
        data, mime = encode_image(png, settings)
        parts.append({"type": "image_url", "image_url": {"url": data_url(data, mime)}})
    parts.append({"type": "text", "text": settings.text_prefix + prompt})
    messages = [{"role": "user", "content": parts}]
    if settings.system_prompt is not None:
        messages.insert(0, {"role": "system", "content": settings.system_prompt})
    return messages


def local_images(reference_png: bytes, candidate_png: bytes, settings: TaskJudgeSettings) -> list[Image.Image]:
    """The two images exactly as an http judge would receive them, decoded for a local processor."""
    out = []
    for png in _ordered(reference_png, candidate_png, settings):
        data, _ = encode_image(png, settings)
        out.append(Image.open(io.BytesIO(data)).convert("RGB"))
    return out


def local_messages(prompt: str, settings: TaskJudgeSettings) -> list[dict]:
    """The same conversation for a local processor's chat template (images passed separately)."""
    content = [{"type": "image"}, {"type": "image"}, {"type": "text", "text": settings.text_prefix + prompt}]
    messages = [{"role": "user", "content": content}]
    if settings.system_prompt is not None:
        messages.insert(0, {"role": "system", "content": settings.system_prompt})
    return messages
