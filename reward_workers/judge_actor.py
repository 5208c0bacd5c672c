"""Dedicated judge actors (GPU in production, CPU in tests) and the ``ray_actor`` judge backend."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Any

import ray
from ray.util.placement_group import PlacementGroup, placement_group, remove_placement_group
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from verm_rl.judge import JudgeBackend, Judgement, JudgeRequest, failed_judgement

log = logging.getLogger(__name__)


class JudgeActor:
    """An async Ray actor owning one judge model; concurrent calls are batched dynamically."""

    def __init__(self, model_path: str, engine: str = "auto", kind: str = "vlm", **judge_kwargs: Any):
        if kind == "dino":  # the DINOv2 baseline on a dedicated GPU actor
            from verm_rl.judge.similarity import DinoJudge

            self.judge_impl = DinoJudge(model_path, **judge_kwargs)
        else:
            from verm_rl.judge.local import LocalJudge

            self.judge_impl = LocalJudge(model_path, engine=engine, **judge_kwargs)

    async def judge(self, requests: list[JudgeRequest]) -> list[Judgement]:
        return await self.judge_impl.judge(requests)

    async def info(self) -> dict[str, Any]:
        import os

        ctx = ray.get_runtime_context()
        pg = ctx.get_placement_group_id()
        return {"pid": os.getpid(), "node_id": ctx.get_node_id(), "placement_group_id": pg, **self.judge_impl.info()}


class JudgePlacementError(RuntimeError):
    """The judge's placement group cannot be placed: its GPUs are not free in the cluster."""


class JudgeGroup:
    """A named zero-CPU actor that creates a judge's placement group exactly once (get-or-create on the
    actor's name is atomic, so reward-loop workers starting together still share one group)."""

    def __init__(self, bundles: list[dict[str, float]], strategy: str, pg_name: str):
        self.pg = placement_group(bundles, strategy=strategy, name=pg_name)

    def get(self) -> PlacementGroup:
        return self.pg

    def remove(self) -> None:
        remove_placement_group(self.pg)


def judge_bundles(num_actors: int, num_gpus: float, num_cpus: float) -> list[dict[str, float]]:
    bundle = {k: v for k, v in (("GPU", float(num_gpus)), ("CPU", float(num_cpus))) if v > 0}
    return [dict(bundle) for _ in range(num_actors)]


def judge_placement_group(name: str, num_actors: int, num_gpus: float, num_cpus: float, strategy: str = "SPREAD",
                          timeout_s: float = 300.0, namespace: str | None = None) -> tuple[Any, PlacementGroup]:
    """The judge's placement group (one ``{GPU, CPU}`` bundle per actor), created by the first caller and shared by
    every later one; waits until it is placed and raises ``JudgePlacementError`` after ``timeout_s``."""
    bundles = judge_bundles(num_actors, num_gpus, num_cpus)
    group = ray.remote(JudgeGroup).options(name=f"{name}:group", namespace=namespace, get_if_exists=True,
                                           num_cpus=0).remote(bundles, strategy, f"{name}:pg")
    pg = ray.get(group.get.remote())
    if not pg.wait(timeout_seconds=timeout_s):
        free = ray.available_resources()
        wanted = {k: sum(b.get(k, 0.0) for b in pg.bundle_specs) for k in ("GPU", "CPU")}
        try:
            ray.get(group.remove.remote())
        finally:
            ray.kill(group, no_restart=True)
        raise JudgePlacementError(
            f"judge placement group {name!r} ({len(pg.bundle_specs)} bundles of {pg.bundle_specs[0]}, "
            f"{strategy}) not placed within {timeout_s:g} s: it needs {wanted['GPU']:g} GPUs and {wanted['CPU']:g} "
            f"CPUs, the cluster has {free.get('GPU', 0.0):g} GPUs and {free.get('CPU', 0.0):g} CPUs free. "
            "The judge's GPUs (verm.cluster.judge_nnodes x judge_gpus_per_node) must be left free by verl: "
            "trainer.nnodes x trainer.n_gpus_per_node, plus reward.reward_model's pool when "
            "reward.reward_model.enable_resource_pool=true. Lower the judge's num_actors/num_gpus or free GPUs.")
    return group, pg


class RayActorJudge(JudgeBackend):
    """The ``ray_actor`` backend: ``num_actors`` named judge actors (get-or-create) behind one handle.
    ``kind='vlm'`` runs a Visual-ERM-style judge; ``kind='dino'`` the DINOv2 similarity baseline.

    ``placement='group'`` (with GPUs): the actors live in one named placement group, one ``{GPU, CPU}``
    bundle each, spread over the nodes, so they take exactly the GPUs reserved for the judge and the
    group is created once for every reward-loop worker; a group that cannot be placed raises
    ``JudgePlacementError`` after ``placement_timeout_s`` instead of waiting for ever.

    Each request goes to the actor with the fewest in flight; the actor batches what arrives
    together. A dead actor is retried once on another one; then the request is ``judge_failed``.
    """

    name = "ray_actor"

    def __init__(self, model_path: str, name: str = "verm_judge", num_actors: int = 1, num_gpus: float = 1.0,
                 num_cpus: float = 1.0, engine: str = "auto", timeout_s: float = 600.0,
                 namespace: str | None = None, kind: str = "vlm", placement: str = "group",
                 placement_strategy: str = "SPREAD", placement_timeout_s: float = 300.0, **judge_kwargs: Any):
        if placement not in ("group", "none"):
            raise ValueError(f"judge placement must be 'group' or 'none', got {placement!r}")
        if not ray.is_initialized():
            ray.init(ignore_reinit_error=True, include_dashboard=False)
        cls = ray.remote(JudgeActor)
        self.actor_name = name
        self.timeout_s = timeout_s
        self.group, self.pg = None, None
        if placement == "group" and num_gpus > 0:
            self.group, self.pg = judge_placement_group(name, num_actors, num_gpus, num_cpus, placement_strategy,
                                                        placement_timeout_s, namespace)
        self.actors = []
        for i in range(num_actors):
            strategy = (PlacementGroupSchedulingStrategy(self.pg, placement_group_bundle_index=i)
                        if self.pg is not None else "DEFAULT")
            self.actors.append(cls.options(
                name=f"{name}:{i}", get_if_exists=True, namespace=namespace, num_gpus=num_gpus, num_cpus=num_cpus,
                max_restarts=-1, max_task_retries=1, max_concurrency=1024, scheduling_strategy=strategy,
            ).remote(model_path, engine, kind, **judge_kwargs))
        self.outstanding = [0] * num_actors
        self.failures = 0

    def _pick(self, avoid: int | None = None) -> int:
        order = sorted(range(len(self.actors)), key=lambda i: (self.outstanding[i], random.random()))
        return order[1] if avoid is not None and len(order) > 1 and order[0] == avoid else order[0]

    async def _judge_one(self, request: JudgeRequest) -> Judgement:
        start = time.monotonic()
        previous, last = None, None
        for _ in range(2):
            i = self._pick(previous)
            self.outstanding[i] += 1
            ref = None
            try:
                ref = self.actors[i].judge.remote([request])
                return (await asyncio.wait_for(ref, self.timeout_s))[0]
            except Exception as e:  # noqa: BLE001 - dead actor, timeout, Ray errors
                last, previous = e, i
                if isinstance(e, asyncio.TimeoutError) and ref is not None:
                    ray.cancel(ref)  # nobody waits for it: the actor must not keep working on it
                log.warning("judge actor %d failed: %s", i, type(e).__name__)
            finally:
                self.outstanding[i] -= 1
        self.failures += 1
        return failed_judgement(request.task, "judge_failed", f"judge actor: {type(last).__name__}: {last}",
                                time.monotonic() - start)

    async def judge(self, requests: list[JudgeRequest]) -> list[Judgement]:
        return list(await asyncio.gather(*(self._judge_one(r) for r in requests)))

    def infos(self) -> list[dict[str, Any]]:
        return ray.get([a.info.remote() for a in self.actors])

    def shutdown(self) -> None:
        """Kill the actors and release their placement group (for every handle: they are shared)."""
        for a in self.actors:
            ray.kill(a, no_restart=True)
        if self.group is not None:
            try:
                ray.get(self.group.remove.remote())
            finally:
                ray.kill(self.group, no_restart=True)
