"""Ray actors around the ``verm_rl`` library: render pool, judge actors, reward pipeline."""

from reward_workers.render_pool import RenderActor, RenderPool

__all__ = ["RenderActor", "RenderPool"]
