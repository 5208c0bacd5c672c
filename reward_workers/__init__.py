"""Ray actors around the ``verm_rl`` library: render pool, judge actors, reward pipeline."""

from reward_workers.judge_actor import JudgeActor, RayActorJudge
from reward_workers.pipeline import PipelineResult, RewardPipeline, ScoredSample, ScoreItem
from reward_workers.render_pool import RenderActor, RenderPool

__all__ = [
    "JudgeActor", "PipelineResult", "RayActorJudge", "RenderActor", "RenderPool", "RewardPipeline",
    "ScoreItem", "ScoredSample",
]
