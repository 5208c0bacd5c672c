"""A pool of CPU Ray actors that render in warm, sandboxed workers.

Named and get-or-create: every process that builds ``RenderPool(name=...)`` with the same name (the
trainer, each verl reward-loop worker) talks to the same actors. The first creator decides the pool's
size and where its actors go and records that in a small named registry actor; later handles read it.

Routing. verl gives every reward-loop worker its own handle and sends samples to workers at random,
so a handle sees only a small share of the pool's traffic: balancing on a handle's own requests in
flight puts everything on the first actors. Each actor is therefore an async actor that queues
renders internally (``concurrency`` at a time, on one dedicated thread) and answers ``load()`` at
once; a handle asks two random actors for their load and sends to the less loaded one (power of two
choices: the maximum queue stays within O(log log n) of the mean, while a probe costs two sub-millisecond
calls against a render of ~100 ms). Its own requests still in flight are added to the probe so that a
burst from one handle, probed before any of it arrived, spreads too.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import random
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from reward_workers.sizing import render_pool_size, spread_over_nodes
from verm_rl.render import Renderer, RenderResult
from verm_rl.stats import TimingStats

log = logging.getLogger(__name__)

ROUTINGS = ("p2c", "random", "local")  # local: fewest of this handle's own requests, ties to the first (pre-fix)


class RenderActor:
    """One CPU actor: owns a ``Renderer`` (its warm chart/SVG and browser workers).

    Async: renders run ``concurrency`` at a time on dedicated threads (always the same ones, which the
    browser's sync API needs) while ``load`` and ``info`` answer at once."""

    def __init__(self, render_options: dict[str, Any] | None = None, concurrency: int = 1):
        self.renderer = Renderer(**(render_options or {}))
        self.stats = TimingStats()
        self._executor = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="render")
        self._pending = 0
        self._running: dict[int, float] = {}  # render id -> when its thread started it (monotonic)
        self._next_id = 0

    def _render_blocking(self, task: str, source: str | None, options: dict[str, Any] | None) -> RenderResult:
        self._next_id += 1
        rid = self._next_id
        self._running[rid] = time.monotonic()
        try:
            return self.renderer.render(task, source, **(options or {}))
        except Exception as e:  # a bad option or a worker that will not start: still a result
            return RenderResult.failure("crash", f"{type(e).__name__}: {e}")
        finally:
            self._running.pop(rid, None)

    async def render(self, task: str, source: str | None, options: dict[str, Any] | None = None) -> RenderResult:
        self._pending += 1
        try:
            loop = asyncio.get_running_loop()
            result = await loop.run_in_executor(self._executor, self._render_blocking, task, source, options)
        finally:
            self._pending -= 1
        self.stats.add(result.ok, result.seconds, result.error_kind)
        return result

    async def load(self) -> int:
        """Renders queued or running here."""
        return self._pending

    async def busy_s(self) -> float:
        """Seconds the longest render running now has run (0 when idle): the pool's stall check."""
        now = time.monotonic()
        return max((now - t for t in list(self._running.values())), default=0.0)

    async def get_stats(self) -> TimingStats:
        return self.stats

    async def info(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "node_id": ray.get_runtime_context().get_node_id(),
                "workers": self.renderer.worker_info(), "load": self._pending}


@dataclass(frozen=True)
class PoolSpec:
    """What the first creator of a named pool decided; every later handle uses it."""

    size: int
    nodes: tuple[str | None, ...]
    num_cpus: float
    concurrency: int


class PoolRegistry:
    """A named zero-CPU actor holding a pool's ``PoolSpec`` (get-or-create makes its first creator win)."""

    def __init__(self, spec: PoolSpec):
        self.spec = spec

    def get_spec(self) -> PoolSpec:
        return self.spec


def free_cpus_per_node() -> dict[str, float]:
    """Unreserved CPUs on each alive node now (placement groups and running actors already subtracted)."""
    try:
        from ray._private.state import available_resources_per_node

        return {node: res.get("CPU", 0.0) for node, res in available_resources_per_node().items()}
    except Exception as e:  # noqa: BLE001 - a private Ray API: fall back to nodes' totals
        log.warning("per-node free CPUs unavailable (%s); spreading by node totals", e)
        return {n["NodeID"]: n["Resources"].get("CPU", 0.0) for n in ray.nodes() if n.get("Alive")}


def plan_pool(size: int | str, num_cpus: float, concurrency: int = 1, spread: bool = True,
              headroom: float = 0.1) -> PoolSpec:
    """Size (``"auto"``: from the CPUs free now, see ``render_pool_size``) and one node per actor."""
    per_node = free_cpus_per_node() if (spread or str(size).lower() == "auto") else {}
    free_total = sum(per_node.values()) if per_node else ray.available_resources().get("CPU", 0.0)
    n = render_pool_size(size, free_total, num_cpus, headroom=headroom)
    nodes = spread_over_nodes(n, per_node, num_cpus) if spread else [None] * n
    return PoolSpec(n, tuple(nodes), float(num_cpus), int(concurrency))


class RenderPool:
    """Client handle to a named pool of render actors; cheap to build in any process.

    ``size``: a number, or ``"auto"`` (CPUs free in the cluster at creation, less ``headroom``). A
    handle joining an existing pool uses the size its first creator chose, whatever it asks for.
    ``await pool.render(task, source)`` and ``await pool.render_many(items)`` never raise for bad
    programs or dead actors: an actor that dies is restarted by Ray and its in-flight request
    retried once; if that fails too the caller gets a ``crash`` result.

    ``stall_timeout_s``: a request unanswered this long makes the handle ask its actor how long its
    current render has run; an actor that does not answer within ``stall_timeout_s`` either (a wedged
    process) or whose render has run longer (the renderer's own timeout failed) is killed, so Ray
    restarts it and retries the request once, instead of the step waiting for ever. It must exceed a
    render's timeout plus a worker restart; queueing behind other renders does not count.
    """

    def __init__(self, name: str = "verm_render_pool", size: int | str = 2, num_cpus: float = 1.0,
                 render_options: dict[str, Any] | None = None, namespace: str | None = None,
                 detached: bool = False, routing: str = "p2c", spread: bool = True, concurrency: int = 1,
                 headroom: float = 0.1, probe_timeout_s: float = 2.0, stall_timeout_s: float = 300.0):
        if routing not in ROUTINGS:
            raise ValueError(f"unknown render pool routing {routing!r}: one of {ROUTINGS}")
        if not ray.is_initialized():
            ray.init(ignore_reinit_error=True, include_dashboard=False)
        self.name, self.routing, self.probe_timeout_s = name, routing, probe_timeout_s
        self.stall_timeout_s = float(stall_timeout_s)
        self.stalls = 0  # actors this handle killed because they stalled
        lifetime = {"lifetime": "detached"} if detached else {}
        registry_name = f"{name}:registry"
        try:
            registry = ray.get_actor(registry_name, namespace=namespace)
        except ValueError:  # first creator (or racing with another: get_if_exists keeps one)
            spec = plan_pool(size, num_cpus, concurrency, spread, headroom)
            registry = ray.remote(PoolRegistry).options(
                name=registry_name, namespace=namespace, get_if_exists=True, num_cpus=0, max_restarts=-1,
                **lifetime).remote(spec)
        self.spec: PoolSpec = ray.get(registry.get_spec.remote())
        if str(size).lower() != "auto" and int(size) != self.spec.size:
            log.warning("render pool %s already exists with %d actors; ignoring size=%s", name, self.spec.size, size)
        self.size = self.spec.size
        remote_cls = ray.remote(RenderActor)
        self.actors = []
        for i, node in enumerate(self.spec.nodes):
            strategy = NodeAffinitySchedulingStrategy(node, soft=True) if node else "DEFAULT"
            self.actors.append(remote_cls.options(
                name=f"{name}:{i}", namespace=namespace, get_if_exists=True, num_cpus=self.spec.num_cpus,
                max_restarts=-1, max_task_retries=1, max_concurrency=1000, scheduling_strategy=strategy,
                **lifetime).remote(render_options, self.spec.concurrency))
        self._registry = registry
        self._outstanding = [0] * self.size  # this handle's requests in flight, per actor
        self.stats = TimingStats()  # renders requested through this handle

    async def _probe(self, i: int) -> float:
        try:
            return float(await asyncio.wait_for(self.actors[i].load.remote(), self.probe_timeout_s))
        except Exception:  # noqa: BLE001 - dead or restarting actor: avoid it while another answers
            return math.inf

    async def _pick(self) -> int:
        if self.size == 1:
            return 0
        if self.routing == "local":
            return min(range(self.size), key=self._outstanding.__getitem__)
        if self.routing == "random":
            return random.randrange(self.size)
        a, b = random.sample(range(self.size), 2)
        load_a, load_b = await asyncio.gather(self._probe(a), self._probe(b))
        return a if load_a + self._outstanding[a] <= load_b + self._outstanding[b] else b

    async def render(self, task: str, source: str | None, **options: Any) -> RenderResult:
        i = await self._pick()
        self._outstanding[i] += 1
        try:
            result = await self._answer(i, self.actors[i].render.remote(task, source, options or None))
        except Exception as e:  # actor died twice, or Ray itself failed
            log.warning("render actor %s failed: %s", i, e)
            result = RenderResult.failure("crash", f"render actor failed: {type(e).__name__}: {e}")
        finally:
            self._outstanding[i] -= 1
        self.stats.add(result.ok, result.seconds, result.error_kind)
        return result

    async def _answer(self, i: int, ref: Any) -> RenderResult:
        """The actor's answer to ``ref``; a stalled actor is killed (Ray restarts it and retries the request)."""
        fut = asyncio.ensure_future(ref)
        try:
            while True:
                done, _ = await asyncio.wait({fut}, timeout=self.stall_timeout_s)
                if done:
                    return fut.result()
                if await self._stalled(i):
                    self.stalls += 1
                    log.warning("render actor %s of pool %s stalled (no answer or a render over %g s): killing it "
                                "so Ray restarts it (%d stalls on this handle)", i, self.name, self.stall_timeout_s,
                                self.stalls)
                    ray.kill(self.actors[i], no_restart=False)
        finally:
            if not fut.done():
                fut.cancel()

    async def _stalled(self, i: int) -> bool:
        try:
            busy = await asyncio.wait_for(self.actors[i].busy_s.remote(), self.stall_timeout_s)
        except asyncio.TimeoutError:
            return True  # the actor does not answer at all: a wedged process
        except Exception:  # noqa: BLE001 - dead or restarting: Ray answers the request itself
            return False
        return busy > self.stall_timeout_s

    async def render_many(self, items: Iterable[tuple[str, str | None]], **options: Any) -> list[RenderResult]:
        return list(await asyncio.gather(*(self.render(t, s, **options) for t, s in items)))

    def render_sync(self, task: str, source: str | None, **options: Any) -> RenderResult:
        return asyncio.run(self.render(task, source, **options))

    def per_actor_stats(self) -> list[TimingStats]:
        """Each actor's own stats (all clients of the pool together), in actor order."""
        return ray.get([a.get_stats.remote() for a in self.actors])

    def actor_stats(self) -> dict[str, Any]:
        """Stats kept by the actors themselves (all clients of the pool together)."""
        total = TimingStats()
        for stats in self.per_actor_stats():
            total.merge(stats)
        return total.summary()

    def actor_infos(self) -> list[dict[str, Any]]:
        return ray.get([a.info.remote() for a in self.actors])

    def actor_pids(self) -> list[int]:
        return [info["pid"] for info in self.actor_infos()]

    def shutdown(self) -> None:
        """Kill the pool's actors and its registry (for every handle: the pool is shared)."""
        for actor in [*self.actors, self._registry]:
            ray.kill(actor, no_restart=True)
