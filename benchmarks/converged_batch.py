"""Reward time of a GRPO batch whose rollouts converged, against the same batch with every program distinct.

    .venv/bin/python benchmarks/converged_batch.py [--rollouts 8] [--distinct 2] [--workers 2]

Late in training the n rollouts of a prompt are often the same program. ``RewardPipeline`` renders a program
the batch shares once (renders are seeded: same program, same pixels) and the prompt's reference once, and
judges identical (reference, render) pairs once. The baseline is the same batch with a different trailing
comment on every response (same pixels, distinct programs: nothing shared but the reference), scored by the
same pipeline in the same run over the bundled examples (structural critic, local warm render workers).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from verm_rl.data.inject import inject  # noqa: E402
from verm_rl.examples import bundled_examples  # noqa: E402
from verm_rl.judge.structural import StructuralJudge  # noqa: E402
from verm_rl.render.local_pool import LocalRenderPool  # noqa: E402
from verm_rl.reward import RewardPipeline, ScoreItem  # noqa: E402

COMMENT = {"chart": "\n# rollout {i}\n", "svg": "\n<!-- rollout {i} -->\n", "table": "\n<!-- rollout {i} -->\n"}


def batch(rollouts: int, distinct: int, unique: bool) -> list[ScoreItem]:
    """Per bundled example, ``rollouts`` responses cycling over ``distinct`` programs (the reference and its
    perturbations); ``unique`` makes every response's text different without changing its pixels."""
    items = []
    for ex in bundled_examples():
        programs = [ex.source] + [p.source for p in inject(ex.task, ex.source, k=distinct - 1, seed=0)]
        for i in range(rollouts):
            code = programs[i % len(programs)]
            if unique:
                code += COMMENT[ex.task].format(i=i)
            items.append(ScoreItem(ex.task, f"```\n{code}\n```", reference_source=ex.source))
    return items


async def timed(pipe: RewardPipeline, items: list[ScoreItem]) -> tuple[float, list[float]]:
    start = time.perf_counter()
    result = await pipe.score(items)
    return time.perf_counter() - start, [s.reward.total for s in result.samples]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rollouts", type=int, default=8)
    ap.add_argument("--distinct", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    converged, baseline = batch(args.rollouts, args.distinct, False), batch(args.rollouts, args.distinct, True)
    with LocalRenderPool(args.workers) as pool:
        judge = StructuralJudge(render=pool.render)

        async def run() -> dict[str, tuple[float, list[float]]]:
            await RewardPipeline(pool, judge).score(converged[:3])  # warm the workers
            out = {}
            for name, items in (("distinct", baseline), ("converged", converged)):
                out[name] = await timed(RewardPipeline(pool, judge), items)  # fresh pipeline: no cached reference
            await judge.close()
            return out

        out = asyncio.run(run())
    (t_base, r_base), (t_conv, r_conv) = out["distinct"], out["converged"]
    n = len(converged)
    print(f"{n} samples ({args.rollouts} rollouts x {len(bundled_examples())} prompts, {args.distinct} distinct "
          f"programs per prompt), {args.workers} render workers")
    print(f"every program distinct: {t_base:.2f} s ({n / t_base:.1f} samples/s)")
    print(f"converged rollouts:     {t_conv:.2f} s ({n / t_conv:.1f} samples/s)")
    same = sum(abs(a - b) < 1e-9 for a, b in zip(r_base, r_conv, strict=True))
    print(f"same reward in both batches: {same}/{n}")
    print(f"speed-up converged / distinct: {t_base / t_conv:.2f}x")


if __name__ == "__main__":
    main()
