"""Training-step metrics and sample tables from the reward manager's ``reward_extra_info``.

verl 0.9's V1 trainer logs only the score; ``verm_rl.reward.metrics.reward_metrics`` (the one aggregator,
also behind ``RewardPipeline.score``) adds render success, severity per category, parse and judge
failures, reward parts and judge latency, per task. This module only reads verl's containers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from verm_rl.reward.record import columns


def collect_extra_infos(extra_fields: Iterable[Any]) -> dict[str, list]:
    """Turn per-sample ``extra_fields`` (each holding a ``reward_extra_info`` dict) into columns."""
    return columns(f.get("reward_extra_info") if isinstance(f, Mapping) else None for f in extra_fields)


def sample_dirs(infos: Mapping[str, Any], limit: int) -> list[str]:
    """Up to ``limit`` sample folders written by the reward manager (reference, render, errors)."""
    return [d for d in infos.get("sample_dir", []) if d][:limit]
