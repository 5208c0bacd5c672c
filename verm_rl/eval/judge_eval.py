"""``verm-rl eval-judge``: run a judge over VC-RewardBench records and score it (F1h, F1s, Sc).

Per item: the judge under test sees (reference image, candidate image) — and the two programs when the
records carry them (our synthetic export), which the structural critic needs — and lists errors; a
matcher pairs them with ``human_errors``; counts are pooled as ``verm_rl.eval.vc_rewardbench`` defines.
Without a judge, records that carry ``pred_json`` (api_judge's ``results.json``) are scored as they are.

Writes ``items.jsonl`` (each item's predictions, GT, matches, counts), ``metrics.json`` (every number)
and ``report.md`` (the tables, with the paper's Table 5 beside ours on the released benchmark).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from verm_rl.eval.vc_rewardbench import (
    BENCH_CATEGORIES,
    PAPER_TABLE5,
    RELEASED_SIZE,
    BenchError,
    BenchItem,
    ItemScore,
    Matcher,
    MatchFailed,
    MatchResult,
    aggregate,
    bench_errors,
    predicted_errors,
    score_item,
)
from verm_rl.judge import JudgeBackend, JudgeRequest

log = logging.getLogger(__name__)


@dataclass
class ItemOutcome:
    """What happened to one record. status: scored | match_failed (left out of every aggregate) |
    skipped (bad input: missing image, nothing to score)."""

    id: str
    category: str
    status: str
    judge_status: str = ""
    preds: list[BenchError] = field(default_factory=list)
    gts: list[BenchError] = field(default_factory=list)
    match: MatchResult | None = None
    score: ItemScore | None = None
    reason: str = ""
    judge_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        out = {"id": self.id, "category": self.category, "status": self.status, "judge_status": self.judge_status,
               "reason": self.reason, "pred_errors": [asdict(e) for e in self.preds],
               "gt_errors": [asdict(e) for e in self.gts], "judge_seconds": round(self.judge_seconds, 4)}
        if self.match is not None:
            out["match"] = asdict(self.match)
        if self.score is not None:
            out["counts"] = asdict(self.score.counts)
            out["f1_hard"], out["f1_soft"] = self.score.f1_hard, self.score.f1_soft
            out["s_pred"], out["s_gt"] = self.score.s_pred, self.score.s_gt
        return out


def _read(path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError:
        return None


async def _predict(item: BenchItem, judge: JudgeBackend | None) -> tuple[list[BenchError] | None, str, str, float]:
    """(predicted errors or None when the item cannot be judged, judge status, reason, seconds)."""
    if judge is None:
        if not item.has_pred_json:
            return None, "", "no judge given and the record has no pred_json", 0.0
        preds = predicted_errors(item.category, item.pred_json)
        return preds, "precomputed" if item.pred_json is not None else "precomputed_null", "", 0.0
    ref, cand = _read(item.gt_img_path), _read(item.pred_img_path)
    if ref is None or cand is None:
        missing = item.gt_img_path if ref is None else item.pred_img_path
        return None, "", f"image not readable: {missing}", 0.0
    request = JudgeRequest(item.category, ref, cand, item.gt_source, item.pred_source)
    start = time.monotonic()
    (judgement,) = await judge.judge([request])
    seconds = time.monotonic() - start
    if not judgement.parse_ok:
        # the model under test gave nothing usable: scored as predicting no errors (released scorer)
        return [], judgement.status, judgement.raw[:300], seconds
    return bench_errors(item.category, judgement.errors), "ok", "", seconds


async def evaluate(items: list[BenchItem], judge: JudgeBackend | None, matcher: Matcher, concurrency: int = 16,
                   progress: bool = True) -> list[ItemOutcome]:
    """Judge (or read), match and count every item; never raises for a bad item."""
    from tqdm import tqdm

    sem = asyncio.Semaphore(max(1, concurrency))
    bar = tqdm(total=len(items), desc="eval-judge", disable=not progress)

    async def one(item: BenchItem) -> ItemOutcome:
        async with sem:
            try:
                gts = bench_errors(item.category, item.human_errors)
                preds, jstatus, reason, secs = await _predict(item, judge)
                if preds is None:
                    return ItemOutcome(item.id, item.category, "skipped", gts=gts, reason=reason)
                try:
                    match = await matcher.match(item.category, preds, gts)
                except MatchFailed as e:
                    return ItemOutcome(item.id, item.category, "match_failed", jstatus, preds, gts, reason=str(e),
                                       judge_seconds=secs)
                score = score_item(item.id, item.category, preds, gts, match)
                return ItemOutcome(item.id, item.category, "scored", jstatus, preds, gts, match, score, reason, secs)
            except Exception as e:  # noqa: BLE001 - a broken record or backend: reported, never fatal
                log.exception("eval-judge item %s failed", item.id)
                return ItemOutcome(item.id, item.category, "skipped", reason=f"error: {type(e).__name__}: {e}")
            finally:
                bar.update(1)

    outcomes = list(await asyncio.gather(*(one(i) for i in items)))
    bar.close()
    return outcomes


def summarize(outcomes: list[ItemOutcome], judge_name: str, matcher_name: str,
              skipped_records: list[tuple[str, str]] | None = None, released: bool = False) -> dict[str, Any]:
    """Every number of the run (what ``metrics.json`` holds)."""
    scored = [o.score for o in outcomes if o.status == "scored" and o.score is not None]
    metrics = aggregate(scored)
    statuses = Counter(o.status for o in outcomes)
    gt_totals: dict[str, Counter] = {c: Counter() for c in BENCH_CATEGORIES}
    pred_totals: dict[str, Counter] = {c: Counter() for c in BENCH_CATEGORIES}
    for o in outcomes:
        gt_totals[o.category].update(e.type for e in o.gts)
        pred_totals[o.category].update(e.type for e in o.preds)
    judged = [o for o in outcomes if o.judge_status]
    return {
        "judge": judge_name, "matcher": matcher_name, "released_benchmark": released,
        "items": len(outcomes), "scored": statuses["scored"], "match_failed": statuses["match_failed"],
        "skipped": statuses["skipped"] + len(skipped_records or []),
        "judge_status": dict(Counter(o.judge_status for o in judged)),
        "judge_seconds_mean": (sum(o.judge_seconds for o in judged) / len(judged)) if judged else 0.0,
        "failed_items": [o.id for o in outcomes if o.status == "match_failed"],
        "skipped_items": [(o.id, o.reason) for o in outcomes if o.status == "skipped"] + list(skipped_records or []),
        "gt_error_totals": {c: dict(v) for c, v in gt_totals.items() if v},
        "pred_error_totals": {c: dict(v) for c, v in pred_totals.items() if v},
        **metrics,
    }


def _num(x: float) -> str:
    return "nan" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.1f}"


def _cell(row: dict[str, Any] | None) -> str:
    return "—" if not row else f"{_num(row['f1_hard'])} / {_num(row['f1_soft'])} / {_num(row['sc'])}"


def format_report(summary: dict[str, Any], paper: bool = False) -> str:
    """Markdown tables: F1h / F1s / Sc per column (paper Table 5 layout), per category, per type."""
    cats = summary["categories"]
    lines = [f"judge: `{summary['judge']}` · matcher: {summary['matcher']} · items {summary['items']} "
             f"(scored {summary['scored']}, matcher failures {summary['match_failed']} left out, "
             f"skipped {summary['skipped']}) · judge answers: "
             + ", ".join(f"{k} {v}" for k, v in sorted(summary["judge_status"].items())), "",
             "F1h / F1s / Sc (×100; micro-pooled; AVG pools all items)", "",
             "| model | Chart | Table | SVG | AVG |", "|---|---|---|---|---|"]
    if paper:
        for name, row in PAPER_TABLE5.items():
            lines.append(f"| {name} (paper) | " + " | ".join(
                "{:.1f} / {:.1f} / {:.1f}".format(*row[c]) for c in (*BENCH_CATEGORIES, "avg")) + " |")
    lines.append(f"| **{summary['judge']}** (this run) | " + " | ".join(
        _cell(cats.get(c)) for c in BENCH_CATEGORIES) + f" | {_cell(summary['avg'])} |")
    lines += ["", "| column | items | TP hard | TP soft | FP | FN | F1h | F1s | Sc | mean item F1h |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for name, row in [*cats.items(), ("avg", summary["avg"])]:
        lines.append(f"| {name} | {row['items']} | {row['hard_tp']:g} | {row['soft_tp']:g} | {row['fp']:g} | "
                     f"{row['fn']:g} | {_num(row['f1_hard'])} | {_num(row['f1_soft'])} | {_num(row['sc'])} | "
                     f"{_num(row['mean_item_f1_hard'])} |")
    lines += ["", "Per error type (TP/FP by the predicted type, FN by the GT type; Sc on per-type Σseverity):", "",
              "| column | type | GT errors | predicted | TP hard | FP | FN | F1h | F1s | Sc |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for col, types in summary["per_type"].items():
        gt = summary["gt_error_totals"].get(col, {})
        pr = summary["pred_error_totals"].get(col, {})
        if col == "avg":
            gt = sum((Counter(v) for v in summary["gt_error_totals"].values()), Counter())
            pr = sum((Counter(v) for v in summary["pred_error_totals"].values()), Counter())
        for kind, row in types.items():
            sc = _num(row["sc"]) if "sc" in row else "—"
            lines.append(f"| {col} | {kind} | {gt.get(kind, 0)} | {pr.get(kind, 0)} | {row['hard_tp']:g} | "
                         f"{row['fp']:g} | {row['fn']:g} | {_num(row['f1_hard'])} | {_num(row['f1_soft'])} | {sc} |")
    return "\n".join(lines) + "\n"


def looks_released(path: Path, items: list[BenchItem]) -> bool:
    """The released benchmark (or a subset of it): records without programs (our synthetic export
    carries gt_source) in a file named like VC-RewardBench, or exactly its 1,335 items."""
    if any(i.gt_source for i in items):
        return False
    name = path.name.lower().replace("-", "").replace("_", "")
    return "vcrewardbench" in name or len(items) == RELEASED_SIZE


def _json_safe(value: Any) -> Any:
    """NaN (an undefined Pearson) → null, so metrics.json is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def write_outputs(out: Path, outcomes: list[ItemOutcome], summary: dict[str, Any], paper: bool) -> str:
    out.mkdir(parents=True, exist_ok=True)
    with (out / "items.jsonl").open("w") as f:
        for o in outcomes:
            f.write(json.dumps(o.to_dict(), ensure_ascii=False, default=str) + "\n")
    (out / "metrics.json").write_text(json.dumps(_json_safe(summary), indent=2, default=str))
    report = format_report(summary, paper)
    (out / "report.md").write_text(report)
    return report


def build_matcher(spec: str, model: str | None = None, api_key: str | None = None, **kwargs: Any) -> Matcher:
    """``deterministic`` or an OpenAI-compatible endpoint (``http://host:port/v1``) for the LLM matcher."""
    from verm_rl.eval.vc_rewardbench import DeterministicMatcher, LLMMatcher

    if spec == "deterministic":
        return DeterministicMatcher()
    if spec.startswith(("http://", "https://")):
        return LLMMatcher(spec, model=model, api_key=api_key, **kwargs)
    raise ValueError(f"matcher {spec!r}: 'deterministic' or an http(s):// endpoint of an LLM")


async def run_eval_judge(data: str | Path, out: str | Path, judge_spec: str | None = None,
                         matcher_spec: str = "deterministic", matcher_model: str | None = None,
                         matcher_api_key: str | None = None, judge_options: dict[str, Any] | None = None,
                         image_root: str | None = None, limit: int | None = None,
                         categories: tuple[str, ...] = BENCH_CATEGORIES, concurrency: int = 16,
                         paper: bool | None = None, render_workers: int | None = None,
                         progress: bool = True, matcher_options: dict[str, Any] | None = None
                         ) -> tuple[dict[str, Any], str]:
    """Read, judge, match, score, write; returns (metrics, report markdown)."""
    from verm_rl.eval.backends import build_judge_backend, judge_kind

    data = Path(data)
    items, skipped = read_records_limited(data, image_root, limit, categories)
    released = looks_released(data, items) if paper is None else paper
    pool = judge = None
    judge_name = "precomputed pred_json"
    if judge_spec:
        kind = judge_kind(judge_spec)
        judge_name = judge_spec
        if kind == "structural":
            no_source = [i for i in items if not (i.gt_source and i.pred_source)]
            if len(no_source) == len(items):
                raise ValueError("the structural judge compares programs: these records carry no gt_source/"
                                 "pred_source (the released benchmark has images only); use an image judge")
            skipped += [(i.id, "structural judge: the record has no gt_source/pred_source") for i in no_source]
            items = [i for i in items if i.gt_source and i.pred_source]
            from verm_rl.render.local_pool import LocalRenderPool

            pool = LocalRenderPool(render_workers)
        judge = build_judge_backend(judge_spec, render=pool.render if pool else None, **(judge_options or {}))
    matcher = build_matcher(matcher_spec, matcher_model, matcher_api_key,
                            **(matcher_options if matcher_spec != "deterministic" and matcher_options else {}))
    try:
        outcomes = await evaluate(items, judge, matcher, concurrency, progress)
    finally:
        if judge is not None:
            await judge.close()
        await matcher.close()
        if pool is not None:
            pool.close()
    summary = summarize(outcomes, judge_name, getattr(matcher, "description", matcher.name), skipped, released)
    summary["data"] = str(data)
    report = write_outputs(Path(out), outcomes, summary, released)
    return summary, report


def read_records_limited(data: Path, image_root: str | None, limit: int | None,
                         categories: tuple[str, ...]) -> tuple[list[BenchItem], list[tuple[str, str]]]:
    from verm_rl.eval.vc_rewardbench import read_records

    items, skipped = read_records(data, image_root)
    items = [i for i in items if i.category in categories]
    if limit:
        # the first ``limit`` items of each category, so a quick run still covers every column
        per: Counter = Counter()
        kept = []
        for i in items:
            if per[i.category] < limit:
                kept.append(i)
                per[i.category] += 1
        items = kept
    return items, skipped
