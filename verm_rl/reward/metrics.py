"""Reward metrics of a batch (a pipeline call, a training step), per task and over all tasks.

The one aggregator: ``RewardPipeline.score`` (``PipelineResult.metrics``), the trainer's step hook and
the CPU job all call ``reward_metrics`` on rows from ``verm_rl.reward.record`` (columns of
``reward_extra_info`` in verl), so a number means the same wherever it is logged.

Judge latency (``judge_latency/{mean,p50,p95}``): the seconds of each judge call that came back with an
answer (judge status ``ok`` or ``parse_failed``), once per call. Left out: samples never judged (no code,
failed render), de-duplication hits (they reuse another sample's verdict and make no call: counting them
again would weight a latency by how often its pair repeats), and failed calls (counted in
``judge_failure_rate``; their timeouts are not the judge's speed). 0 when the batch made no call.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

ANSWERED = ("ok", "parse_failed")  # judge statuses of a call that returned an answer


def _floats(values: Iterable[Any]) -> list[float]:
    return [float(v) for v in values if isinstance(v, (int, float, np.number)) and not isinstance(v, bool)]


def _mean(values: Iterable[Any]) -> float:
    nums = _floats(values)
    return float(np.mean(nums)) if nums else 0.0


def _percentiles(values: list[float], name: str) -> dict[str, float]:
    if not values:
        return {f"{name}/mean": 0.0, f"{name}/p50": 0.0, f"{name}/p95": 0.0}
    return {f"{name}/mean": float(np.mean(values)), f"{name}/p50": float(np.percentile(values, 50)),
            f"{name}/p95": float(np.percentile(values, 95))}


def judge_latencies(judge_seconds: Sequence[Any], judge_status: Sequence[Any],
                    dedup_hit: Sequence[Any]) -> list[float]:
    """One latency per answered judge call (the module docstring's definition)."""
    hits = list(dedup_hit) or [0] * len(judge_seconds)
    return [float(s) for s, st, hit in zip(judge_seconds, judge_status, hits, strict=False)
            if st in ANSWERED and not hit and isinstance(s, (int, float, np.number))]


def reward_metrics(rows: Mapping[str, Sequence[Any]], scores: Iterable[float] | None = None,
                   prefix: str = "verm/") -> dict[str, float]:
    """``{prefix}<task>/<metric>`` and ``{prefix}all/<metric>`` from columns of sample rows.

    Metrics: samples, render_rate, reward/{render,verm,total}, severity/total and severity/<category>
    (over samples with judged severities), parse/judge failure and fallback rates, dedup_rate,
    judge_latency/{mean,p50,p95}, render_seconds/{mean,p50,p95} (every sample), status/<status> and
    render_error/<kind> shares. ``scores``: the rewards as the trainer uses them (after any step-level
    re-normalisation); without them reward/total is left out."""
    cols = {k: list(v) for k, v in rows.items()}
    n = len(next(iter(cols.values()), []))
    if n == 0:
        return {}
    tasks = [str(t) for t in cols.get("task") or ["all"] * n]
    score_list = list(scores) if scores is not None else None
    out: dict[str, float] = {}
    for task in sorted(set(tasks)) + ["all"]:
        idx = [i for i, t in enumerate(tasks) if task == "all" or t == task]

        def col(key: str, idx: list[int] = idx) -> list:
            values = cols.get(key, [])
            return [values[i] for i in idx if i < len(values)]

        p = f"{prefix}{task}/"
        status, judge_status = col("status"), col("judge_status")
        out[p + "samples"] = float(len(idx))
        out[p + "render_rate"] = _mean(col("render_ok"))
        out[p + "reward/render"] = _mean(col("render_reward"))
        out[p + "reward/verm"] = _mean([v for v, s in zip(col("verm_reward"), status) if s == "ok"])
        judged = col("severity_judged") or [1] * len(idx)  # similarity arms have no severities
        severities = [v for v, s, j in zip(col("severity"), status, judged) if s == "ok" and j]
        if severities:
            out[p + "severity/total"] = _mean(severities)
        out[p + "parse_failure_rate"] = sum(s == "parse_failed" for s in judge_status) / len(idx)
        out[p + "judge_failure_rate"] = sum(s == "judge_failed" for s in judge_status) / len(idx)
        out[p + "fallback_rate"] = _mean(col("fallback_used"))
        out[p + "dedup_rate"] = _mean(col("dedup_hit"))
        out.update({p + k: v for k, v in _percentiles(
            judge_latencies(col("judge_seconds"), judge_status, col("dedup_hit")), "judge_latency").items()})
        out.update({p + k: v for k, v in _percentiles(_floats(col("render_seconds")), "render_seconds").items()})
        for key in cols:
            if key.startswith("sev_"):
                values = [v for v, s in zip(col(key), status) if s == "ok"]
                if any(values):
                    out[p + "severity/" + key[4:]] = _mean(values)
        for s in set(status) - {None}:
            out[p + f"status/{s}"] = status.count(s) / len(idx)
        for kind in set(col("render_error")) - {"", None}:
            out[p + f"render_error/{kind}"] = col("render_error").count(kind) / len(idx)
        if score_list is not None:
            out[p + "reward/total"] = float(np.mean([score_list[i] for i in idx]))
    return out
