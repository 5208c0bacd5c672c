"""Training-step metrics and sample tables from the reward manager's ``reward_extra_info``.

verl 0.9's V1 trainer logs only the score; these add render success, severity per category,
parse and judge failures, reward parts and judge latency, per task. Plain functions: the trainer
hook and the CPU job both call them, and tests call them directly.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np


def collect_extra_infos(extra_fields: Iterable[Any]) -> dict[str, list]:
    """Turn per-sample ``extra_fields`` (each holding a ``reward_extra_info`` dict) into columns."""
    columns: dict[str, list] = defaultdict(list)
    rows = [f.get("reward_extra_info", {}) if isinstance(f, Mapping) else {} for f in extra_fields]
    keys = sorted({k for r in rows for k in r})
    for r in rows:
        for k in keys:
            columns[k].append(r.get(k))
    return dict(columns)


def _mean(values: list) -> float:
    nums = [float(v) for v in values if isinstance(v, (int, float, np.number)) and not isinstance(v, bool)]
    return float(np.mean(nums)) if nums else 0.0


def reward_step_metrics(infos: Mapping[str, Any], scores: Iterable[float] | None = None,
                        prefix: str = "verm/") -> dict[str, float]:
    """Per-task and overall metrics: ``verm/<task>/render_rate``, ``…/severity/<category>``, …"""
    cols = {k: list(v) for k, v in infos.items()}
    n = len(next(iter(cols.values()), []))
    if n == 0:
        return {}
    tasks = [str(t) for t in cols.get("task", ["all"] * n)]
    score_list = list(scores) if scores is not None else None
    out: dict[str, float] = {}
    for task in sorted(set(tasks)) + ["all"]:
        idx = [i for i, t in enumerate(tasks) if task == "all" or t == task]
        if not idx:
            continue

        def col(key: str, idx: list[int] = idx) -> list:
            values = cols.get(key, [])
            return [values[i] for i in idx if i < len(values)]

        p = f"{prefix}{task}/"
        status = col("status")
        judge_status = col("judge_status")
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
        latencies = [float(v) for v, s in zip(col("judge_seconds"), judge_status) if s in ("ok", "parse_failed")]
        out[p + "judge_latency/mean"] = float(np.mean(latencies)) if latencies else 0.0
        out[p + "judge_latency/p95"] = float(np.percentile(latencies, 95)) if latencies else 0.0
        out[p + "render_seconds/mean"] = _mean(col("render_seconds"))
        for key in cols:
            if key.startswith("sev_"):
                values = [v for v, s in zip(col(key), status) if s == "ok"]
                if any(values):
                    out[p + "severity/" + key[4:]] = _mean(values)
        for s in set(status):
            out[p + f"status/{s}"] = status.count(s) / len(idx)
        for kind in set(col("render_error")) - {"", None}:
            out[p + f"render_error/{kind}"] = col("render_error").count(kind) / len(idx)
        if score_list is not None:
            out[p + "reward/total"] = float(np.mean([score_list[i] for i in idx]))
    return out


def sample_dirs(infos: Mapping[str, Any], limit: int) -> list[str]:
    """Up to ``limit`` sample folders written by the reward manager (reference, render, errors)."""
    return [d for d in infos.get("sample_dir", []) if d][:limit]
