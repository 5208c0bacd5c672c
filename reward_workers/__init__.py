"""Ray actors around the ``verm_rl`` library: the render pool and the judge actors (the pipeline that uses
them is Ray-free: ``verm_rl.reward.RewardPipeline``)."""

from reward_workers.judge_actor import JudgeActor, RayActorJudge
from reward_workers.render_pool import RenderActor, RenderPool

__all__ = ["JudgeActor", "RayActorJudge", "RenderActor", "RenderPool"]
