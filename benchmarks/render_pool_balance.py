"""Render pool balance: K independent handles in K processes (as verl's reward-loop workers) on one pool.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/render_pool_balance.py [--actors 2] [--handles 8] [--renders 160]

Setup (stated in the output too): a local Ray cluster with one CPU per render actor; ``--renders``
real synthetic chart programs (``verm_rl.data.synthetic``), each made unique. Each sample goes to a
client chosen at random (verl's ``random.choice(reward_loop_worker_handles)``); each client is a
separate Ray actor process with its own ``RenderPool`` handle that keeps ``--in-flight`` renders
outstanding (verl streams finished samples, so a worker's share in flight is small against the number
of actors: that is the regime where per-handle balancing fails). Baselines in the same run: one
actor's rate alone (one handle, one actor), and the same pool driven by one handle. Reported per
routing: renders per actor (max/mean) and throughput, also as ``busy``: the actors' render seconds over
actors x wall time in the same run, i.e. throughput / (actors x one actor's rate at that moment), which
other load on the machine does not skew. Targets: max/mean <= 1.3 and busy >= 0.8. ``local`` is the
routing before the fix (fewest of the handle's own requests in flight, ties to the first actor).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ray  # noqa: E402

from reward_workers import RenderPool  # noqa: E402
from verm_rl.data.synthetic import generate_references  # noqa: E402


def chart_programs(n: int, seed: int = 0) -> list[tuple[str, str]]:
    refs = generate_references(n, seed=seed, tasks=("chart",))
    return [("chart", r.source + f"\nplt.gcf().text(0.01, 0.01, 'sample {i}', fontsize=6)\n")
            for i, r in enumerate(refs)]


class Client:
    """One reward-loop worker: its own handle to the named pool, ``in_flight`` renders outstanding."""

    def __init__(self, name: str, routing: str):
        self.pool = RenderPool(name=name, routing=routing)

    async def run(self, items: list[tuple[str, str]], in_flight: int) -> tuple[int, float]:
        """Renders that succeeded, and the seconds the actors spent rendering them."""
        sem = asyncio.Semaphore(in_flight)

        async def one(task: str, source: str):
            async with sem:
                return await self.pool.render(task, source)

        results = await asyncio.gather(*(one(t, s) for t, s in items))
        return sum(r.ok for r in results), sum(r.seconds for r in results)


def counts(pool: RenderPool) -> list[int]:
    return [s.count for s in pool.per_actor_stats()]


def warm(pool: RenderPool, item: tuple[str, str]) -> None:
    """One render on every actor, so that worker start-up is not timed."""
    ray.get([a.render.remote(*item) for a in pool.actors])


def one_actor_rate(items: list[tuple[str, str]]) -> float:
    pool = RenderPool(name=f"bal_one_{uuid.uuid4().hex[:6]}", size=1, spread=False)
    warm(pool, items[0])
    start = time.perf_counter()
    results = asyncio.run(pool.render_many(items))
    seconds = time.perf_counter() - start
    pool.shutdown()
    assert all(r.ok for r in results), [r.message for r in results if not r.ok][:2]
    return len(items) / seconds


def one_handle(items: list[tuple[str, str]], actors: int, routing: str) -> tuple[float, float]:
    """Renders/s through one handle, and the actors' utilisation (render seconds / (actors x wall))."""
    pool = RenderPool(name=f"bal_h1_{uuid.uuid4().hex[:6]}", size=actors, routing=routing)
    warm(pool, items[0])
    start = time.perf_counter()
    results = asyncio.run(pool.render_many(items))
    seconds = time.perf_counter() - start
    pool.shutdown()
    return len(items) / seconds, sum(r.seconds for r in results) / (actors * seconds)


def many_handles(items: list[tuple[str, str]], actors: int, handles: int, in_flight: int, routing: str,
                 seed: int) -> dict[str, float]:
    name = f"bal_{routing}_{uuid.uuid4().hex[:6]}"
    pool = RenderPool(name=name, size=actors, routing=routing)
    warm(pool, items[0])
    client_cls = ray.remote(num_cpus=0)(Client)
    clients = [client_cls.remote(name, routing) for _ in range(handles)]
    rng = random.Random(seed)
    shares: list[list[tuple[str, str]]] = [[] for _ in range(handles)]
    for item in items:
        shares[rng.randrange(handles)].append(item)
    before = counts(pool)
    ray.get([c.__ray_ready__.remote() for c in clients])
    start = time.perf_counter()
    outs = ray.get([c.run.remote(share, in_flight) for c, share in zip(clients, shares, strict=True)])
    seconds = time.perf_counter() - start
    per_actor = [b - a for a, b in zip(before, counts(pool), strict=True)]
    for c in clients:
        ray.kill(c)
    pool.shutdown()
    mean = sum(per_actor) / len(per_actor)
    return {"ok": sum(o[0] for o in outs), "seconds": seconds, "rate": len(items) / seconds,
            "utilisation": sum(o[1] for o in outs) / (actors * seconds),
            "max_over_mean": max(per_actor) / mean if mean else float("inf"), "per_actor": per_actor}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--actors", type=int, default=2)
    ap.add_argument("--handles", type=int, default=8)
    ap.add_argument("--renders", type=int, default=160)
    ap.add_argument("--in-flight", type=int, default=1, help="renders each handle keeps outstanding")
    ap.add_argument("--routings", default="p2c,random,local")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    ray.init(num_cpus=args.actors, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    try:
        items = chart_programs(args.renders, args.seed)
        print(f"setup: {args.actors} render actors (1 CPU each), {args.handles} handles in separate processes, "
              f"{args.in_flight} render(s) in flight per handle, {args.renders} synthetic charts, samples sent "
              "to handles at random (as verl)")
        rate1 = one_actor_rate(items[: max(8, args.renders // (2 * args.actors))])
        ideal = args.actors * rate1
        print(f"one actor alone: {rate1:.2f} renders/s -> ideal for the pool {ideal:.2f}/s, "
              f"target >= {0.8 * ideal:.2f}")
        print("busy = the actors' render seconds / (actors x wall time) in the same run: the throughput as a share "
              "of actors x one actor's rate at that moment (robust to other load on the machine)")
        print(f"{'routing':8} {'1 handle/s':>10} {'busy':>5} {'K handles/s':>11} {'busy':>5} {'vs alone':>8} "
              f"{'max/mean':>8}  per actor")
        for routing in args.routings.split(","):
            single, single_busy = one_handle(items, args.actors, routing)
            res = many_handles(items, args.actors, args.handles, args.in_flight, routing, args.seed)
            assert res["ok"] == len(items), f"{len(items) - res['ok']} renders failed"
            verdict = "PASS" if res["max_over_mean"] <= 1.3 and res["utilisation"] >= 0.8 else "FAIL"
            print(f"{routing:8} {single:10.2f} {single_busy:5.2f} {res['rate']:11.2f} {res['utilisation']:5.2f} "
                  f"{res['rate'] / ideal:8.2f} {res['max_over_mean']:8.2f}  {res['per_actor']}  {verdict}", flush=True)
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
