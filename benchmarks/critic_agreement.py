"""The structural critic on injected errors: multi-error pairs (2–4 errors of different categories
at once), scored by matched (category, location) and by VC-RewardBench's F1h/F1s/Sc (deterministic matcher).

    .venv/bin/python benchmarks/critic_agreement.py [--refs 60] [--seed 424242] [--pairs 2]

Single-error agreement is what ``verm-rl synth`` measures (README). Both are circular in part: the
injector labels with the critic's own rule book, so they measure extraction, alignment and
attribution, not whether the rules match what people see; ``critic_equivalence.py`` measures the
other side (false positives on pixel-identical rewrites).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from verm_rl.data.synthetic import generate_references  # noqa: E402
from verm_rl.eval.agreement import measure_multi_agreement  # noqa: E402
from verm_rl.render.local_pool import LocalRenderPool  # noqa: E402
from verm_rl.tasks import task_names  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--refs", type=int, default=60, help="references in all, cycling over the three tasks")
    parser.add_argument("--seed", type=int, default=424242)
    parser.add_argument("--pairs", type=int, default=2, help="multi-error pairs per reference")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    refs = generate_references(args.refs, seed=args.seed)
    start = time.monotonic()
    with LocalRenderPool(size=args.workers) as pool:
        result = asyncio.run(measure_multi_agreement(refs, pool.render, seed=args.seed, n=args.pairs,
                                                     concurrency=2 * args.workers))
    print(f"{len(refs)} references in {time.monotonic() - start:.1f} s; multi-error pairs, (category, location)")
    figures = {}
    for task in task_names():
        if task in result:
            o = figures[task] = {**result[task].overall(), **result[task].vc_rewardbench()}
            print(f"{task:6} pairs {int(o['pairs']):4d}  errors {int(o['support']):4d}  precision {o['precision']:.3f}"
                  f"  recall {o['recall']:.3f}  exact pairs {o['exact_pairs']:.3f}"
                  f"  VC-RewardBench F1h {o['f1_hard']:.1f} F1s {o['f1_soft']:.1f} Sc {o['sc']:.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
