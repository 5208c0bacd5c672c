"""Many independent pool handles (one per verl reward-loop worker, each in its own process) must spread renders
over every actor. Before the fix each handle picked the actor with the fewest of *its own* requests in flight,
ties to actor 0, so handles that send one sample at a time all rendered on actor 0."""

from __future__ import annotations

import uuid

import pytest
import ray

from reward_workers import RenderPool
from tests.render.programs import GOOD_SVG


@ray.remote(num_cpus=0)
def stream_renders(name: str, size: int, n: int) -> list[bool]:
    """A reward-loop worker: its own handle, one sample at a time (as verl's streaming reward sends them)."""
    from reward_workers import RenderPool

    handle = RenderPool(name=name, size=size, num_cpus=0)
    svg = GOOD_SVG.replace("</svg>", '<circle cx="{}" cy="5" r="2"/></svg>')
    return [handle.render_sync("svg", svg.format(i)).ok for i in range(n)]


def per_actor_counts(pool: RenderPool) -> list[int]:
    return [s.count for s in ray.get([a.get_stats.remote() for a in pool.actors])]


@pytest.fixture
def pool4(ray_cluster):
    p = RenderPool(name=f"bal_{uuid.uuid4().hex[:6]}", size=4, num_cpus=0)
    yield p
    p.shutdown()


def test_independent_handles_spread_over_every_actor(pool4):
    handles, per_handle = 4, 6
    results = ray.get([stream_renders.remote(pool4.name, 4, per_handle) for _ in range(handles)])
    assert all(all(r) for r in results)
    counts = per_actor_counts(pool4)
    assert sum(counts) == handles * per_handle
    assert min(counts) > 0, counts  # before the fix: [24, 0, 0, 0]
    assert max(counts) / (sum(counts) / len(counts)) <= 2.5, counts


def test_auto_size_is_decided_once_and_discovered_by_later_handles(ray_cluster):
    from reward_workers.render_pool import free_cpus_per_node
    from reward_workers.sizing import render_pool_size

    name = f"auto_{uuid.uuid4().hex[:6]}"
    expected = render_pool_size("auto", sum(free_cpus_per_node().values()), 0.5)
    first = RenderPool(name=name, size="auto", num_cpus=0.5)
    try:
        assert first.size == expected >= 2
        assert first.render_sync("svg", GOOD_SVG).ok  # its actors now hold the CPUs a fresh sizing would see
        later = RenderPool(name=name, size="auto", num_cpus=0.5)
        explicit = RenderPool(name=name, size=7, num_cpus=0.5)
        assert later.size == explicit.size == first.size
        assert later.actor_pids() == explicit.actor_pids() == first.actor_pids()
    finally:
        first.shutdown()


def test_unknown_routing_is_refused():
    with pytest.raises(ValueError, match="routing"):
        RenderPool(name="never", routing="fastest")
