"""The structural critic on pairs that look the same: metamorphic rewrites verified pixel-identical.

    .venv/bin/python benchmarks/critic_equivalence.py [--refs 90] [--seed 11] [--workers 2]

For each synthetic reference (charts, tables, SVGs), every rewrite of ``verm_rl.data.rewrite``
(pyplot vs object API, loops vs vectorised calls, colour spellings, call order, names, format
strings vs keywords; SVG attributes vs CSS, group transforms, ``<use>``; markdown spacing, HTML vs
markdown) is rendered in the real sandbox next to its reference. Pairs whose renders are not
pixel-identical are dropped (counted); on the rest the critic compares the programs with its pixel
short-cut switched off, and every error it reports is a false positive. Prints one row per task
and rewrite kind; ``--json`` writes the table.
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
from verm_rl.eval.agreement import equivalence_summary, measure_equivalence  # noqa: E402
from verm_rl.render.local_pool import LocalRenderPool  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--refs", type=int, default=90, help="references in all, cycling over the three tasks")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", help="write the summary table here")
    parser.add_argument("--show", type=int, default=3, help="print this many false positives in full")
    args = parser.parse_args()
    refs = generate_references(args.refs, seed=args.seed)
    start = time.monotonic()
    with LocalRenderPool(size=args.workers) as pool:
        results = asyncio.run(measure_equivalence(refs, pool.render, seed=args.seed, concurrency=2 * args.workers))
    table = equivalence_summary(results)
    print(f"{len(refs)} references, {len(results)} rewrites in {time.monotonic() - start:.1f} s")
    print(f"{'task':6} {'rewrite':18} {'verified':>8} {'not_ident':>9} {'failed':>6} {'FP':>4} {'FP rate':>8}")
    for task, kinds in table.items():
        for kind, row in sorted(kinds.items(), key=lambda kv: (kv[0] == "all", kv[0])):
            print(f"{task:6} {kind:18} {row['verified']:8d} {row['not_identical']:9d} {row['not_rendered']:6d} "
                  f"{row['false_positives']:4d} {row['fp_rate']:8.3f}")
    total = sum(kinds["all"]["verified"] for kinds in table.values())
    fps = sum(kinds["all"]["false_positives"] for kinds in table.values())
    print(f"all    verified-identical pairs {total}, false positives {fps} ({fps / max(total, 1):.3f})")
    for r in [r for r in results if r.errors][:args.show]:
        print(f"  FP {r.task}/{r.kind} {r.reference_id}: {[(e.category, e.location, e.description) for e in r.errors]}")
    if args.json:
        Path(args.json).write_text(json.dumps(table, indent=2))


if __name__ == "__main__":
    main()
