"""One scored sample as flat scalars: the one flattener every consumer reads.

verl stacks each key of ``reward_extra_info`` into an array, so every sample carries the same keys
(``ROW_KEYS``) with scalar values; the metrics aggregator (``verm_rl.reward.metrics``), the
trainer's batch-max re-normalisation, the sample folders and ``score()``'s details all read these rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from verm_rl.tasks import CATEGORIES, OTHER_CATEGORY

if TYPE_CHECKING:
    from verm_rl.reward.pipeline import ScoredSample

BASE_KEYS = ("task", "status", "render_ok", "render_error", "render_reward", "verm_reward", "severity",
             "severity_judged", "norm", "format", "judge_status", "parse_ok", "judge_seconds", "render_seconds",
             "dedup_hit", "fallback_used", "sample_id", "sample_dir")


def all_categories() -> list[str]:
    """Every registered task's categories and ``other``, sorted; read from the registry at each call, so a
    task registered after this module was imported has its ``sev_``/``n_`` columns too."""
    return sorted({c for cats in CATEGORIES.values() for c in cats} | {OTHER_CATEGORY})


def row_keys() -> tuple[str, ...]:
    return BASE_KEYS + tuple(f"sev_{c}" for c in all_categories()) + tuple(f"n_{c}" for c in all_categories())


class _RowKeys(Sequence[str]):
    """``row_keys()`` as a live read-only sequence (the same keys for every sample of a batch)."""

    def __getitem__(self, i: Any) -> Any:
        return row_keys()[i]

    def __len__(self) -> int:
        return len(row_keys())

    def __iter__(self) -> Iterator[str]:
        return iter(row_keys())

    def __repr__(self) -> str:
        return repr(row_keys())


ROW_KEYS: Sequence[str] = _RowKeys()
STRING_KEYS = ("task", "status", "render_error", "judge_status", "sample_id", "sample_dir")


def sample_row(sample: ScoredSample, sample_id: str = "", sample_dir: str = "") -> dict[str, Any]:
    """``ROW_KEYS`` of one sample. ``severity``, ``severity_judged``, ``render_reward``, ``format`` and
    ``fallback_used`` are what re-applying the batch-max normaliser over a whole step needs (paper Eq. 4);
    ``judge_seconds`` of a de-duplicated sample is the call it shared (see ``metrics.judge_latencies``)."""
    r, j = sample.reward, sample.judgement
    row: dict[str, Any] = {
        "task": r.task, "status": r.status, "render_ok": int(sample.render.ok),
        "render_error": sample.render.error_kind or "", "render_reward": float(r.render),
        "verm_reward": float(r.verm), "severity": int(r.severity),
        "severity_judged": int(r.status == "ok" and r.norm is not None), "norm": float(r.norm or 0.0),
        "format": float(r.format),
        "judge_status": j.status if j is not None else "not_judged", "parse_ok": int(j is not None and j.parse_ok),
        "judge_seconds": float(j.seconds) if j is not None else 0.0, "render_seconds": float(sample.render.seconds),
        "dedup_hit": int(sample.dedup_hit), "fallback_used": int(r.fallback_used), "sample_id": sample_id,
        "sample_dir": sample_dir,
    }
    for c in all_categories():
        row[f"sev_{c}"] = int(r.severity_by_category.get(c, 0))
        row[f"n_{c}"] = int(r.count_by_category.get(c, 0))
    return row


def empty_row(status: str, task: str = "") -> dict[str, Any]:
    """``ROW_KEYS`` for a sample that could not even be read (scored 0 with ``status``)."""
    row: dict[str, Any] = {k: "" if k in STRING_KEYS else 0 for k in row_keys()}
    row.update(status=status, task=task)
    return row


def sample_detail(sample: ScoredSample, sample_id: str = "", sample_dir: str = "") -> dict[str, Any]:
    """The row plus what a person reads: the reward ``total``, the judge's ``errors`` and its ``notes``."""
    j = sample.judgement
    return {**sample_row(sample, sample_id, sample_dir), "total": float(sample.reward.total),
            "errors": [asdict(e) for e in j.errors] if j is not None else [],
            "judge_notes": list(j.notes) if j is not None else []}


def columns(rows: Iterable[Mapping[str, Any] | None]) -> dict[str, list]:
    """Rows to columns over the union of their keys (``None`` where a row lacks a key, or is ``None``)."""
    rows = [r or {} for r in rows]
    keys = sorted({k for r in rows for k in r})
    out: dict[str, list] = defaultdict(list)
    for r in rows:
        for k in keys:
            out[k].append(r.get(k))
    return dict(out)
