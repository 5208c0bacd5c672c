"""A pool of CPU Ray actors that render in warm, sandboxed workers.

Named and get-or-create: every process that builds ``RenderPool(name=...)`` with the same name
(the trainer, each verl reward-loop worker) talks to the same actors.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterable
from typing import Any

import ray

from verm_rl.render import Renderer, RenderResult
from verm_rl.stats import TimingStats

log = logging.getLogger(__name__)


class RenderActor:
    """One CPU actor: owns a ``Renderer`` (its warm chart/SVG and browser workers)."""

    def __init__(self, render_options: dict[str, Any] | None = None):
        self.renderer = Renderer(**(render_options or {}))
        self.stats = TimingStats()

    def render(self, task: str, source: str | None, options: dict[str, Any] | None = None) -> RenderResult:
        try:
            result = self.renderer.render(task, source, **(options or {}))
        except Exception as e:  # a bad option or a worker that will not start: still a result
            result = RenderResult.failure("crash", f"{type(e).__name__}: {e}")
        self.stats.add(result.ok, result.seconds, result.error_kind)
        return result

    def get_stats(self) -> TimingStats:
        return self.stats

    def info(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "workers": self.renderer.worker_info()}


class RenderPool:
    """Client handle to a named pool of ``size`` render actors; cheap to build in any process.

    ``await pool.render(task, source)`` and ``await pool.render_many(items)`` never raise for bad
    programs or dead actors: an actor that dies is restarted by Ray and its in-flight request
    retried once; if that fails too the caller gets a ``crash`` result.
    """

    def __init__(self, name: str = "verm_render_pool", size: int = 2, num_cpus: float = 1.0,
                 render_options: dict[str, Any] | None = None, namespace: str | None = None,
                 detached: bool = False):
        if not ray.is_initialized():
            ray.init(ignore_reinit_error=True, include_dashboard=False)
        self.name, self.size = name, size
        remote_cls = ray.remote(RenderActor)
        opts: dict[str, Any] = dict(num_cpus=num_cpus, max_restarts=-1, max_task_retries=1,
                                    get_if_exists=True, namespace=namespace)
        if detached:
            opts["lifetime"] = "detached"
        self.actors = [
            remote_cls.options(name=f"{name}:{i}", **opts).remote(render_options) for i in range(size)
        ]
        self._outstanding = [0] * size
        self.stats = TimingStats()  # renders requested through this handle

    def _pick(self) -> int:
        return min(range(self.size), key=self._outstanding.__getitem__)

    async def render(self, task: str, source: str | None, **options: Any) -> RenderResult:
        i = self._pick()
        self._outstanding[i] += 1
        try:
            result = await self.actors[i].render.remote(task, source, options or None)
        except Exception as e:  # actor died twice, or Ray itself failed
            log.warning("render actor %s failed: %s", i, e)
            result = RenderResult.failure("crash", f"render actor failed: {type(e).__name__}: {e}")
        finally:
            self._outstanding[i] -= 1
        self.stats.add(result.ok, result.seconds, result.error_kind)
        return result

    async def render_many(self, items: Iterable[tuple[str, str | None]], **options: Any) -> list[RenderResult]:
        return list(await asyncio.gather(*(self.render(t, s, **options) for t, s in items)))

    def render_sync(self, task: str, source: str | None, **options: Any) -> RenderResult:
        return asyncio.run(self.render(task, source, **options))

    def actor_stats(self) -> dict[str, Any]:
        """Stats kept by the actors themselves (all clients of the pool together)."""
        total = TimingStats()
        for stats in ray.get([a.get_stats.remote() for a in self.actors]):
            total.merge(stats)
        return total.summary()

    def actor_pids(self) -> list[int]:
        return [info["pid"] for info in ray.get([a.info.remote() for a in self.actors])]

    def shutdown(self) -> None:
        for actor in self.actors:
            ray.kill(actor, no_restart=True)
