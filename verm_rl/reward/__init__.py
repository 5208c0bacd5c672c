"""Rewards: the Visual-ERM severity reward, the pipeline that computes it, and ``score`` (a plain function).

Response → render → judge → reward: ``pipeline.RewardPipeline`` runs the steps over any ``RenderBackend``
and ``JudgeBackend``; ``severity`` is the formula; ``record`` flattens a scored sample; ``metrics``
aggregates a batch; ``scoring.score`` is the whole path as one call.
"""

from verm_rl.reward.metrics import reward_metrics
from verm_rl.reward.pipeline import (
    FallbackAlarm,
    PipelineResult,
    RenderBackend,
    RewardPipeline,
    ScoredSample,
    ScoreItem,
)
from verm_rl.reward.record import ROW_KEYS, sample_detail, sample_row
from verm_rl.reward.scoring import ascore, reward_function, score
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
    "RELEASED_MAX_SEVERITY", "ROW_KEYS", "FallbackAlarm", "PipelineResult", "RenderBackend", "RewardBreakdown",
    "RewardPipeline", "ScoreItem", "ScoredSample", "SeverityRewardConfig", "ascore", "batch_norms",
    "reward_function", "reward_metrics", "sample_detail", "sample_row", "score", "score_batch", "severity_reward",
    "visual_erm_reward",
]
