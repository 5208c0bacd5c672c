"""Dedicated judge actors (GPU in production, CPU in tests) and the ``ray_actor`` judge backend."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Any

import ray

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

        return {"pid": os.getpid(), **self.judge_impl.info()}


class RayActorJudge(JudgeBackend):
    """The ``ray_actor`` backend: ``num_actors`` named judge actors (get-or-create) behind one handle.
    ``kind='vlm'`` runs a Visual-ERM-style judge; ``kind='dino'`` the DINOv2 similarity baseline.

    Each request goes to the actor with the fewest in flight; the actor batches what arrives
    together. A dead actor is retried once on another one; then the request is ``judge_failed``.
    """

    name = "ray_actor"

    def __init__(self, model_path: str, name: str = "verm_judge", num_actors: int = 1, num_gpus: float = 1.0,
                 num_cpus: float = 1.0, engine: str = "auto", timeout_s: float = 600.0,
                 namespace: str | None = None, kind: str = "vlm", **judge_kwargs: Any):
        if not ray.is_initialized():
            ray.init(ignore_reinit_error=True, include_dashboard=False)
        cls = ray.remote(JudgeActor)
        self.actor_name = name
        self.timeout_s = timeout_s
        self.actors = [
            cls.options(name=f"{name}:{i}", get_if_exists=True, namespace=namespace, num_gpus=num_gpus,
                        num_cpus=num_cpus, max_restarts=-1, max_concurrency=1024)
            .remote(model_path, engine, kind, **judge_kwargs)
            for i in range(num_actors)
        ]
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
            try:
                ref = self.actors[i].judge.remote([request])
                return (await asyncio.wait_for(ref, self.timeout_s))[0]
            except Exception as e:  # noqa: BLE001 - dead actor, timeout, Ray errors
                last, previous = e, i
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
        for a in self.actors:
            ray.kill(a, no_restart=True)
