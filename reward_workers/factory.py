"""Build the reward pipeline from the ``verm`` config section (a plain dict: no Hydra, no verl)."""

from __future__ import annotations

import logging
from typing import Any

from reward_workers.render_pool import RenderPool
from reward_workers.sizing import judge_actor_count
from verm_rl.judge import JudgeBackend
from verm_rl.judge.profiles import judge_inputs_from_config
from verm_rl.reward import SeverityRewardConfig
from verm_rl.reward.severity import released_reward_options

log = logging.getLogger(__name__)


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


def actor_placement(actor_cfg: dict[str, Any], cluster_cfg: dict[str, Any] | None, key: str) -> dict[str, Any]:
    """Count and placement of Ray judge/DINO actors: ``num_actors: null`` fills the GPUs reserved for the judge
    (``verm.cluster.judge_nnodes x judge_gpus_per_node``); with GPUs they go into one named placement group."""
    cluster = cluster_cfg or {}
    num_gpus = float(actor_cfg.get("num_gpus", 1))
    raw = actor_cfg.get("num_actors", 1)
    return {
        "num_actors": judge_actor_count(None if raw is None else int(raw), cluster.get("judge_nnodes"),
                                        cluster.get("judge_gpus_per_node"), num_gpus, key),
        "num_gpus": num_gpus, "num_cpus": float(actor_cfg.get("num_cpus", 1)),
        "placement": actor_cfg.get("placement", "group"),
        "placement_strategy": actor_cfg.get("placement_strategy", "SPREAD"),
        "placement_timeout_s": float(actor_cfg.get("placement_timeout_s", 300)),
    }


def build_judge(judge_cfg: dict[str, Any], pool: RenderPool, reward_router_address: str | None = None,
                reward_model_path: str | None = None, cluster_cfg: dict[str, Any] | None = None) -> JudgeBackend:
    """``judge_cfg["backend"]``: verl_rm | http | ray_actor | structural."""
    backend = judge_cfg.get("backend", "verl_rm")
    if backend in ("verl_rm", "http"):
        from verm_rl.judge.http import HttpJudge, HttpJudgeConfig

        if backend == "verl_rm":
            if not reward_router_address:
                raise ValueError("judge=verl_rm needs verl's reward model (reward.reward_model.enable=True); "
                                 "no reward_router_address was given to the reward manager")
            endpoints = [reward_router_address]
            model = judge_cfg.get("model") or reward_model_path or "reward_service"
        else:
            endpoints = list(judge_cfg.get("endpoints") or [])
            model = judge_cfg.get("model") or "reward_service"
            check_routable(endpoints, alive_nodes())
        return HttpJudge(HttpJudgeConfig(
            endpoints=endpoints, model=model, api_key=judge_cfg.get("api_key"),
            max_concurrency=int(judge_cfg.get("max_concurrency", 64)), timeout_s=float(judge_cfg.get("timeout_s", 300)),
            retries=int(judge_cfg.get("retries", 3)), backoff_s=float(judge_cfg.get("backoff_s", 0.5)),
            inputs=judge_inputs_from_config(judge_cfg),
        ))
    if backend == "ray_actor":
        from reward_workers.judge_actor import RayActorJudge

        actor = judge_cfg.get("ray_actor") or {}
        model_path = actor.get("model_path") or reward_model_path
        if not model_path:
            raise ValueError("judge=ray_actor needs verm.judge.ray_actor.model_path")
        return RayActorJudge(
            model_path, name=actor.get("name", "verm_judge"),
            **actor_placement(actor, cluster_cfg, "verm.judge.ray_actor.num_actors"),
            engine=actor.get("engine", "auto"), inputs=judge_inputs_from_config(judge_cfg),
            max_batch_size=int(actor.get("max_batch_size", 16)), max_wait_ms=float(actor.get("max_wait_ms", 20)),
        )
    if backend == "structural":
        from verm_rl.judge.structural import StructuralJudge

        return StructuralJudge(render=pool.render)
    if backend == "none":
        return NoJudge()
    raise ValueError(f"unknown judge backend {backend!r}: verl_rm, http, ray_actor, structural or none")


class NoJudge(JudgeBackend):
    """For rewards that need no judge (render_only): every pair gets an empty, parsed verdict."""

    name = "none"

    async def judge(self, requests):  # noqa: D102
        from verm_rl.judge import Judgement

        return [Judgement(task=r.task) for r in requests]


def build_reward_judge(reward_cfg: dict[str, Any], judge_cfg: dict[str, Any], pool: RenderPool,
                       reward_router_address: str | None = None, reward_model_path: str | None = None,
                       cluster_cfg: dict[str, Any] | None = None) -> JudgeBackend:
    """The judge a reward needs: Visual-ERM/structural (``judge_cfg``), or a baseline's scorer."""
    name = reward_cfg.get("name", "verm")
    if name == "render_only":
        return NoJudge()
    if name in ("ssim", "l2", "teds", "teds_s"):
        from verm_rl.judge.similarity import SimilarityJudge

        return SimilarityJudge(reward_cfg.get("similarity", name))
    if name == "dino":
        from reward_workers.judge_actor import RayActorJudge

        dino = reward_cfg.get("dino") or {}
        if not dino.get("model_path"):
            raise ValueError("reward=dino needs verm.reward.dino.model_path (a local DINOv2, e.g. dinov2-large)")
        return RayActorJudge(dino["model_path"], name=dino.get("name", "verm_dino"), kind="dino",
                             **actor_placement(dino, cluster_cfg, "verm.reward.dino.num_actors"),
                             max_batch_size=int(dino.get("max_batch_size", 16)),
                             max_wait_ms=float(dino.get("max_wait_ms", 20)))
    return build_judge(judge_cfg, pool, reward_router_address, reward_model_path, cluster_cfg)


def reward_config(reward_cfg: dict[str, Any]) -> SeverityRewardConfig:
    name = reward_cfg.get("name", "verm")
    w_verm = 0.0 if name == "render_only" else float(reward_cfg.get("w_verm", 1.0))
    return SeverityRewardConfig(
        w_format=float(reward_cfg.get("w_format", 0.0)),
        w_render=float(reward_cfg.get("w_render", 1.0)), w_verm=w_verm, norm=reward_cfg.get("norm", "fixed"),
        fixed_norm=float(reward_cfg.get("fixed_norm", 50.0)), per_task_norm=reward_cfg.get("per_task_norm") or None,
        parse_fallback=reward_cfg.get("parse_fallback", "batch_mean"),
        fallback_default=float(reward_cfg.get("fallback_default", 0.5)),
        **released_reward_options(reward_cfg),
    )


def build_render_pool(render: dict[str, Any]) -> RenderPool:
    """The shared render pool from ``verm.render`` (pops the pool keys; the rest are render options).
    ``pool_size: auto`` sizes it from the CPUs free when the first reward-loop worker builds it (after verl
    has reserved the trainer's placement groups)."""
    size = render.pop("pool_size", 2)
    return RenderPool(name=render.pop("pool_name", "verm_render_pool"),
                      size=size if str(size).lower() == "auto" else int(size),
                      num_cpus=float(render.pop("num_cpus_per_actor", 1)),
                      routing=str(render.pop("routing", "p2c")), spread=bool(render.pop("spread", True)),
                      headroom=float(render.pop("headroom", 0.1)))


def build_pipeline(verm_cfg: dict[str, Any], reward_router_address: str | None = None,
                   reward_model_path: str | None = None):
    """The ``RewardPipeline`` for one process (the render pool is named, so shared across processes)."""
    from verm_rl.reward.pipeline import RewardPipeline

    render = dict(verm_cfg.get("render") or {})
    pool = build_render_pool(render)
    render_options = {k: v for k, v in render.items() if v is not None}
    reward_cfg = dict(verm_cfg.get("reward") or {})
    judge = build_reward_judge(reward_cfg, dict(verm_cfg.get("judge") or {}), pool, reward_router_address,
                               reward_model_path, dict(verm_cfg.get("cluster") or {}))
    pipe_cfg = verm_cfg.get("pipeline") or {}
    return RewardPipeline(pool, judge, reward_config(reward_cfg), render_options=render_options,
                          batch_window_ms=float(pipe_cfg.get("batch_window_ms", 50)),
                          max_batch_size=int(pipe_cfg.get("max_batch_size", 256)),
                          warn_every_failures=int(pipe_cfg.get("warn_every_failures", 50)))
