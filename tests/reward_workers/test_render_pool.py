"""The render pool on a real local Ray cluster."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid

import pytest
import ray

from reward_workers import RenderPool
from tests.render.programs import GOOD_CHART, GOOD_SVG, GOOD_TABLE_HTML


@pytest.fixture
def pool(ray_cluster):
    p = RenderPool(name=f"test_pool_{uuid.uuid4().hex[:6]}", size=2, num_cpus=0)
    yield p
    p.shutdown()


def test_render_each_task(pool):
    async def go():
        return await pool.render_many([("chart", GOOD_CHART), ("svg", GOOD_SVG), ("table", GOOD_TABLE_HTML)])

    results = asyncio.run(go())
    assert [r.ok for r in results] == [True, True, True], [r.message for r in results]
    assert all(r.png.startswith(b"\x89PNG") for r in results)


def test_render_many_spreads_over_actors_and_keeps_order(pool):
    sources = [GOOD_CHART.replace("Quarterly sales", f"chart {i}") for i in range(6)]
    results = asyncio.run(pool.render_many([("chart", s) for s in sources] + [("chart", "syntax error(")]))
    assert [r.ok for r in results] == [True] * 6 + [False]
    assert results[-1].error_kind == "syntax"
    assert len({r.png for r in results[:6]}) == 6  # every title differs, so every picture does
    stats = pool.actor_stats()
    assert stats["count"] == 7 and stats["errors"] == {"syntax": 1}
    assert 0 < stats["seconds_p50"] <= stats["seconds_p95"]
    assert pool.stats.summary()["count"] == 7


def test_named_pool_is_shared_between_handles(pool):
    other = RenderPool(name=pool.name, size=2, num_cpus=0)
    assert other.actor_pids() == pool.actor_pids()
    assert other.render_sync("svg", GOOD_SVG).ok


def test_named_pool_is_reached_from_another_ray_worker(pool):
    @ray.remote(num_cpus=0)
    def render_elsewhere(name):
        from reward_workers import RenderPool

        handle = RenderPool(name=name, size=2, num_cpus=0)
        return handle.render_sync("svg", GOOD_SVG).ok, handle.actor_pids()

    ok, pids = ray.get(render_elsewhere.remote(pool.name))
    assert ok and pids == pool.actor_pids()


def test_actor_restarts_after_crash_and_request_is_retried(pool):
    slow = "import time\ntime.sleep(2)\n" + GOOD_CHART

    async def go():
        pool._outstanding = [0, 10**6]  # route to actor 0
        task = asyncio.ensure_future(pool.render("chart", slow))
        await asyncio.sleep(1.0)
        os.kill(pool.actor_pids()[0], signal.SIGKILL)
        return await task

    pids_before = pool.actor_pids()
    res = asyncio.run(go())
    assert res.ok, res.message  # retried on the restarted actor
    pool._outstanding = [0, 0]
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            pids_after = pool.actor_pids()
            break
        except ray.exceptions.RayActorError:
            time.sleep(0.5)
    assert pids_after[0] != pids_before[0] and pids_after[1] == pids_before[1]
    assert pool.render_sync("chart", GOOD_CHART).ok


def test_dead_pool_gives_crash_results_not_exceptions(ray_cluster):
    p = RenderPool(name=f"dead_{uuid.uuid4().hex[:6]}", size=1, num_cpus=0)
    p.shutdown()
    res = p.render_sync("chart", GOOD_CHART)
    assert not res.ok and res.error_kind == "crash" and "render actor failed" in res.message


def test_hostile_programs_through_the_pool(pool):
    hostile = [
        ("chart", "while True: pass"),
        ("chart", "import os\nos.kill(os.getppid(), 9)"),
        ("chart", "import ctypes\nctypes.string_at(0)"),
        ("chart", "x = bytearray(10 ** 11)"),
        ("svg", "<!DOCTYPE svg [<!ENTITY x SYSTEM 'file:///etc/passwd'>]><svg>&x;</svg>"),
    ]
    results = asyncio.run(pool.render_many(hostile, timeout_s=3))
    assert [r.error_kind for r in results] == ["timeout", "forbidden", "crash", "memory", "forbidden"]
    assert pool.render_sync("chart", GOOD_CHART).ok
