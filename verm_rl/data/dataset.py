"""verl parquet rows for vision-to-code RL, from the synthetic generator or from local data copies.

Row schema (what verl's ``RLHFDataset`` reads): ``prompt`` (one user message with one ``<image>``),
``images`` ([{"bytes": png, "path": None}]), ``data_source`` (e.g. ``chart2code``), ``ability``,
``reward_model`` ({"style": "rule", "ground_truth": reference program}), ``extra_info`` ({"task",
"index", "split", "id", ...}). Bad rows are reported (``ConversionReport``) and skipped, never silently.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from verm_rl.tasks import get_task, task_names, task_of_data_source

log = logging.getLogger(__name__)
RenderFn = Callable[..., Awaitable[Any]]


def policy_prompt(task: str, path: str | None = None) -> str:
    """The instruction given to the policy (with its single ``<image>``); replaceable by a file."""
    spec = get_task(task)
    if path:
        return Path(path).read_text().strip()
    if spec.policy_prompt is None:
        raise FileNotFoundError(f"task {task!r} has no bundled policy prompt: pass a prompt file for it")
    return (resources.files("verm_rl") / "prompts" / spec.policy_prompt).read_text().strip()


def make_row(task: str, image_png: bytes, ground_truth: str | None, index: int, split: str = "train",
             sample_id: str = "", prompt: str | None = None, **extra: Any) -> dict[str, Any]:
    text = prompt or policy_prompt(task)
    if text.count("<image>") != 1:
        raise ValueError("the policy prompt must contain exactly one <image>")
    return {
        "data_source": get_task(task).data_source,
        "prompt": [{"role": "user", "content": text}],
        "images": [{"bytes": image_png, "path": None}],
        "ability": "vision_to_code",
        "reward_model": {"style": "rule", "ground_truth": ground_truth or ""},
        "extra_info": {"task": task, "index": index, "split": split, "id": sample_id or f"{task}-{index}", **extra},
    }


def task_of(data_source: Any, extra_info: Any = None) -> str:
    """The task of a row: ``extra_info.task`` if present, else from ``data_source``."""
    names = task_names()
    if isinstance(extra_info, dict) and extra_info.get("task") in names:
        return extra_info["task"]
    source = str(data_source or "")
    task = task_of_data_source(source)
    if task is not None:
        return task
    for task in names:
        if task in source:
            return task
    raise ValueError(f"cannot tell the task of data_source={data_source!r}")


@dataclass
class ConversionReport:
    """What a conversion kept and what it skipped, with the reason for each skipped row."""

    kept: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def skip(self, item: str, reason: str) -> None:
        log.warning("skipping %s: %s", item, reason)
        self.skipped.append((item, reason))

    def summary(self) -> str:
        return f"kept {self.kept}, skipped {len(self.skipped)}" + "".join(
            f"\n  {item}: {reason}" for item, reason in self.skipped[:50])


async def rows_from_sources(items: Iterable[tuple[str, str, str, bytes | None]], render: RenderFn,
                            split: str = "train", report: ConversionReport | None = None,
                            start_index: int = 0) -> tuple[list[dict], ConversionReport]:
    """Rows from (id, task, reference source, image or None) items; missing images are rendered."""
    import asyncio

    report = report or ConversionReport()
    items = list(items)

    async def image_of(task: str, source: str, png: bytes | None) -> tuple[bytes | None, str]:
        if png:
            return png, ""
        res = await render(task, source)
        return (res.png, "") if res.ok else (None, f"reference does not render: {res.error_kind}: {res.message[:200]}")

    images = await asyncio.gather(*(image_of(t, s, p) for _, t, s, p in items))
    rows = []
    for (item_id, task, source, _), (png, why) in zip(items, images, strict=True):
        if png is None:
            report.skip(item_id, why)
            continue
        rows.append(make_row(task, png, source, start_index + len(rows), split, item_id))
        report.kept += 1
    return rows, report


def _read_text(path: Path, report: ConversionReport) -> str | None:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        report.skip(str(path), f"unreadable: {e}")
        return None


def _read_image(path: Path, report: ConversionReport, item: str) -> bytes | None:
    from PIL import Image, UnidentifiedImageError

    try:
        data = path.read_bytes()
        with Image.open(path) as img:
            img.verify()
        if path.suffix.lower() != ".png":
            import io

            out = io.BytesIO()
            Image.open(path).convert("RGB").save(out, format="PNG")
            data = out.getvalue()
        return data
    except (OSError, UnidentifiedImageError) as e:
        report.skip(item, f"bad image {path}: {e}")
        return None


def collect_code_pairs(root: str | Path, task: str = "chart", report: ConversionReport | None = None
                       ) -> tuple[list[tuple[str, str, str, bytes | None]], ConversionReport]:
    """(a) image + reference code pairs (ChartMimic / VinciCoder style): a folder of ``x.py`` +
    ``x.png`` files, or a JSONL with ``code`` and ``image`` (path) fields per line."""
    report = report or ConversionReport()
    root = Path(root)
    items = []
    if root.is_file() and root.suffix == ".jsonl":
        for n, line in enumerate(root.read_text().splitlines()):
            item = f"{root.name}:{n + 1}"
            try:
                rec = json.loads(line)
                code, image = rec["code"], rec.get("image")
            except (ValueError, KeyError, TypeError) as e:
                report.skip(item, f"bad JSON line: {e}")
                continue
            png = _read_image((root.parent / image), report, item) if image else None
            if image and png is None:
                continue
            items.append((rec.get("id", item), task, code, png))
        return items, report
    for code_path in sorted(root.glob("*.py")):
        code = _read_text(code_path, report)
        if code is None:
            continue
        image = next((code_path.with_suffix(s) for s in (".png", ".jpg", ".jpeg") if code_path.with_suffix(s).exists()),
                     None)
        png = _read_image(image, report, code_path.name) if image else None
        if image and png is None:
            continue
        items.append((code_path.stem, task, code, png))
    return items, report


def collect_tables(root: str | Path, report: ConversionReport | None = None
                   ) -> tuple[list[tuple[str, str, str, bytes | None]], ConversionReport]:
    """(b) HTML or markdown tables (``x.html`` / ``x.md``), with ``x.png`` screenshots when present."""
    from verm_rl.tasks import extract_code

    report = report or ConversionReport()
    items = []
    for path in sorted(p for p in Path(root).iterdir() if p.suffix.lower() in (".html", ".htm", ".md")):
        text = _read_text(path, report)
        if text is None:
            continue
        table = extract_code("table", text)
        if not table:
            report.skip(path.name, "no table in the file")
            continue
        image = path.with_suffix(".png")
        png = _read_image(image, report, path.name) if image.exists() else None
        if image.exists() and png is None:
            continue
        items.append((path.stem, "table", table, png))
    return items, report


def collect_svgs(root: str | Path, report: ConversionReport | None = None
                 ) -> tuple[list[tuple[str, str, str, bytes | None]], ConversionReport]:
    """(c) SVG files; their reference images are rendered by us (same renderer as the policy's)."""
    from verm_rl.render.result import RenderFailure
    from verm_rl.render.svg import check_svg_safe

    report = report or ConversionReport()
    items = []
    for path in sorted(Path(root).glob("*.svg")):
        text = _read_text(path, report)
        if text is None:
            continue
        try:
            check_svg_safe(text)
        except RenderFailure as e:
            report.skip(path.name, f"{e.kind}: {e.message}")
            continue
        items.append((path.stem, "svg", text, None))
    return items, report


def collect_sources(task: str, root: str | Path, report: ConversionReport | None = None
                    ) -> tuple[list[tuple[str, str, str, bytes | None]], ConversionReport]:
    """Local files of ``task`` (its ``TaskSpec.converter``: code pairs, tables, SVGs …) as
    (id, task, reference source, image or None) items."""
    return get_task(task).resolve("converter")(root, report=report)


def synthetic_items(n: int, seed: int = 0, tasks: tuple[str, ...] | None = None) -> list[tuple[str, str, str, None]]:
    from verm_rl.data.synthetic import generate_references

    return [(r.id, r.task, r.source, None) for r in generate_references(n, seed=seed, tasks=tasks)]


def write_parquet(rows: list[dict], path: str | Path) -> Path:
    import pandas as pd

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_parquet(path)
    return path
