"""OmniDocBench, table recognition protocol (evaluation.md §3): each GT table is cropped from its
page by the ``poly`` box, the policy writes it as HTML, and both are normalised
(``table_normalize``) before TEDS / TEDS-S (PubTabNet, ``verm_rl.similarity.teds.teds_html``) and
the normalised edit distance over the HTML strings (``edit_distance``).

Data: ``--data`` is the folder holding ``OmniDocBench.json`` and ``images/`` (or the JSON itself, with
images beside it under ``images/``). A prediction with no ``<table`` normalises to ``""``: TEDS 0 and
the edit distance taken against the raw string. Empty predictions are *skipped* as the official loader
does (``count_empty=True`` scores them as TEDS 0 / edit 1, as the end-to-end protocol does).
"""

from __future__ import annotations

import json
from collections import defaultdict
from functools import partial
from pathlib import Path
from typing import Any

from verm_rl.eval.benchmarks.base import BenchItem, Benchmark, DataError, ScoreContext, mean, png_bytes, record
from verm_rl.eval.benchmarks.edit_distance import levenshtein
from verm_rl.eval.benchmarks.table_normalize import markdown_tables_to_html, normalized_html_table


def table_scores(pred: str | None, gt: str, markdown_tables: bool = False) -> dict[str, float]:
    """TEDS, TEDS-S and edit distance of one table, OmniDocBench-style (``edit_num``/``edit_den`` are
    the Levenshtein distance and the longer length, for corpus- and page-level ratios)."""
    from verm_rl.similarity.teds import teds_html

    pred = pred or ""
    if markdown_tables and "<table" not in pred:
        pred = markdown_tables_to_html(pred)
    gt_norm, pred_norm = normalized_html_table(gt), normalized_html_table(pred)
    try:
        teds = teds_html(pred_norm, gt_norm)
        teds_s = teds_html(pred_norm, gt_norm, structure_only=True)
    except Exception:  # noqa: BLE001 - as OmniDocBench: a table whose TEDS raises scores 0
        teds = teds_s = 0.0
    a, b = pred_norm or pred, gt_norm or gt  # an empty normalised string counts as missing
    num, den = levenshtein(a, b), max(len(a), len(b))
    return {"teds": teds, "teds_s": teds_s, "edit": num / den if den else 0.0, "edit_num": float(num),
            "edit_den": float(den)}


def _crop(image_path: Path, poly: list[float]) -> list[bytes]:
    from PIL import Image

    xs, ys = poly[0::2], poly[1::2]
    with Image.open(image_path) as im:
        box = (max(0, int(min(xs))), max(0, int(min(ys))), min(im.width, int(round(max(xs)))),
               min(im.height, int(round(max(ys)))))
        if box[2] <= box[0] or box[3] <= box[1]:
            raise DataError(f"{image_path}: empty table box {poly}")
        return [png_bytes(im.convert("RGB").crop(box))]


def _policy_table_prompt(path: str | None) -> str:
    from verm_rl.data.dataset import policy_prompt

    return policy_prompt("table", path)


class OmniDocBenchTable(Benchmark):
    name = "omnidocbench-table"
    task = "table"
    headline = "teds"

    def __init__(self, prompt_file: str | None = None, gt_key: str = "html", count_empty: bool = False,
                 markdown_tables: bool = False):
        self.prompt = _policy_table_prompt(prompt_file)
        self.gt_key = gt_key
        self.count_empty = count_empty
        self.markdown_tables = markdown_tables

    def load(self, data: Path, limit: int | None = None) -> list[BenchItem]:
        data = Path(data)
        json_path = data if data.is_file() else data / "OmniDocBench.json"
        if not json_path.exists():
            candidates = sorted(data.glob("*.json")) if data.is_dir() else []
            if len(candidates) != 1:
                raise DataError(f"no OmniDocBench.json in {data}")
            json_path = candidates[0]
        image_dir = json_path.parent / "images"
        pages = json.loads(json_path.read_text(encoding="utf-8"))
        if not isinstance(pages, list):
            raise DataError(f"{json_path}: expected a list of pages")
        items: list[BenchItem] = []
        for page in pages:
            info = page.get("page_info", {})
            image_name = info.get("image_path")
            if not image_name:
                raise DataError(f"{json_path}: a page without page_info.image_path")
            for k, det in enumerate(page.get("layout_dets", [])):
                if det.get("category_type") != "table" or det.get("ignore"):
                    continue
                gt = det.get(self.gt_key)
                if not gt:
                    continue
                anno = det.get("anno_id", k)
                items.append(BenchItem(
                    id=f"{image_name}#{anno}", prompt=self.prompt, group=image_name,
                    load_images=partial(_crop, image_dir / image_name, det["poly"]),
                    reference={"gt": gt, "language": info.get("page_attribute", {}).get("language", "")}))
                if limit is not None and len(items) >= limit:
                    return items
        return items

    async def score(self, item: BenchItem, response: str | None, ctx: ScoreContext) -> dict[str, Any]:
        if not response or not response.strip():
            if not self.count_empty:
                return record(item, "skipped_empty", {})
            response = ""
        scores = await ctx.run_cpu(table_scores, response, item.reference["gt"], self.markdown_tables)
        status = "ok" if normalized_html_table(response) else "no_table"
        return record(item, status if response else "no_prediction", scores, language=item.reference["language"])

    def summarize(self, records: list[dict[str, Any]], n_items: int) -> dict[str, Any]:
        scored = [r for r in records if "teds" in r["metrics"]]
        pages: dict[str, list[dict[str, float]]] = defaultdict(list)
        for r in scored:
            pages[r["group"]].append(r["metrics"])
        page_edit = [sum(m["edit_num"] for m in ms) / max(1.0, sum(m["edit_den"] for m in ms)) for ms in pages.values()]
        num, den = sum(r["metrics"]["edit_num"] for r in scored), sum(r["metrics"]["edit_den"] for r in scored)
        return {
            "TEDS": 100 * mean([r["metrics"]["teds"] for r in scored]),
            "TEDS_S": 100 * mean([r["metrics"]["teds_s"] for r in scored]),
            "Edit": 100 * mean(page_edit),  # ALL_page_avg: per page Σedit/Σmaxlen, then the mean
            "Edit_whole": 100 * (num / den if den else 0.0),
            "Edit_sample_avg": 100 * mean([r["metrics"]["edit"] for r in scored]),
            "TEDS_page": 100 * mean([mean([m["teds"] for m in ms]) for ms in pages.values()]),
            "TEDS_S_page": 100 * mean([mean([m["teds_s"] for m in ms]) for ms in pages.values()]),
            "n_scored": len(scored), "n_skipped_empty": sum(r["status"] == "skipped_empty" for r in records),
            **self._by_language(scored),
        }

    @staticmethod
    def _by_language(scored: list[dict[str, Any]]) -> dict[str, float]:
        """TEDS per page language (``page_attribute.language``), as v1.0 reports EN / ZH, when mixed."""
        langs: dict[str, list[float]] = defaultdict(list)
        for r in scored:
            langs[r["detail"].get("language") or "unknown"].append(r["metrics"]["teds"])
        return {f"TEDS[{k}]": 100 * mean(v) for k, v in sorted(langs.items())} if len(langs) > 1 else {}
