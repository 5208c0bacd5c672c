"""Reward hacking: charts that look almost the same but have wrong data or text, scored by each reward.

    .venv/bin/python benchmarks/reward_hacking.py [--refs 40] [--seed 7]
    .venv/bin/python benchmarks/reward_hacking.py --dino-path /models/dinov2-large \\
        --verm-endpoint http://127.0.0.1:8000 --verm-model reward_service      # with real weights

Pairs come from the error injector (a data value changed, a title/label edited, a tick label or a
legend entry renamed). For each reward we print the visual term it gives the wrong chart (1 =
"identical"): pixel similarity barely moves, while a judge that reads the chart does.
A randomly initialised DINOv2 proves nothing: pass real weights with --dino-path.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from verm_rl.data.inject import inject  # noqa: E402
from verm_rl.data.synthetic import generate_references  # noqa: E402
from verm_rl.judge import JudgeRequest  # noqa: E402
from verm_rl.judge.structural import compare_sources  # noqa: E402
from verm_rl.render.local_pool import LocalRenderPool  # noqa: E402
from verm_rl.reward.severity import RELEASED_MAX_SEVERITY, severity_reward  # noqa: E402
from verm_rl.similarity import pixel_l2_similarity, ssim_similarity  # noqa: E402

KINDS = ["data_value", "text", "ticks", "legend_label"]


async def collect(refs: int, seed: int) -> list[dict]:
    rows = []
    with LocalRenderPool() as pool:
        for ref in generate_references(refs, seed=seed, tasks=("chart",)):
            ref_res = await pool.render("chart", ref.source, trace=True)
            for p in inject("chart", ref.source, k=len(KINDS), seed=seed, kinds=KINDS):
                res = await pool.render("chart", p.source, trace=True)
                if not (ref_res.ok and res.ok) or res.png == ref_res.png:
                    continue
                errors = compare_sources("chart", ref.source, p.source, ref_res.meta["trace"], res.meta["trace"])
                severity = sum(e.severity for e in errors)
                rows.append({"kind": p.kind, "ref": ref_res.png, "cand": res.png,
                             "ssim": ssim_similarity(ref_res.png, res.png),
                             "l2": pixel_l2_similarity(ref_res.png, res.png),
                             "structural": severity_reward(severity, RELEASED_MAX_SEVERITY),
                             "structural_bm": severity})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--refs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--dino-path", help="local DINOv2 weights (adds a dino column)")
    parser.add_argument("--verm-endpoint", help="OpenAI-compatible Visual-ERM endpoint (adds a verm column)")
    parser.add_argument("--verm-model", default="reward_service")
    args = parser.parse_args()
    rows = asyncio.run(collect(args.refs, args.seed))
    columns = ["ssim", "l2", "structural"]
    if args.dino_path:
        from verm_rl.similarity.dino import DinoScorer

        scorer = DinoScorer(args.dino_path)
        for row, value in zip(rows, scorer.similarities([(r["ref"], r["cand"]) for r in rows]), strict=True):
            row["dino"] = value
        columns.append("dino")
    if args.verm_endpoint:
        from verm_rl.judge.http import HttpJudge

        judge = HttpJudge(endpoints=[args.verm_endpoint], model=args.verm_model)
        judged = asyncio.run(judge.judge([JudgeRequest("chart", r["ref"], r["cand"]) for r in rows]))
        for row, j in zip(rows, judged, strict=True):
            row["verm"] = severity_reward(j.total_severity, RELEASED_MAX_SEVERITY) if j.parse_ok else float("nan")
        columns.append("verm")
    by_kind = defaultdict(list)
    for r in rows:
        by_kind[r["kind"]].append(r)
    print(f"{len(rows)} wrong-but-similar chart pairs (seed {args.seed}); visual term each reward gives them "
          "(1.0 = judged identical)\n")
    print("| perturbation | pairs | " + " | ".join(columns) + " |")
    print("|---|---|" + "---|" * len(columns))
    for kind in KINDS + ["all"]:
        group = rows if kind == "all" else by_kind.get(kind, [])
        if group:
            cells = " | ".join(f"{np.nanmean([g[c] for g in group]):.3f}" for c in columns)
            print(f"| {kind} | {len(group)} | {cells} |")
    caught = np.mean([r["structural_bm"] > 0 for r in rows])
    print(f"\nstructural judge flags {caught:.0%} of the pairs; SSIM > 0.95 on "
          f"{np.mean([r['ssim'] > 0.95 for r in rows]):.0%} of them")


if __name__ == "__main__":
    main()
