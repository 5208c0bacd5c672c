"""Batch-max normalisation (paper Eq. 4) of one step's ``rm_scores``, per task, on a verl ``DataProto``.

The trainer's ``_compute_advantage`` hook calls :func:`renormalise_step` once all rewards of the step
exist; the CPU job calls it on the step it scores. The formula is ``verm_rl.reward.batch_max``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from verl import DataProto

from verm_rl.reward import SeverityRewardConfig
from verm_rl.reward.batch_max import rescore_step


def step_reward_config(config: DictConfig) -> SeverityRewardConfig:
    """The arm's reward weights and normaliser, as the reward workers use them."""
    from reward_workers.factory import reward_config

    return reward_config(OmegaConf.to_container(config.verm.reward, resolve=True))


def renormalise_step(data: DataProto, cfg: SeverityRewardConfig, columns: Mapping[str, Any],
                     include: np.ndarray | None = None) -> tuple[DataProto, dict[str, float]]:
    """Re-apply paper Eq. 4 over the step's whole batch, per task, to ``data.batch['rm_scores']``.

    ``columns``: the per-sample ``reward_extra_info`` columns (task, render_reward, verm_reward,
    severity, severity_judged, status, fallback_used, format). ``include``: rows that count for the
    max (verl's padding rows copy real ones and must not). Only the score on its token changes:
    order, uids (the GRPO groups) and every other field stay as they are.
    """
    n = len(data)
    cols = {k: list(columns[k]) for k in ("task", "render_reward", "verm_reward", "severity", "severity_judged",
                                          "status", "fallback_used", "format")}
    counts = np.ones(n, dtype=bool) if include is None else np.asarray(include, dtype=bool)
    result = rescore_step([str(t) for t in cols["task"]], cols["render_reward"], cols["verm_reward"], cols["severity"],
                          [str(s) for s in cols["status"]], [bool(j) for j in cols["severity_judged"]],
                          [bool(f) for f in cols["fallback_used"]], cols["format"], cfg, counts=counts)
    totals = result.totals
    scores = data.batch["rm_scores"].clone()
    for i in range(n):
        row = scores[i]
        nonzero = torch.nonzero(row).flatten()
        pos = int(nonzero[-1]) if len(nonzero) else _last_token(data, i)
        row[pos] += float(totals[i]) - float(row.sum())
    data.batch["rm_scores"] = scores
    metrics = {f"verm/{task}/batch_max_norm": float(norm) for task, norm in result.norms.items()}
    return data, metrics


def _last_token(data: DataProto, i: int) -> int:
    mask = data.batch["response_mask"][i] if "response_mask" in data.batch.keys() else None
    if mask is None or not bool(mask.any()):
        return data.batch["rm_scores"].shape[-1] - 1
    return int(torch.nonzero(mask).flatten()[-1])
