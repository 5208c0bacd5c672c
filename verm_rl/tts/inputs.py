"""Inputs of test-time scaling: an image, its task and, when known, the reference program.

Read from a folder of images, a JSONL file, or our verl parquet. The reference program
(``reference_source``) is optional; only the structural judge needs it (image judges compare pixels).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from verm_rl.tasks import get_task, task_names

log = logging.getLogger(__name__)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


@dataclass
class TTSInput:
    """One input: ``image`` is PNG bytes (other formats are converted); ``prompt`` replaces the task's
    policy instruction (one ``<image>`` marker) when given."""

    id: str
    task: str
    image: bytes = field(repr=False)
    reference_source: str | None = field(default=None, repr=False)
    prompt: str | None = field(default=None, repr=False)


@dataclass
class InputReport:
    """What a reader kept and what it skipped (with the reason for each)."""

    kept: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    duplicates: int = 0

    def skip(self, item: str, reason: str) -> None:
        log.warning("skipping input %s: %s", item, reason)
        self.skipped.append((item, reason))


def safe_id(text: str) -> str:
    """An id usable as a folder name (stable: unsafe ids get a hash suffix)."""
    clean = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(text)).strip("._") or "input"
    if clean != str(text):
        clean = f"{clean[:80]}-{hashlib.blake2b(str(text).encode(), digest_size=4).hexdigest()}"
    return clean


def as_png(data: bytes) -> bytes:
    """PNG bytes of an image (verifies it decodes; raises ValueError otherwise)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            if img.format == "PNG":
                return data
            out = io.BytesIO()
            img.convert("RGB").save(out, format="PNG")
            return out.getvalue()
    except (OSError, UnidentifiedImageError) as e:
        raise ValueError(f"not a readable image: {e}") from None


def _task_from_name(path: Path, root: Path) -> str | None:
    for part in [path.stem.split("_", 1)[0].split("-", 1)[0], *[p.name for p in path.relative_to(root).parents]]:
        if part in task_names():
            return part
    return None


def read_folder(root: str | Path, task: str | None = None, report: InputReport | None = None) -> list[TTSInput]:
    """Images under ``root`` (recursively). The task is ``task``, else the file-name prefix
    (``chart_…``, ``table-…``) or a folder named after it; a sibling with the same stem and the task's
    source suffix (``.py``, ``.html``/``.md``, ``.svg``) is the reference program."""
    report = report if report is not None else InputReport()
    root = Path(root)
    out = []
    for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES):
        name = str(path.relative_to(root))
        t = task or _task_from_name(path, root)
        if t is None:
            report.skip(name, "cannot tell the task (pass --task, or name files chart_*/table_*/svg_*)")
            continue
        try:
            image = as_png(path.read_bytes())
        except (OSError, ValueError) as e:
            report.skip(name, str(e))
            continue
        source = next((path.with_suffix(s).read_text() for s in get_task(t).source_suffixes
                       if path.with_suffix(s).exists()), None)
        out.append(TTSInput(safe_id(str(path.relative_to(root).with_suffix(""))), t, image, source))
        report.kept += 1
    return out


def _first(rec: dict[str, Any], *keys: str) -> Any:
    return next((rec[k] for k in keys if rec.get(k) not in (None, "")), None)


def read_jsonl(path: str | Path, report: InputReport | None = None) -> list[TTSInput]:
    """One record a line: ``task`` (or ``category``: VC-RewardBench / ``verm-rl synth`` records work
    as is), an image path (``image``, ``image_path`` or ``gt_img_path``, relative to the file), and
    optionally ``id``, ``reference_source`` (or ``gt_source``, ``code``, ``source``) and ``prompt``.
    Records that repeat an image already read are counted as duplicates and skipped."""
    report = report if report is not None else InputReport()
    path = Path(path)
    out, seen = [], set()
    for n, line in enumerate(path.read_text().splitlines(), 1):
        where = f"{path.name}:{n}"
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            if not isinstance(rec, dict):
                raise ValueError("not an object")
        except ValueError as e:
            report.skip(where, f"bad JSON: {e}")
            continue
        task = _first(rec, "task", "category")
        if task not in task_names():
            report.skip(where, f"task {task!r} is not one of {task_names()}")
            continue
        image_path = _first(rec, "image", "image_path", "gt_img_path")
        if not isinstance(image_path, str):
            report.skip(where, "no image path (image / image_path / gt_img_path)")
            continue
        full = Path(image_path) if Path(image_path).is_absolute() else path.parent / image_path
        if (task, str(full)) in seen:
            report.duplicates += 1
            continue
        seen.add((task, str(full)))
        try:
            image = as_png(full.read_bytes())
        except (OSError, ValueError) as e:
            report.skip(where, f"{full}: {e}")
            continue
        item_id = _first(rec, "id", "idx") or Path(image_path).stem
        if "gt_img_path" in rec and "id" in rec and "image" not in rec:
            item_id = Path(image_path).stem  # VC-RewardBench records: one input per reference image
        out.append(TTSInput(safe_id(str(item_id)), task, image,
                            _first(rec, "reference_source", "gt_source", "code", "source"), rec.get("prompt")))
        report.kept += 1
    return out


def read_parquet(path: str | Path, report: InputReport | None = None) -> list[TTSInput]:
    """Our verl rows (``verm-rl prepare``): the first image, the prompt text, the ground-truth program."""
    import pandas as pd

    from verm_rl.data.dataset import task_of

    report = report if report is not None else InputReport()
    out = []
    for n, row in enumerate(pd.read_parquet(path).to_dict("records")):
        extra = row.get("extra_info") if isinstance(row.get("extra_info"), dict) else {}
        where = str(extra.get("id") or f"row {n}")
        try:
            task = task_of(row.get("data_source"), extra)
            images = row.get("images")
            first = images[0] if images is not None and len(images) else None
            data = first.get("bytes") if isinstance(first, dict) else None
            if not data:
                raise ValueError("no image bytes")
            image = as_png(data)
        except (ValueError, TypeError, KeyError) as e:
            report.skip(where, str(e))
            continue
        prompt = row.get("prompt")
        text = None
        if prompt is not None and len(prompt):
            content = prompt[-1].get("content") if isinstance(prompt[-1], dict) else None
            text = content if isinstance(content, str) else None
        truth = (row.get("reward_model") or {}).get("ground_truth") or None
        out.append(TTSInput(safe_id(where), task, image, truth, text))
        report.kept += 1
    return out


def read_inputs(source: str | Path, task: str | None = None) -> tuple[list[TTSInput], InputReport]:
    """Inputs from a folder, a ``.jsonl`` or a ``.parquet`` file; ``task`` filters (files) or sets (folders)."""
    source = Path(source)
    report = InputReport()
    if source.is_dir():
        items = read_folder(source, task, report)
    elif source.suffix == ".jsonl":
        items = read_jsonl(source, report)
    elif source.suffix == ".parquet":
        items = read_parquet(source, report)
    else:
        raise ValueError(f"{source}: expected a folder, a .jsonl or a .parquet file")
    if task and not source.is_dir():
        items = [i for i in items if i.task == task]
    ids: dict[str, int] = {}
    for item in items:  # ids name output folders: make them unique
        if item.id in ids:
            ids[item.id] += 1
            item.id = f"{item.id}-{ids[item.id]}"
        else:
            ids[item.id] = 0
    return items, report
