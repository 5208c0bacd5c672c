"""``verm-rl``: command-line entry points."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from verm_rl.tasks import TASKS


def _render_command(args: argparse.Namespace) -> int:
    from verm_rl.examples import Example, bundled_examples
    from verm_rl.render import Renderer

    items = bundled_examples() if args.examples else []
    for path in args.files:
        p = Path(path)
        task = args.task or p.name.split("_", 1)[0]
        if task not in TASKS:
            print(f"{p}: pass --task ({'/'.join(TASKS)}): cannot tell the task from the name", file=sys.stderr)
            return 2
        items.append(Example(p.stem, task, p.read_text()))
    if not items:
        print("nothing to render: give files or --examples", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = []
    with Renderer(dpi=args.dpi) as renderer:
        for ex in items:
            res = renderer.render(ex.task, ex.source)
            if res.ok:
                (out / f"{ex.name}.png").write_bytes(res.png)
            status = "ok" if res.ok else f"{res.error_kind}: {res.message[:80]}"
            print(f"{ex.task:6s} {ex.name:28s} {res.seconds * 1000:7.1f} ms  {status}")
            summary.append({"name": ex.name, "task": ex.task, "ok": res.ok, "error_kind": res.error_kind,
                            "message": res.message, "seconds": res.seconds, "layers": res.meta.get("layers")})
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    n_ok = sum(s["ok"] for s in summary)
    print(f"rendered {n_ok}/{len(summary)} into {out}/")
    return 0 if n_ok == len(summary) or not args.examples else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="verm-rl", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("render", help="render chart/table/SVG sources in the sandbox")
    r.add_argument("files", nargs="*", help="source files (task from the name prefix, or --task)")
    r.add_argument("--task", choices=TASKS)
    r.add_argument("--examples", action="store_true", help="render the bundled examples")
    r.add_argument("--out", default="outputs/render")
    r.add_argument("--dpi", type=int, default=100)
    r.set_defaults(func=_render_command)

    s = sub.add_parser("synth", help="write labelled (reference, perturbed) pairs for judge SFT and evaluation")
    s.add_argument("--n", type=int, default=200, help="number of pairs")
    s.add_argument("--out", default="outputs/synth")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--k", type=int, default=3, help="perturbations per reference")
    s.add_argument("--tasks", default="chart,table,svg")
    s.add_argument("--workers", type=int, default=0, help="render workers (default: one per core)")
    s.set_defaults(func=_synth_command)

    d = sub.add_parser("prepare", help="convert local data (or make synthetic data) into verl parquet")
    d.add_argument("--kind", required=True, choices=["synthetic", "code-pairs", "tables", "svgs"])
    d.add_argument("--src", help="folder (or .jsonl for code-pairs) of the local copy")
    d.add_argument("--task", default="chart", choices=TASKS, help="task of code-pairs (chart)")
    d.add_argument("--n", type=int, default=300, help="synthetic: number of references")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--split", default="train")
    d.add_argument("--out", required=True, help="parquet file to write")
    d.set_defaults(func=_prepare_command)

    c = sub.add_parser("compare", help="compare reward arms: markdown table + plots from wandb or offline runs")
    c.add_argument("runs_dirs", nargs="*", help="offline run folders (wandb/offline-run-*, or folders above them)")
    c.add_argument("--project", help="wandb project (with --group or --runs; needs the wandb API)")
    c.add_argument("--group", help="wandb group = sweep id (also filters offline runs)")
    c.add_argument("--runs", dest="run_ids", nargs="+", help="wandb run ids")
    c.add_argument("--entity", help="wandb entity")
    c.add_argument("--metrics", nargs="+", help="glob patterns of metrics (default: val-common/*, verm/*/render_rate, "
                                               "verm/*/reward/*, verm/*/severity/*)")
    c.add_argument("--out", default="compare", help="output folder")
    c.add_argument("--open", action="store_true", help="print the path of an HTML page with the table and plots")
    c.set_defaults(func=_compare_command)

    j = sub.add_parser("serve-judge", help="serve a local judge model as an OpenAI-compatible HTTP endpoint")
    j.add_argument("--model-path", required=True, help="local folder of the judge (e.g. Visual-ERM)")
    j.add_argument("--host", default="127.0.0.1")
    j.add_argument("--port", type=int, default=8000)
    j.add_argument("--served-model-name", default="reward_service")
    j.add_argument("--engine", default="transformers", choices=["transformers", "vllm", "auto"])
    j.add_argument("--max-batch-size", type=int, default=16)
    j.add_argument("--max-wait-ms", type=float, default=20.0)
    j.add_argument("--device", default="auto")
    j.set_defaults(func=_serve_judge_command)
    return parser


def _compare_command(args: argparse.Namespace) -> int:
    from verm_rl.compare import DEFAULT_METRICS, CompareError, compare, load_runs

    try:
        runs = load_runs(args.runs_dirs, args.project, args.group, args.run_ids or (), args.entity)
        result = compare(runs, args.out, args.metrics or DEFAULT_METRICS)
    except CompareError as e:
        print(f"compare: {e}", file=sys.stderr)
        return 2
    print(result.table)
    print(f"table: {result.markdown}\nplots: {', '.join(str(p) for p in result.pngs)}")
    if args.open:
        print(result.html.resolve())
    return 0


def _prepare_command(args: argparse.Namespace) -> int:
    import asyncio

    from verm_rl.data import dataset as ds
    from verm_rl.render.local_pool import LocalRenderPool

    if args.kind == "synthetic":
        items, report = ds.synthetic_items(args.n, seed=args.seed), ds.ConversionReport()
    elif not args.src:
        print("--src is required", file=sys.stderr)
        return 2
    elif args.kind == "code-pairs":
        items, report = ds.collect_code_pairs(args.src, args.task)
    elif args.kind == "tables":
        items, report = ds.collect_tables(args.src)
    else:
        items, report = ds.collect_svgs(args.src)
    with LocalRenderPool() as pool:
        rows, report = asyncio.run(ds.rows_from_sources(items, pool.render, split=args.split, report=report))
    path = ds.write_parquet(rows, args.out)
    print(f"{path}: {report.summary()}")
    return 0 if rows else 1


def _synth_command(args: argparse.Namespace) -> int:
    import asyncio

    from verm_rl.data.synth import synthesize
    from verm_rl.render.local_pool import LocalRenderPool

    tasks = tuple(t.strip() for t in args.tasks.split(",") if t.strip())
    with LocalRenderPool(args.workers or None) as pool:
        summary = asyncio.run(synthesize(args.out, args.n, pool.render, seed=args.seed, k=args.k, tasks=tasks))
    print(json.dumps({k: v for k, v in summary.items() if k != "agreement"}))
    for task, a in summary["agreement"].items():
        o = a["overall"]
        print(f"structural judge on {task}: precision {o['precision']:.3f} recall {o['recall']:.3f} "
              f"over {a['pairs']} pairs")
    return 0


def _serve_judge_command(args: argparse.Namespace) -> int:
    from verm_rl.judge.server import serve

    kwargs = {"device": args.device} if args.engine == "transformers" else {}
    serve(args.model_path, host=args.host, port=args.port, served_model_name=args.served_model_name,
          engine=args.engine, max_batch_size=args.max_batch_size, max_wait_ms=args.max_wait_ms, **kwargs)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
