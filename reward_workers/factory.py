"""Build the reward pipeline from the typed ``verm`` config (``verm_rl.config``; no Hydra, no verl).

Every function takes the typed section or a plain mapping of it (validated against the schema, its defaults
filled in): defaults live in ``verm_rl/config/schema.py`` only, never here.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from reward_workers.render_pool import RenderPool
from reward_workers.sizing import judge_actor_count
from verm_rl.config import (
    ActorSection,
    ClusterSection,
    DinoSection,
    JudgeSection,
    PipelineSection,
    RayActorSection,
    RenderSection,
    RewardSection,
    VermConfig,
    section_config,
)
from verm_rl.judge import JudgeBackend
from verm_rl.judge.profiles import judge_inputs_from_config
from verm_rl.reward import SeverityRewardConfig

log = logging.getLogger(__name__)

Section = Mapping[str, Any] | None


def alive_nodes() -> int:
    import ray

    return sum(1 for n in ray.nodes() if n.get("Alive")) if ray.is_initialized() else 1


def check_routable(endpoints: list[str], nodes: int) -> None:
    """verl runs reward-loop workers on every node: a loopback judge endpoint is refused on a multi-node
    cluster (off-head workers would get "connection refused" and every sample the fallback reward)."""
    from verm_rl.judge.http import loopback_endpoints

    local = loopback_endpoints(endpoints)
    if nodes > 1 and local:
        raise ValueError(
            f"judge=http endpoint(s) {local} are loopback addresses, but the Ray cluster has {nodes} nodes and "
            "reward-loop workers run on every node; set verm.judge.endpoints to an address every node can reach "
            "(e.g. verm.judge.endpoints='[http://<judge-host>:8000]')")


def actor_placement(actor: ActorSection | Section, cluster: ClusterSection | Section, key: str,
                    kind: type[ActorSection] = ActorSection) -> dict[str, Any]:
    """Count and placement of Ray judge/DINO actors: ``num_actors: null`` fills the GPUs reserved for the judge
    (``verm.cluster.judge_nnodes x judge_gpus_per_node``); with GPUs they go into one named placement group."""
    a = section_config(kind, actor, key.rpartition(".")[0] or "actor")
    c = section_config(ClusterSection, cluster, "verm.cluster")
    return {
        "num_actors": judge_actor_count(a.num_actors, c.judge_nnodes, c.judge_gpus_per_node, a.num_gpus, key),
        "num_gpus": float(a.num_gpus), "num_cpus": float(a.num_cpus), "placement": a.placement,
        "placement_strategy": a.placement_strategy, "placement_timeout_s": float(a.placement_timeout_s),
    }


def build_judge(judge_cfg: JudgeSection | Section, pool: RenderPool, reward_router_address: str | None = None,
                reward_model_path: str | None = None, cluster_cfg: ClusterSection | Section = None) -> JudgeBackend:
    """The judge named by ``verm.judge.backend``: verl_rm | http | ray_actor | structural | none."""
    judge = section_config(JudgeSection, judge_cfg, "verm.judge")
    backend = judge.backend
    if backend in ("verl_rm", "http"):
        from verm_rl.judge.http import HttpJudge, HttpJudgeConfig

        if backend == "verl_rm":
            if not reward_router_address:
                raise ValueError("judge=verl_rm needs verl's reward model (reward.reward_model.enable=True); "
                                 "no reward_router_address was given to the reward manager")
            endpoints = [reward_router_address]
            model = judge.model or reward_model_path or "reward_service"
        else:
            endpoints = list(judge.endpoints)
            model = judge.model or "reward_service"
            check_routable(endpoints, alive_nodes())
        return HttpJudge(HttpJudgeConfig(
            endpoints=endpoints, model=model, api_key=judge.api_key, max_concurrency=judge.max_concurrency,
            timeout_s=judge.timeout_s, retries=judge.retries, backoff_s=judge.backoff_s,
            inputs=judge_inputs_from_config(_judge_inputs_section(judge)),
        ))
    if backend == "ray_actor":
        from reward_workers.judge_actor import RayActorJudge

        actor = judge.ray_actor
        model_path = actor.model_path or reward_model_path
        if not model_path:
            raise ValueError("judge=ray_actor needs verm.judge.ray_actor.model_path")
        return RayActorJudge(
            model_path, name=actor.name,
            **actor_placement(actor, cluster_cfg, "verm.judge.ray_actor.num_actors", RayActorSection),
            engine=actor.engine, inputs=judge_inputs_from_config(_judge_inputs_section(judge)),
            max_batch_size=actor.max_batch_size, max_wait_ms=actor.max_wait_ms,
        )
    if backend == "structural":
        from verm_rl.judge.structural import StructuralJudge

        return StructuralJudge(render=pool.render)
    return NoJudge()  # "none" (the schema admits no other backend)


def _judge_inputs_section(judge: JudgeSection) -> dict[str, Any]:
    """The ``verm.judge`` keys ``judge_inputs_from_config`` reads, as the plain mapping it takes."""
    from dataclasses import asdict

    out = asdict(judge)
    out.pop("ray_actor", None)
    return out


class NoJudge(JudgeBackend):
    """For rewards that need no judge (render_only): every pair gets an empty, parsed verdict."""

    name = "none"

    async def judge(self, requests):  # noqa: D102
        from verm_rl.judge import Judgement

        return [Judgement(task=r.task) for r in requests]


def build_reward_judge(reward_cfg: RewardSection | Section, judge_cfg: JudgeSection | Section, pool: RenderPool,
                       reward_router_address: str | None = None, reward_model_path: str | None = None,
                       cluster_cfg: ClusterSection | Section = None) -> JudgeBackend:
    """The judge a reward arm needs: Visual-ERM/structural (``verm.judge``), or a baseline's scorer."""
    reward = section_config(RewardSection, reward_cfg, "verm.reward")
    if reward.name == "render_only":
        return NoJudge()
    if reward.name in ("ssim", "teds"):
        from verm_rl.judge.similarity import SimilarityJudge

        return SimilarityJudge(reward.similarity or reward.name)
    if reward.name == "dino":
        from reward_workers.judge_actor import RayActorJudge

        dino = reward.dino
        if not dino.model_path:
            raise ValueError("reward=dino needs verm.reward.dino.model_path (a local DINOv2, e.g. dinov2-large)")
        return RayActorJudge(dino.model_path, name=dino.name, kind="dino",
                             **actor_placement(dino, cluster_cfg, "verm.reward.dino.num_actors", DinoSection),
                             max_batch_size=dino.max_batch_size, max_wait_ms=dino.max_wait_ms)
    return build_judge(judge_cfg, pool, reward_router_address, reward_model_path, cluster_cfg)


def reward_config(reward_cfg: RewardSection | Section) -> SeverityRewardConfig:
    """The reward formula's settings of an arm (``RewardSection.severity_config``)."""
    return section_config(RewardSection, reward_cfg, "verm.reward").severity_config()


def build_render_pool(render_cfg: RenderSection | Section) -> RenderPool:
    """The shared render pool from ``verm.render``'s pool keys. ``pool_size: auto`` sizes it from the CPUs free
    when the first reward-loop worker builds it (after verl has reserved the trainer's placement groups)."""
    render = section_config(RenderSection, render_cfg, "verm.render")
    size = render.pool_size
    return RenderPool(name=render.pool_name, size=size if str(size).lower() == "auto" else int(size),
                      num_cpus=float(render.num_cpus_per_actor), routing=render.routing, spread=bool(render.spread),
                      headroom=float(render.headroom))


def render_options(render_cfg: RenderSection | Section) -> dict[str, Any]:
    """The render options every render of the pipeline uses (reference and candidate alike): RenderOptions'
    fields as ``verm.render`` sets them (null ``timeout_s`` = per task, resolved by the renderer)."""
    from dataclasses import asdict

    options = asdict(section_config(RenderSection, render_cfg, "verm.render").options())
    return {k: v for k, v in options.items() if v is not None}


def build_pipeline(verm_cfg: VermConfig | Section, reward_router_address: str | None = None,
                   reward_model_path: str | None = None):
    """The ``RewardPipeline`` for one process (the render pool is named, so shared across processes).
    ``verm_cfg``: the typed ``verm`` section, or a mapping with the sections it needs (render, reward, judge,
    cluster, pipeline; the schema's defaults for the rest)."""
    from verm_rl.reward.pipeline import RewardPipeline

    sections = _sections(verm_cfg)
    pool = build_render_pool(sections["render"])
    judge = build_reward_judge(sections["reward"], sections["judge"], pool, reward_router_address,
                               reward_model_path, sections["cluster"])
    pipe = sections["pipeline"]
    return RewardPipeline(pool, judge, reward_config(sections["reward"]), render_options=render_options(
        sections["render"]), batch_window_ms=pipe.batch_window_ms, max_batch_size=pipe.max_batch_size,
        warn_every_failures=pipe.warn_every_failures)


def _sections(verm_cfg: VermConfig | Section) -> dict[str, Any]:
    """The typed sections the pipeline needs (a full ``verm`` mapping is validated whole)."""
    kinds = {"render": RenderSection, "reward": RewardSection, "judge": JudgeSection, "cluster": ClusterSection,
             "pipeline": PipelineSection}
    if isinstance(verm_cfg, VermConfig):
        return {k: getattr(verm_cfg, k) for k in kinds}
    raw = dict(verm_cfg or {})
    return {k: section_config(cls, raw.get(k), f"verm.{k}") for k, cls in kinds.items()}
