"""Paper Eq. 4 over a whole training step: S̃ = S / (max_{j∈𝒯} S_j + ε), per task 𝒯.

The reward workers see samples as they stream in, a few at a time, so they cannot know the step's
largest severity. The trainer calls :func:`rescore_step` once every reward of the step exists
(before advantages), with each sample's parts as the reward manager reported them; it returns the
new totals. A plain function: no verl, no tensors.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from verm_rl.reward.severity import SeverityRewardConfig, batch_norms, severity_reward


@dataclass
class StepRewards:
    totals: list[float]
    verm: list[float]  # the visual term after normalisation
    norms: dict[str, float]  # the normaliser per task


def rescore_step(tasks: Sequence[str], render: Sequence[float], verm: Sequence[float], severity: Sequence[float],
                 status: Sequence[str], severity_judged: Sequence[bool], fallback_used: Sequence[bool],
                 fmt: Sequence[float], cfg: SeverityRewardConfig, counts: Sequence[bool] | None = None) -> StepRewards:
    """Totals of one step with the severity term normalised over the step, per task.

    ``severity_judged``: the sample's visual term came from a judge's severities (not a similarity,
    not a failed render); only those are renormalised and enter the max. Parse/judge failures get the
    step's mean of the renormalised term of their task when ``parse_fallback`` is ``batch_mean``.
    Other samples keep their visual term. ``cfg.norm`` other than ``batch_max`` keeps every term.
    ``counts``: rows that enter the max and the mean (False for copies, e.g. verl's padding rows);
    every row is rescored.
    """
    n = len(tasks)
    counts = [True] * n if counts is None else [bool(c) for c in counts]
    if not all(len(x) == n for x in (render, verm, severity, status, severity_judged, fallback_used, fmt, counts)):
        raise ValueError("every per-sample list must have one entry per sample")
    judged = [bool(j) and s == "ok" for j, s in zip(severity_judged, status)]
    norms = batch_norms(list(tasks), [float(s) if j and c else None for s, j, c in zip(severity, judged, counts)],
                        cfg)
    new_verm = [float(v) for v in verm]
    if cfg.norm == "batch_max":
        for i in range(n):
            if judged[i]:
                new_verm[i] = severity_reward(float(severity[i]), norms[tasks[i]])
        if cfg.parse_fallback == "batch_mean":
            for i in range(n):
                if fallback_used[i]:
                    same = [new_verm[k] for k in range(n) if tasks[k] == tasks[i] and status[k] == "ok"
                            and not fallback_used[k] and counts[k]]
                    new_verm[i] = sum(same) / len(same) if same else cfg.fallback_default
    totals = [cfg.w_render * float(r) + cfg.w_verm * (0.0 if math.isnan(v) else v) + cfg.w_format * float(f)
              for r, v, f in zip(render, new_verm, fmt)]
    return StepRewards(totals, new_verm, norms)
