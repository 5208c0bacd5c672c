"""Rewards: the Visual-ERM severity reward (and, later, the baselines used for ablations)."""

from verm_rl.reward.severity import (
    RELEASED_MAX_SEVERITY,
    RewardBreakdown,
    SeverityRewardConfig,
    batch_norms,
    score_batch,
    severity_reward,
    visual_erm_reward,
)

__all__ = [
    "RELEASED_MAX_SEVERITY", "RewardBreakdown", "SeverityRewardConfig", "batch_norms", "score_batch",
    "severity_reward", "visual_erm_reward",
]
