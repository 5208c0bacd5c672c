"""One GRPO step's reward: streaming scoring (ours) vs scoring after the rollout ends (upstream), same inputs.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/step_simulation.py [--prompts 256 --n 8]   # paper scale
    PYTHONPATH=$PWD .venv/bin/python benchmarks/step_simulation.py --prompts 16 --n 4      # a few minutes here

What is real: the programs (seeded synthetic charts from ``verm_rl.data.synthetic``; each prompt's n
responses are the reference program and error-injected variants from ``verm_rl.data.inject``, a few
truncated so they fail), every render (the Ray ``RenderPool``, warm sandboxed workers, here on this
machine's CPUs), the ``RewardPipeline`` (de-duplication, reward formula) and its streaming entry
``score_one`` exactly as verl's reward loop calls it through our reward manager.

What is modelled (stated in the output): (1) when each rollout finishes: all start together (a sync
GRPO step), response lengths are log-normal (median ``--median-tokens``, sigma ``--sigma``, capped at
``--max-tokens``), decoded at ``--decode-tps`` tokens/s per sequence, and the whole timeline is
multiplied by ``--time-scale`` (1 by default; the judge's latency too, renders stay real); (2) the
judge: an in-process delay model (``SimulatedJudge``) with ``--judge-slots`` concurrent requests of
``--judge-latency`` s each (a vLLM server batches up to its slot count; throughput = slots / latency)
that returns the injected errors as its verdict (an oracle, so rewards are meaningful).

Reported: the reward tail (last reward minus last rollout finish) for both, and the step's reward time.
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

import numpy as np  # noqa: E402
import ray  # noqa: E402

from reward_workers import RenderPool  # noqa: E402
from verm_rl.data.inject import inject  # noqa: E402
from verm_rl.data.synthetic import generate_references  # noqa: E402
from verm_rl.judge import JudgeBackend, Judgement, JudgeRequest  # noqa: E402
from verm_rl.judge.schema import JudgedError  # noqa: E402
from verm_rl.reward import RewardPipeline, ScoreItem  # noqa: E402


class SimulatedJudge(JudgeBackend):
    """A judge server as a delay model: ``slots`` requests at a time, ``latency_s`` each; the verdict is the
    list of errors injected into the candidate program (looked up by its source)."""

    name = "simulated"

    def __init__(self, verdicts: dict[str, list[JudgedError]], latency_s: float, slots: int):
        self.verdicts, self.latency_s = verdicts, latency_s
        self._slots = slots
        self._sem: asyncio.Semaphore | None = None
        self.calls = 0

    async def _one(self, request: JudgeRequest) -> Judgement:
        assert self._sem is not None
        async with self._sem:
            start = time.monotonic()
            await asyncio.sleep(self.latency_s)
            self.calls += 1
            errors = list(self.verdicts.get((request.candidate_source or "").strip(), []))
            return Judgement(task=request.task, errors=errors, seconds=time.monotonic() - start)

    async def judge(self, requests: list[JudgeRequest]) -> list[Judgement]:
        if self._sem is None:
            self._sem = asyncio.Semaphore(self._slots)
        return list(await asyncio.gather(*(self._one(r) for r in requests)))


def make_step(prompts: int, n: int, broken: float, seed: int) -> tuple[list[ScoreItem], dict[str, list[JudgedError]]]:
    """``prompts`` reference charts, ``n`` responses each (the reference itself, injected variants, a few
    truncated programs), with the errors each response carries."""
    rng = random.Random(seed)
    items, verdicts = [], {}
    for p, ref in enumerate(generate_references(prompts, seed=seed, tasks=("chart",))):
        variants = [(ref.source, [])] + [(v.source, v.errors) for v in inject("chart", ref.source, k=n - 1, seed=p)]
        for j in range(n):
            source, errors = variants[j % len(variants)]
            if rng.random() < broken:
                source = source[: len(source) // 2] + "\nplt.plot(("  # a cut-off response: does not parse
            verdicts[source.strip()] = errors
            items.append(ScoreItem("chart", f"```python\n{source}\n```", reference_source=ref.source,
                                   uid=f"{p}_{j}"))
    return items, verdicts


def finish_times(count: int, args: argparse.Namespace, seed: int) -> np.ndarray:
    """Seconds from the step's start at which each rollout finishes (already multiplied by the time scale)."""
    rng = np.random.default_rng(seed)
    tokens = np.minimum(rng.lognormal(np.log(args.median_tokens), args.sigma, count), args.max_tokens)
    return (args.prefill_s + tokens / args.decode_tps) * args.time_scale


async def streaming(pipe: RewardPipeline, items: list[ScoreItem], finish: np.ndarray) -> tuple[float, float, list]:
    """Each sample is scored the moment its rollout finishes (verl's reward loop → ``score_one``)."""
    t0 = time.monotonic()
    done_at: list[float] = []

    async def one(item: ScoreItem, at: float):
        await asyncio.sleep(max(0.0, at - (time.monotonic() - t0)))
        sample = await pipe.score_one(item)
        done_at.append(time.monotonic() - t0)
        return sample

    samples = await asyncio.gather(*(one(i, float(f)) for i, f in zip(items, finish, strict=True)))
    return float(finish.max()), max(done_at), samples


async def after_rollout(pipe: RewardPipeline, items: list[ScoreItem], finish: np.ndarray) -> tuple[float, float, list]:
    """Upstream: nothing is scored until the last rollout has finished, then the whole batch."""
    t0 = time.monotonic()
    await asyncio.sleep(float(finish.max()))
    result = await pipe.score(items)
    return float(finish.max()), time.monotonic() - t0, result.samples


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prompts", type=int, default=256)
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--actors", type=int, default=2, help="render actors (one CPU each)")
    ap.add_argument("--median-tokens", type=float, default=900.0)
    ap.add_argument("--sigma", type=float, default=0.6)
    ap.add_argument("--max-tokens", type=int, default=8192)
    ap.add_argument("--decode-tps", type=float, default=30.0, help="decode tokens/s per sequence")
    ap.add_argument("--prefill-s", type=float, default=2.0)
    ap.add_argument("--time-scale", type=float, default=1.0,
                    help="multiplies the modelled times (rollout finishes, judge latency); renders stay real")
    ap.add_argument("--judge-latency", type=float, default=4.0, help="seconds per judge request")
    ap.add_argument("--judge-slots", type=int, default=0,
                    help="concurrent judge requests (0: 128 per 2048 samples, scaled with the step)")
    ap.add_argument("--broken", type=float, default=0.05, help="share of truncated responses")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    items, verdicts = make_step(args.prompts, args.n, args.broken, args.seed)
    slots = args.judge_slots or max(1, round(128 * len(items) / 2048))
    finish = finish_times(len(items), args, args.seed)
    unscaled = finish / args.time_scale
    print("assumptions:")
    print(f"  step: {args.prompts} prompts x {args.n} responses = {len(items)} samples (synthetic charts; "
          f"responses = reference + injected variants, {args.broken:.0%} truncated)")
    print(f"  rollout: lengths log-normal(median {args.median_tokens:g} tokens, sigma {args.sigma:g}, cap "
          f"{args.max_tokens}) at {args.decode_tps:g} tokens/s per sequence + {args.prefill_s:g} s prefill: "
          f"finishes p50 {np.percentile(unscaled, 50):.0f} s, p99 {np.percentile(unscaled, 99):.0f} s, last "
          f"{unscaled.max():.0f} s; timeline x{args.time_scale:g} here (last at {finish.max():.1f} s)")
    print(f"  judge: in-process delay model, {slots} concurrent requests x {args.judge_latency:g} s "
          f"({slots / args.judge_latency:.1f} req/s; 128 slots per 2048 samples, as 2 judge GPUs serving "
          "Visual-ERM 8B with vLLM at ~64 sequences each and ~4 s per two-image request); verdict = the injected "
          f"errors; latency x{args.time_scale:g} with the timeline")
    print(f"  renders: real (not time-scaled), Ray RenderPool of {args.actors} actors on this machine (paper scale: "
          f"48 per 2048 samples); one reward pipeline "
          "(streaming: score_one per finished sample; after: score() of the whole batch)")

    ray.init(num_cpus=args.actors, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    try:
        rows = []
        for mode, run in (("streaming (ours)", streaming), ("after rollout (upstream)", after_rollout)):
            pool = RenderPool(name=f"step_{uuid.uuid4().hex[:6]}", size=args.actors)
            ray.get([a.render.remote("chart", items[0].reference_source) for a in pool.actors])  # warm workers
            judge = SimulatedJudge(verdicts, args.judge_latency * args.time_scale, slots)
            pipe = RewardPipeline(pool, judge)
            last_rollout, last_reward, samples = asyncio.run(run(pipe, items, finish))
            pool.shutdown()
            assert len(samples) == len(items)
            rewards = [s.reward.total for s in samples]
            rows.append((mode, last_rollout, last_reward, last_reward - last_rollout, judge.calls,
                         float(np.mean(rewards)), sum(s.render.ok for s in samples)))
        print(f"{'mode':26} {'last rollout s':>14} {'last reward s':>13} {'tail s':>7} {'judge calls':>11} "
              f"{'mean reward':>11} {'renders ok':>10}")
        for mode, lr, lw, tail, calls, mean, ok in rows:
            print(f"{mode:26} {lr:14.1f} {lw:13.1f} {tail:7.1f} {calls:11d} {mean:11.3f} {ok:>6}/{len(items)}")
        ratio = rows[1][3] / max(rows[0][3], 1e-9)
        print(f"reward tail after the last rollout: streaming {rows[0][3]:.1f} s vs after-rollout {rows[1][3]:.1f} s "
              f"({ratio:.1f}x shorter)")
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
