"""VC-RewardBench metrics (F1h, F1s, Sc), error matchers and record readers.

Definitions from the released scorer as restated in ``shared/reference/evaluation.md`` §1
(Visual-ERM paper §3.4, App. C.3, Table 5):

- Errors are filtered per category to the allowed types (``CATEGORY_ERROR_TYPES``); an error's type
  is read from ``type``, else ``category``, on both sides (predictions and ``human_errors``).
- A matcher pairs predicted and GT errors of one item: ``yes`` (full) or ``partial``; strictly 1-to-1.
  FP = |unmatched_pred|, FN = |unmatched_gt|. hard TP = #yes (a partial pair counts nowhere in F1h);
  soft TP = #yes + 0.5·#partial.
- F1h / F1s are micro-F1 over the TP/FP/FN *summed* over the items of a category; the AVG column
  pools all items of all categories (not the mean of the three). P = TP/(TP+FP), R = TP/(TP+FN),
  F1 = 2PR/(P+R), every 0/0 → 0 — except that hard F1 of all-zero counts (TP = FP = FN = 0) is 1,
  per item and for a pool whose sums are all zero (the released hard-F1 helper); soft F1 has no such rule.
- Sc = Pearson r × 100 between the per-item Σseverity of the (filtered) predictions and of the GT;
  NaN when n < 2 or either side is constant. Severities are cast to float, non-numbers count 0.
- A matcher that cannot answer for an item drops the item from every aggregate (``failed``);
  a judge under test that gave no parseable answer counts as predicting no errors.

Matchers: ``LLMMatcher`` (the paper's protocol: one text-only call per item to an OpenAI-compatible
endpoint; ``location`` is not sent; the answer is cleaned as the released code does — levels yes /
partial, integer ids in range, greedy 1-to-1 in list order, no type re-check, the judge's own
non-empty unmatched lists used verbatim) and ``DeterministicMatcher`` (offline: same type, then
description/location similarity by rapidfuzz, optimal 1-to-1 assignment).
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from verm_rl.tasks import get_task

log = logging.getLogger(__name__)

BENCH_CATEGORIES = ("chart", "table", "svg")  # the benchmark's three categories, each one of our tasks
# the error types each category is scored on: the task's judge taxonomy (4 SVG types: other_error is dropped)
CATEGORY_ERROR_TYPES: dict[str, tuple[str, ...]] = {c: get_task(c).categories for c in BENCH_CATEGORIES}

# Paper Table 5 (F1h, F1s, Sc ×100) per column; "*" of the SVG Gemini-3-Flash F1s kept as printed.
PAPER_TABLE5: dict[str, dict[str, tuple[float, float, float]]] = {
    "GPT-4o": {"chart": (22.8, 28.3, 48.5), "table": (32.9, 35.7, 49.5), "svg": (13.0, 19.3, 50.3),
               "avg": (25.0, 29.5, 56.5)},
    "GPT-5.2": {"chart": (30.1, 32.6, 64.8), "table": (39.3, 40.6, 54.6), "svg": (28.5, 32.2, 61.1),
                "avg": (32.7, 35.0, 58.9)},
    "Gemini-2.5-Pro": {"chart": (33.7, 37.5, 61.8), "table": (46.4, 48.0, 49.9), "svg": (29.3, 34.3, 63.3),
                       "avg": (37.8, 40.9, 59.1)},
    "Gemini-3-Flash": {"chart": (38.5, 41.3, 62.8), "table": (48.1, 50.1, 45.6), "svg": (33.3, 67.5, 64.3),
                       "avg": (40.6, 43.4, 53.4)},
    "Qwen2.5-VL-7B": {"chart": (3.9, 5.4, 11.2), "table": (2.3, 3.1, 12.6), "svg": (1.9, 7.5, 37.9),
                      "avg": (2.8, 5.1, 15.2)},
    "InternVL3.5-8B": {"chart": (2.5, 5.7, 11.0), "table": (9.9, 10.9, 31.7), "svg": (6.1, 13.1, 48.9),
                       "avg": (6.7, 9.6, 32.5)},
    "Qwen3-VL-8B-Instruct": {"chart": (3.3, 3.5, 3.8), "table": (7.0, 7.8, 21.4), "svg": (6.1, 9.4, 27.1),
                             "avg": (5.3, 6.5, 17.5)},
    "Qwen3-VL-235B-Instruct": {"chart": (28.0, 31.8, 47.2), "table": (35.7, 37.4, 56.2), "svg": (19.4, 22.8, 51.5),
                               "avg": (29.5, 32.4, 56.2)},
    "Visual-ERM (8B)": {"chart": (39.9, 42.8, 61.2), "table": (56.4, 57.6, 74.8), "svg": (28.3, 32.6, 59.6),
                        "avg": (42.1, 44.7, 58.4)},
}
RELEASED_SIZE = 1335  # chart 595, svg 442, table 298


# --------------------------------------------------------------------------------------------- errors

@dataclass
class BenchError:
    """One error as the scorer sees it: type (e.g. ``data_error``), severity (float), description;
    ``location`` is kept for the deterministic matcher and reports (the LLM matcher never sees it)."""

    type: str
    severity: float
    description: str = ""
    location: str = ""


def error_type(error: Any) -> str:
    """The error's type: ``type``, else ``category`` (dicts or objects such as ``JudgedError``)."""
    if isinstance(error, dict):
        value = error.get("type") or error.get("category")
    else:
        value = getattr(error, "type", None) or getattr(error, "category", None)
    return value if isinstance(value, str) else ""


def severity_value(value: Any) -> float:
    """Severity as a float; anything non-numeric (or NaN/inf) counts 0, as the released scorer."""
    if isinstance(value, bool):
        return 0.0
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return number if math.isfinite(number) else 0.0


def bench_errors(category: str, errors: Iterable[Any] | None) -> list[BenchError]:
    """Errors of an item (dicts from JSON or ``JudgedError``s) that the scorer keeps: allowed types only."""
    allowed = CATEGORY_ERROR_TYPES.get(category, ())
    out = []
    for e in errors or []:
        if not isinstance(e, dict) and not hasattr(e, "severity"):
            continue
        kind = error_type(e)
        if kind not in allowed:
            continue
        get = e.get if isinstance(e, dict) else (lambda k, d=None, _e=e: getattr(_e, k, d))
        desc, loc = (get(k, "") for k in ("description", "location"))
        out.append(BenchError(kind, severity_value(get("severity")), _text(desc), _text(loc)))
    return out


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ("" if value is None else json.dumps(value, ensure_ascii=False))


def predicted_errors(category: str, pred_json: Any) -> list[BenchError]:
    """Predictions from a model-under-test answer (``pred_json``); ``None`` or no list = no errors."""
    if isinstance(pred_json, dict):
        errors = pred_json.get("errors")
    elif isinstance(pred_json, list):
        errors = pred_json
    else:
        errors = None
    return bench_errors(category, errors if isinstance(errors, list) else [])


# ------------------------------------------------------------------------------------------- matching

@dataclass
class MatchResult:
    """A matcher's verdict on one item (ids are positions in the filtered lists)."""

    matches: list[tuple[int, int, str]] = field(default_factory=list)  # (pred_id, gt_id, "yes"|"partial")
    unmatched_pred: list[Any] = field(default_factory=list)
    unmatched_gt: list[Any] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class MatchFailed(Exception):
    """The matcher gave no usable answer for an item: the item leaves every aggregate."""


class Matcher(Protocol):
    name: str

    async def match(self, category: str, preds: list[BenchError], gts: list[BenchError]) -> MatchResult:
        """Raises ``MatchFailed`` when it cannot answer."""
        ...


_YES = {"yes", "full", "exact", "match", "matched", "true", "y"}


def match_level(value: Any) -> str | None:
    """``yes`` / ``partial`` / None (a "no" or anything else) from a judge's ``match_level``."""
    if not isinstance(value, str):
        return None
    text = value.strip().lower().strip("\"'.")
    if text in _YES:
        return "yes"
    if text.startswith("partial"):
        return "partial"
    return None


def _as_id(value: Any, n: int) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    return value if isinstance(value, int) and 0 <= value < n else None


def clean_matches(raw: Any, n_pred: int, n_gt: int) -> list[tuple[int, int, str]]:
    """The released post-cleaning, in order: levels yes/partial only, integer ids in range, then
    greedy 1-to-1 in list order (the first use of a pred_id or gt_id wins). Types are not re-checked."""
    out: list[tuple[int, int, str]] = []
    used_p: set[int] = set()
    used_g: set[int] = set()
    for m in raw if isinstance(raw, list) else []:
        if not isinstance(m, dict):
            continue
        level = match_level(m.get("match_level"))
        p, g = _as_id(m.get("pred_id"), n_pred), _as_id(m.get("gt_id"), n_gt)
        if level is None or p is None or g is None or p in used_p or g in used_g:
            continue
        used_p.add(p)
        used_g.add(g)
        out.append((p, g, level))
    return out


def match_result_from_answer(obj: Any, n_pred: int, n_gt: int) -> MatchResult:
    """Cleaned matches plus the unmatched lists: the judge's own list verbatim when non-empty (it is
    not reconciled with the matches), else all ids minus the matched ones."""
    if not isinstance(obj, dict):
        raise MatchFailed("the matcher's answer is not a JSON object")
    matches = clean_matches(obj.get("matches"), n_pred, n_gt)
    notes = []
    un_p, un_g = obj.get("unmatched_pred"), obj.get("unmatched_gt")
    if isinstance(un_p, list) and un_p:
        notes.append("unmatched_pred_verbatim")
    else:
        un_p = [i for i in range(n_pred) if i not in {p for p, _, _ in matches}]
    if isinstance(un_g, list) and un_g:
        notes.append("unmatched_gt_verbatim")
    else:
        un_g = [i for i in range(n_gt) if i not in {g for _, g, _ in matches}]
    return MatchResult(matches, list(un_p), list(un_g), notes)


def _empty_side(preds: Sequence[BenchError], gts: Sequence[BenchError]) -> MatchResult:
    return MatchResult([], list(range(len(preds))), list(range(len(gts))), ["no_call_one_side_empty"])


_FENCE = re.compile(r"^\s*```[A-Za-z]*\s*\n?(.*?)\n?```\s*$", re.DOTALL)
_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


def parse_matcher_answer(text: str) -> Any:
    """The released parsing: strip a code fence, ``json.loads``, else the outermost ``{…}``."""
    if not isinstance(text, str) or not text.strip():
        raise MatchFailed("empty answer")
    body = text.strip()
    m = _FENCE.match(body)
    if m:
        body = m.group(1)
    try:
        return json.loads(body)
    except ValueError:
        pass
    m = _OBJECT.search(body)
    if m:
        try:
            return json.loads(m.group(0))
        except ValueError:
            pass
    raise MatchFailed(f"unparseable answer: {text[:200]!r}")


MATCH_PROMPT = """You are a strict evaluator who aligns two lists of visual errors found between a reference \
image and a generated image ({category}). PRED is what a model under test reported; GT is the human-verified \
list. Decide which PRED errors correspond to which GT errors.

Rules:
1. Only pair errors of the same type.
2. A pair must describe the same concrete error point (the same element, cell, object or region) with the same \
or a closely consistent phenomenon.
3. If a PRED error is more general than its GT error but clearly points at the same error, use \
"match_level": "partial". Otherwise use "yes" for a clear match; pairs that do not match are left out.
4. Strictly one-to-one: each pred_id and each gt_id appears in at most one match.
5. When unsure, leave errors unmatched rather than force a wrong match.

PRED:
{pred}

GT:
{gt}

Answer with a single JSON object and nothing else:
{{"matches": [{{"pred_id": 0, "gt_id": 0, "match_level": "yes"}}], "unmatched_pred": [...], \
"unmatched_gt": [...], "notes": "..."}}"""


def matcher_prompt(category: str, preds: Sequence[BenchError], gts: Sequence[BenchError]) -> str:
    """The text sent to the LLM matcher: numbered lists of {id, type, description, severity} (no location)."""
    def rows(errors: Sequence[BenchError], key: str) -> str:
        return json.dumps([{key: i, "type": e.type, "description": e.description, "severity": e.severity}
                           for i, e in enumerate(errors)], ensure_ascii=False, indent=1)

    return MATCH_PROMPT.format(category=category, pred=rows(preds, "pred_id"), gt=rows(gts, "gt_id"))


class LLMMatcher:
    """The paper's matcher: an LLM behind an OpenAI-compatible endpoint, one text-only call per item.

    Items where one side is empty are not sent (the outcome cannot differ: every error is unmatched).
    Failed calls and unparseable answers raise ``MatchFailed`` and are counted in ``failures``.
    """

    name = "llm"

    def __init__(self, endpoint: str, model: str | None = None, api_key: str | None = None,
                 max_tokens: int = 8192, temperature: float | None = None, max_concurrency: int = 32,
                 timeout_s: float = 300.0, retries: int = 3, token_param: str = "max_tokens"):
        """``temperature`` None: not sent (the paper ran gpt-5-mini at its default). ``token_param``:
        ``max_completion_tokens`` for OpenAI reasoning models, which refuse ``max_tokens``."""
        from verm_rl.policy import HttpPolicy

        self.client = HttpPolicy(endpoint, model=model, api_key=api_key, max_concurrency=max_concurrency,
                                 timeout_s=timeout_s, retries=retries)
        self.max_tokens, self.temperature, self.token_param = max_tokens, temperature, token_param
        self.calls = 0
        self.failures = 0

    @property
    def description(self) -> str:
        return f"llm ({self.client.model or 'served model'} at {', '.join(self.client.transport.urls)})"

    async def match(self, category: str, preds: list[BenchError], gts: list[BenchError]) -> MatchResult:
        if not preds or not gts:
            return _empty_side(preds, gts)
        from verm_rl.policy import PolicyRequest

        request = PolicyRequest([], [{"role": "system", "content": "You are a helpful assistant."},
                                     {"role": "user", "content": matcher_prompt(category, preds, gts)}],
                                max_tokens=self.max_tokens if self.token_param == "max_tokens" else None,
                                temperature=self.temperature, top_p=None,
                                extra={} if self.token_param == "max_tokens" else {self.token_param: self.max_tokens})
        self.calls += 1
        (text,) = await self.client.generate([request])
        try:
            return match_result_from_answer(parse_matcher_answer(text), len(preds), len(gts))
        except MatchFailed:
            self.failures += 1
            raise

    async def close(self) -> None:
        await self.client.close()


class DeterministicMatcher:
    """Offline matcher: only errors of the same type pair up; similarity = rapidfuzz
    ``token_set_ratio`` of the descriptions, averaged with that of the locations when both sides have
    one; an optimal 1-to-1 assignment per type (Hungarian); ≥ ``yes_at`` → yes, ≥ ``partial_at`` →
    partial, else unmatched. Deterministic, so its F1 is comparable across judges and runs (unlike an
    LLM matcher) but reads wording, not meaning: use it to compare judges, the LLM one for the paper."""

    name = "deterministic"

    def __init__(self, yes_at: float = 0.6, partial_at: float = 0.35, location_weight: float = 0.5):
        if not 0 <= partial_at <= yes_at <= 1:
            raise ValueError("need 0 <= partial_at <= yes_at <= 1")
        self.yes_at, self.partial_at, self.location_weight = yes_at, partial_at, location_weight

    @property
    def description(self) -> str:
        return f"deterministic (same type, rapidfuzz similarity: yes >= {self.yes_at}, partial >= {self.partial_at})"

    def similarity(self, a: BenchError, b: BenchError) -> float:
        from rapidfuzz import fuzz, utils

        desc = fuzz.token_set_ratio(a.description, b.description, processor=utils.default_process) / 100
        if a.location.strip() and b.location.strip():
            loc = fuzz.token_set_ratio(a.location, b.location, processor=utils.default_process) / 100
            return (1 - self.location_weight) * desc + self.location_weight * loc
        return desc

    def match_sync(self, preds: Sequence[BenchError], gts: Sequence[BenchError]) -> MatchResult:
        import numpy as np
        from scipy.optimize import linear_sum_assignment

        matches: list[tuple[int, int, str]] = []
        for kind in sorted({e.type for e in preds} & {e.type for e in gts}):
            pi = [i for i, e in enumerate(preds) if e.type == kind]
            gi = [j for j, e in enumerate(gts) if e.type == kind]
            sim = np.array([[self.similarity(preds[i], gts[j]) for j in gi] for i in pi])
            rows, cols = linear_sum_assignment(sim, maximize=True)
            for r, c in zip(rows, cols, strict=True):
                if sim[r, c] >= self.yes_at:
                    matches.append((pi[r], gi[c], "yes"))
                elif sim[r, c] >= self.partial_at:
                    matches.append((pi[r], gi[c], "partial"))
        matches.sort()
        used_p, used_g = {p for p, _, _ in matches}, {g for _, g, _ in matches}
        return MatchResult(matches, [i for i in range(len(preds)) if i not in used_p],
                           [j for j in range(len(gts)) if j not in used_g])

    async def match(self, category: str, preds: list[BenchError], gts: list[BenchError]) -> MatchResult:
        return self.match_sync(preds, gts)

    async def close(self) -> None:
        pass


# -------------------------------------------------------------------------------------------- metrics

def f1(tp: float, fp: float, fn: float, empty_is_one: bool = False) -> float:
    """F1 from counts; 0/0 → 0, except ``empty_is_one`` (the per-item hard F1: nothing vs nothing = 1)."""
    if empty_is_one and tp == 0 and fp == 0 and fn == 0:
        return 1.0
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return 2 * p * r / (p + r) if p + r else 0.0


def pearson(x: Sequence[float], y: Sequence[float]) -> float:
    """Pearson r; NaN when n < 2 or either side has zero variance."""
    n = len(x)
    if n < 2 or n != len(y):
        return float("nan")
    mx, my = sum(x) / n, sum(y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    if sxx == 0 or syy == 0:
        return float("nan")
    return sxy / math.sqrt(sxx * syy)


@dataclass
class Counts:
    hard_tp: float = 0.0
    soft_tp: float = 0.0
    fp: float = 0.0
    fn: float = 0.0

    def add(self, other: Counts) -> None:
        self.hard_tp += other.hard_tp
        self.soft_tp += other.soft_tp
        self.fp += other.fp
        self.fn += other.fn

    def f1_hard(self) -> float:
        # the released hard-F1 helper, applied to pooled sums too: all-zero counts give 1.0
        return f1(self.hard_tp, self.fp, self.fn, empty_is_one=True)

    def f1_soft(self) -> float:
        return f1(self.soft_tp, self.fp, self.fn)


@dataclass
class ItemScore:
    """One item's counts (totals and per type) and severity sums."""

    id: str
    category: str
    counts: Counts
    per_type: dict[str, Counts]
    s_pred: float
    s_gt: float
    sev_pred_by_type: dict[str, float]
    sev_gt_by_type: dict[str, float]
    n_pred: int
    n_gt: int

    @property
    def f1_hard(self) -> float:
        return self.counts.f1_hard()

    @property
    def f1_soft(self) -> float:
        return self.counts.f1_soft()


def score_item(item_id: str, category: str, preds: Sequence[BenchError], gts: Sequence[BenchError],
               match: MatchResult) -> ItemScore:
    """Counts of one item. TP and FP are attributed to the pred's type, FN to the GT's type; an
    id in a verbatim unmatched list that names no error counts in the totals under ``unknown``."""
    per_type: dict[str, Counts] = defaultdict(Counts)
    total = Counts()
    for p, _, level in match.matches:
        hard, soft = (1.0, 1.0) if level == "yes" else (0.0, 0.5)
        per_type[preds[p].type].hard_tp += hard
        per_type[preds[p].type].soft_tp += soft
        total.hard_tp += hard
        total.soft_tp += soft
    for pid in match.unmatched_pred:
        i = _as_id(pid, len(preds))
        per_type[preds[i].type if i is not None else "unknown"].fp += 1
        total.fp += 1
    for gid in match.unmatched_gt:
        j = _as_id(gid, len(gts))
        per_type[gts[j].type if j is not None else "unknown"].fn += 1
        total.fn += 1
    sev_p: dict[str, float] = defaultdict(float)
    sev_g: dict[str, float] = defaultdict(float)
    for e in preds:
        sev_p[e.type] += e.severity
    for e in gts:
        sev_g[e.type] += e.severity
    return ItemScore(item_id, category, total, dict(per_type), sum(e.severity for e in preds),
                     sum(e.severity for e in gts), dict(sev_p), dict(sev_g), len(preds), len(gts))


def _pool(items: Sequence[ItemScore]) -> dict[str, Any]:
    c = Counts()
    for it in items:
        c.add(it.counts)
    sc = pearson([it.s_pred for it in items], [it.s_gt for it in items])
    return {"f1_hard": c.f1_hard() * 100, "f1_soft": c.f1_soft() * 100, "sc": sc * 100, "items": len(items),
            "hard_tp": c.hard_tp, "soft_tp": c.soft_tp, "fp": c.fp, "fn": c.fn,
            "mean_item_f1_hard": (sum(it.f1_hard for it in items) / len(items) * 100) if items else float("nan")}


def _per_type(items: Sequence[ItemScore], with_pearson: bool) -> dict[str, dict[str, Any]]:
    pooled: dict[str, Counts] = defaultdict(Counts)
    for it in items:
        for kind, c in it.per_type.items():
            pooled[kind].add(c)
    out = {}
    for kind, c in sorted(pooled.items()):
        row: dict[str, Any] = {"f1_hard": c.f1_hard() * 100, "f1_soft": c.f1_soft() * 100, **asdict(c)}
        if with_pearson:
            row["sc"] = pearson([it.sev_pred_by_type.get(kind, 0.0) for it in items],
                                [it.sev_gt_by_type.get(kind, 0.0) for it in items]) * 100
        out[kind] = row
    return out


def aggregate(items: Sequence[ItemScore]) -> dict[str, Any]:
    """Micro-pooled F1h/F1s and Sc per category and over all items (``avg``), ×100, plus per-type
    tables (per category with per-type Pearson; overall pooled by type name across categories)."""
    out: dict[str, Any] = {"categories": {}, "per_type": {}}
    for cat in BENCH_CATEGORIES:
        sel = [it for it in items if it.category == cat]
        if sel:
            out["categories"][cat] = _pool(sel)
            out["per_type"][cat] = _per_type(sel, with_pearson=True)
    out["avg"] = _pool(list(items))
    out["per_type"]["avg"] = _per_type(items, with_pearson=False)
    return out


def score_lists(pairs: Iterable[tuple[str, Sequence[Any], Sequence[Any]]],
                matcher: DeterministicMatcher | None = None) -> dict[str, Any]:
    """F1h/F1s/Sc (×100) for (category, predicted errors, GT errors) triples, matched offline.

    Errors may be dicts (``type``/``category``, ``severity``, ``description``, ``location``) or
    ``JudgedError``s; unknown types are dropped as the benchmark does. For code that wants the
    benchmark's numbers on its own lists (e.g. judge-vs-label agreement) without a server.
    """
    matcher = matcher or DeterministicMatcher()
    scored = []
    for n, (category, pred, gt) in enumerate(pairs):
        p, g = bench_errors(category, pred), bench_errors(category, gt)
        scored.append(score_item(str(n), category, p, g, matcher.match_sync(p, g)))
    return {**aggregate(scored), "matcher": matcher.name}


# -------------------------------------------------------------------------------------------- records

@dataclass
class BenchItem:
    """One VC-RewardBench record (released file or ``verm-rl synth`` export)."""

    id: str
    category: str
    gt_img_path: Path | None
    pred_img_path: Path | None
    human_errors: list[Any]
    gt_source: str | None = None
    pred_source: str | None = None
    pred_json: Any = None  # a precomputed answer of the model under test (api_judge results)
    has_pred_json: bool = False


def _resolve(path: Any, root: Path) -> Path | None:
    if not isinstance(path, str) or not path:
        return None
    p = Path(path).expanduser()
    return p if p.is_absolute() else root / p


def read_records(path: str | Path, image_root: str | Path | None = None
                 ) -> tuple[list[BenchItem], list[tuple[str, str]]]:
    """Items of a VC-RewardBench file: JSONL (one record a line) or a JSON array (api_judge's
    ``results.json``). Image paths are relative to ``image_root`` (default: the file's folder).
    Returns (items, skipped) where skipped lists (record, reason) for unreadable lines and categories
    other than chart/table/svg (ignored by the scorer)."""
    path = Path(path)
    root = Path(image_root) if image_root else path.parent
    text = path.read_text()
    skipped: list[tuple[str, str]] = []
    records: list[tuple[str, Any]] = []
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            records = [(f"{path.name}[{i}]", r) for i, r in enumerate(json.loads(text))]
        except ValueError as e:
            raise ValueError(f"{path}: not a JSON array: {e}") from None
    else:
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                records.append((f"{path.name}:{n}", json.loads(line)))
            except ValueError as e:
                skipped.append((f"{path.name}:{n}", f"bad JSON: {e}"))
    items = []
    for where, rec in records:
        if not isinstance(rec, dict):
            skipped.append((where, "not a JSON object"))
            continue
        category = rec.get("category")
        if category not in BENCH_CATEGORIES:
            skipped.append((where, f"category {category!r} is not chart/table/svg"))
            continue
        item_id = rec.get("id", rec.get("idx", where))
        errors = rec.get("human_errors")
        if isinstance(errors, str):  # some exports keep nested lists as JSON strings
            try:
                errors = json.loads(errors)
            except ValueError:
                skipped.append((where, "human_errors is a string that is not JSON"))
                continue
        items.append(BenchItem(
            id=str(item_id), category=category, gt_img_path=_resolve(rec.get("gt_img_path"), root),
            pred_img_path=_resolve(rec.get("pred_img_path"), root),
            human_errors=errors if isinstance(errors, list) else [],
            gt_source=rec.get("gt_source"), pred_source=rec.get("pred_source"),
            pred_json=rec.get("pred_json"), has_pred_json="pred_json" in rec))
    return items, skipped
