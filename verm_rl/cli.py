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

    m = sub.add_parser("make-judge-data", help="judge SFT data: policy + injected candidates labelled by a teacher")
    m.add_argument("--references", required=True, help="verl parquet, JSONL, code-pair folder, or synthetic:N")
    m.add_argument("--out", default="data/judge")
    m.add_argument("--task", choices=TASKS)
    m.add_argument("--limit", type=int, help="first N references")
    m.add_argument("--teacher", default="structural", help="structural | http://host:port/v1 | model folder")
    m.add_argument("--teacher-model", help="model name at the teacher endpoint")
    m.add_argument("--teacher-api-key")
    m.add_argument("--policy", help="http://host:port/v1 or a model folder (none: injected candidates only)")
    m.add_argument("--policy-model", help="model name at the policy endpoint")
    m.add_argument("--policy-api-key")
    m.add_argument("--policy-samples", type=int, default=2, help="policy answers per reference")
    m.add_argument("--policy-temperature", type=float, default=1.0)
    m.add_argument("--injected", type=int, default=3, help="injected candidates per reference")
    m.add_argument("--max-errors", type=int, default=3, help="injected candidates carry 1..N composed errors")
    m.add_argument("--min-critic-f1", type=float, default=0.3,
                   help="drop pairs where teacher vs structural critic soft F1 is below this (0: off)")
    m.add_argument("--balance-ratio", type=float, default=3.0, help="category cap = ratio x smallest (0: off)")
    m.add_argument("--validation-fraction", type=float, default=0.1, help="share of references held out")
    m.add_argument("--prompt", action="append", default=[], metavar="TASK=FILE", help="judge prompt file per task")
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--concurrency", type=int, default=16)
    m.add_argument("--workers", type=int, default=0, help="render workers (default: one per core)")
    m.set_defaults(func=_make_judge_data_command)

    d = sub.add_parser("prepare", help="convert local data (or make synthetic data) into verl parquet")
    d.add_argument("--kind", required=True, choices=["synthetic", "local", "code-pairs", *(f"{t}s" for t in TASKS)],
                   help="local: --task's own files (its spec's converter); code-pairs: image + code pairs; "
                        "<task>s (tables, svgs): older spelling of local --task <task>")
    d.add_argument("--src", help="folder (or .jsonl for code-pairs) of the local copy")
    d.add_argument("--task", default="chart", choices=TASKS, help="task of local files and code-pairs (chart)")
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
    e = sub.add_parser("evaluate", help="score a policy on ChartMimic, OmniDocBench tables, olmOCR tables or UniSVG")
    e.add_argument("--benchmark", required=True, choices=("chartmimic", "omnidocbench-table", "olmocr-table", "unisvg"))
    e.add_argument("--data", required=True, help="the benchmark's local copy (layouts: README 'Evaluating a policy')")
    e.add_argument("--policy", help="http(s)://host:port/v1 (OpenAI-compatible) or a local model folder")
    e.add_argument("--predictions", help="score these answers instead: JSONL of {id, response} (olmOCR: a .md folder)")
    e.add_argument("--out", default="outputs/eval", help="results folder; a re-run resumes from it")
    e.add_argument("--limit", type=int, help="only the first N items")
    e.add_argument("--model", help="served model name (default: the endpoint's /v1/models)")
    e.add_argument("--api-key", help="API key of the policy endpoint")
    e.add_argument("--concurrency", type=int, default=32, help="generations in flight")
    e.add_argument("--render-workers", type=int, help="sandboxed renderers (default min(8, CPUs))")
    e.add_argument("--cpu-workers", type=int, help="processes for TEDS/table tests (default min(8, CPUs); 0 = none)")
    e.add_argument("--max-tokens", type=int, default=4096)
    e.add_argument("--temperature", type=float, default=0.0)
    e.add_argument("--seed", type=int)
    e.add_argument("--worst", type=int, default=25, help="items on worst.html")
    e.add_argument("--no-progress", action="store_true")
    e.add_argument("--prompt-file", help="replace the benchmark's instruction (keep its <image>; {data} for "
                                         "ChartMimic customized)")
    e.add_argument("--task", choices=("auto", "direct", "customized"), help="ChartMimic task (auto: folder name)")
    e.add_argument("--dpi", type=int, help="ChartMimic: dpi of the render the judge sees (default 100)")
    e.add_argument("--judge", help="ChartMimic high-level score: OpenAI-compatible endpoint (skipped without)")
    e.add_argument("--judge-model", help="judge model name (the paper: gpt-4o-2024-05-13)")
    e.add_argument("--judge-api-key", help="judge API key (or env VERM_JUDGE_API_KEY)")
    e.add_argument("--lpips-path", help="UniSVG: LPIPS weights folder (alexnet.pth [+ alex.pth]); skipped without")
    e.add_argument("--clip-path", help="UniSVG: local openai/clip-vit-large-patch14-336 folder; skipped without")
    e.add_argument("--device", help="UniSVG: torch device for LPIPS/CLIP (default cuda if available)")
    e.add_argument("--official-skips", action="store_true",
                   help="UniSVG: skip unrenderable SVGs as the official script (default: count them as 0)")
    e.add_argument("--count-empty", action="store_true", help="OmniDocBench: score empty answers 0 (default: skip)")
    e.add_argument("--markdown-tables", action="store_true",
                   help="OmniDocBench: convert markdown tables to HTML (default: official, they score 0)")
    e.add_argument("--repeats", type=int, help="olmOCR: generations per page (a test passes on > 50%%)")
    e.add_argument("--page-image-dim", type=int, help="olmOCR: longest side of the page render (default 1288)")
    e.set_defaults(func=_evaluate_command)
    e = sub.add_parser("eval-judge", help="score a judge on VC-RewardBench records (F1h, F1s, Sc)")
    e.add_argument("--data", required=True, help="VC-RewardBench JSONL (released, or `verm-rl synth`'s "
                   "vc_rewardbench.jsonl), or api_judge's results.json (scored as is without --judge)")
    e.add_argument("--judge", help="structural | http://host:port[,…] | ray_actor:<model dir> | <model dir>; "
                   "omit to score the records' pred_json")
    e.add_argument("--judge-model", help="served model name of an http judge (default reward_service)")
    e.add_argument("--api-key")
    e.add_argument("--temperature", type=float, default=0.0, help="judge sampling temperature")
    e.add_argument("--max-tokens", type=int, default=4096, help="judge max new tokens")
    e.add_argument("--engine", default="auto", help="local/ray_actor judge engine: auto, vllm, transformers")
    e.add_argument("--matcher", default="deterministic",
                   help="deterministic (offline) or the OpenAI-compatible endpoint of the matching LLM (paper)")
    e.add_argument("--matcher-model", help="served model name of the matcher (default: asked from /v1/models)")
    e.add_argument("--matcher-api-key")
    e.add_argument("--matcher-temperature", type=float, help="default: not sent (the paper's gpt-5-mini default)")
    e.add_argument("--matcher-max-tokens", type=int, default=8192)
    e.add_argument("--matcher-token-param", default="max_tokens", choices=["max_tokens", "max_completion_tokens"],
                   help="max_completion_tokens for OpenAI reasoning models (gpt-5-mini), which refuse max_tokens")
    e.add_argument("--image-root", help="folder the image paths are relative to (default: the file's)")
    e.add_argument("--limit", type=int, help="at most this many items per category")
    e.add_argument("--categories", default="chart,table,svg")
    e.add_argument("--concurrency", type=int, default=16)
    e.add_argument("--paper", action=argparse.BooleanOptionalAction, default=None,
                   help="print the paper's Table 5 beside ours (default: when the data is the released benchmark)")
    e.add_argument("--workers", type=int, default=0, help="render workers for the structural judge")
    e.add_argument("--out", default="outputs/eval_judge")
    e.set_defaults(func=_eval_judge_command)
    t = sub.add_parser("tts", help="test-time scaling: draft → render → judge → revise with the judge's feedback")
    t.add_argument("--inputs", required=True, help="folder of images (+ reference programs), .jsonl or our .parquet")
    t.add_argument("--policy", required=True, help="http://host:port[/v1][,…] (vllm serve) or a local model folder")
    t.add_argument("--policy-model", help="served model name of an http policy (default: asked from /v1/models)")
    t.add_argument("--policy-api-key")
    t.add_argument("--policy-engine", default="auto", help="local policy engine: auto, vllm, transformers")
    t.add_argument("--judge", default="structural",
                   help="structural | http://host:port[,…] | ray_actor:<model dir> | <model dir>")
    t.add_argument("--judge-model", help="served model name of an http judge (default reward_service)")
    t.add_argument("--api-key", help="API key of an http judge")
    t.add_argument("--engine", default="auto", help="local/ray_actor judge engine")
    t.add_argument("--rounds", type=int, default=3, help="revision rounds after the draft (paper: 3)")
    t.add_argument("--stop-reward", type=float, help="also stop once a round's reward reaches this")
    t.add_argument("--task", choices=TASKS, help="task of a folder's images / keep only this task")
    t.add_argument("--limit", type=int, help="first N inputs")
    t.add_argument("--concurrency", type=int, default=8, help="inputs in flight")
    t.add_argument("--max-tokens", type=int, default=4096)
    t.add_argument("--temperature", type=float, default=0.0)
    t.add_argument("--seed", type=int)
    t.add_argument("--revision-prompt", help="file replacing the error-list feedback template ({what} {lang} {errors})")
    t.add_argument("--norm", type=float, help="reward = render + clip(1 - Σseverity/norm, 0, 1) (default: released 50)")
    t.add_argument("--workers", type=int, default=0, help="render workers (default: one per core)")
    t.add_argument("--out", default="outputs/tts")
    t.set_defaults(func=_tts_command)

    ip = sub.add_parser("import-prompts", help="write the released Visual-ERM judge prompts from a local checkout")
    ip.add_argument("--from", dest="checkout", required=True, help="checkout of InternLM/Visual-ERM")
    ip.add_argument("--out", default="outputs/released_prompts", help="folder for <task>.txt + manifest.json")
    ip.set_defaults(func=_import_prompts_command)

    # every argument (its own --options too) goes to recipes/visual_erm/plan.py, which parses them
    pl = sub.add_parser("plan", add_help=False, prefix_chars="\0", help="placement preflight: does this config "
                        "fit the cluster? (`verm-rl plan --help`)")
    pl.add_argument("plan_args", nargs="*", help="Hydra overrides and plan options")
    pl.set_defaults(func=_plan_command)
    return parser


def _plan_command(args: argparse.Namespace) -> int:
    from recipes.visual_erm.plan import main as plan_main  # the recipe layer: imported only for this command

    return plan_main(args.plan_args)
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
    else:  # "local", or "<task>s": the task's own converter
        items, report = ds.collect_sources(args.task if args.kind == "local" else args.kind[:-1], args.src)
    with LocalRenderPool() as pool:
        rows, report = asyncio.run(ds.rows_from_sources(items, pool.render, split=args.split, report=report))
    path = ds.write_parquet(rows, args.out)
    print(f"{path}: {report.summary()}")
    return 0 if rows else 1


def _synth_command(args: argparse.Namespace) -> int:
    import asyncio

    from verm_rl.judge_data.synth import synthesize
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


def _import_prompts_command(args: argparse.Namespace) -> int:
    from pathlib import Path

    from verm_rl.judge.import_prompts import PromptImportError, check_against_profile, import_prompts

    try:
        manifest = import_prompts(args.checkout, args.out)
    except (PromptImportError, OSError) as e:
        print(f"import-prompts: {e}", file=sys.stderr)
        return 2
    for task, entry in manifest["prompts"].items():
        print(f"{task}: {entry['source_file']}:{entry['symbol']} sha256 {entry['sha256'][:12]}", file=sys.stderr)
    for note in check_against_profile(manifest):
        print(f"warning: {note}", file=sys.stderr)
    print(f"verm.judge.prompts={Path(args.out).resolve()}")
    return 0
def _make_judge_data_command(args: argparse.Namespace) -> int:
    import asyncio

    from verm_rl.judge_data.make import JudgeDataConfig, format_stats, run_make_judge_data

    prompts = dict(p.split("=", 1) for p in args.prompt)
    cfg = JudgeDataConfig(policy_samples=args.policy_samples, policy_temperature=args.policy_temperature,
                          injected=args.injected, max_errors=args.max_errors, min_critic_f1=args.min_critic_f1,
                          balance_ratio=args.balance_ratio, validation_fraction=args.validation_fraction,
                          seed=args.seed, concurrency=args.concurrency, prompts=prompts)
    try:
        stats = asyncio.run(run_make_judge_data(
            args.references, args.out, args.teacher, args.policy, cfg, args.task, args.limit,
            {"model": args.teacher_model, "api_key": args.teacher_api_key} if args.teacher.startswith("http") else {},
            {"model": args.policy_model, "api_key": args.policy_api_key}
            if (args.policy or "").startswith("http") else {}, args.workers or None))
    except (ValueError, FileNotFoundError) as e:
        print(f"make-judge-data: {e}", file=sys.stderr)
        return 2
    print(format_stats(stats))
    print(f"wrote {args.out}/sft_train.jsonl, sft_validation.jsonl, vc_rewardbench_*.jsonl, stats.json")
    return 0 if stats["written"] else 1


def _serve_judge_command(args: argparse.Namespace) -> int:
    from verm_rl.judge.server import serve

    kwargs = {"device": args.device} if args.engine == "transformers" else {}
    serve(args.model_path, host=args.host, port=args.port, served_model_name=args.served_model_name,
          engine=args.engine, max_batch_size=args.max_batch_size, max_wait_ms=args.max_wait_ms, **kwargs)
    return 0


def _evaluate_command(args: argparse.Namespace) -> int:
    import os

    from verm_rl.eval.benchmarks import accepted_options
    from verm_rl.eval.benchmarks.base import DataError
    from verm_rl.eval.benchmarks.runner import EvalConfig, evaluate

    both = args.policy is not None and args.predictions is not None
    neither = args.policy is None and args.predictions is None and not (Path(args.out) / "predictions.jsonl").exists()
    if both or neither:
        print("give exactly one of --policy (generate) or --predictions (score existing answers)", file=sys.stderr)
        return 2
    options, ignored = accepted_options(args.benchmark, {
        "prompt_file": args.prompt_file, "task": args.task, "judge": args.judge, "judge_model": args.judge_model,
        "judge_api_key": args.judge_api_key or os.environ.get("VERM_JUDGE_API_KEY"), "dpi": args.dpi,
        "lpips_path": args.lpips_path, "clip_path": args.clip_path, "device": args.device,
        "count_empty": args.count_empty or None, "markdown_tables": args.markdown_tables or None,
        "repeats": args.repeats, "page_image_dim": args.page_image_dim, "official_skips": args.official_skips or None})
    if ignored:
        flags = ", ".join("--" + k.replace("_", "-") for k in ignored)
        print(f"note: {args.benchmark} ignores {flags}", file=sys.stderr)
    policy_options = {k: v for k, v in {"model": args.model, "api_key": args.api_key}.items() if v}
    cfg = EvalConfig(
        benchmark=args.benchmark, data=Path(args.data), out=Path(args.out), policy=args.policy,
        predictions=Path(args.predictions) if args.predictions else None, limit=args.limit,
        concurrency=args.concurrency, render_workers=args.render_workers, cpu_workers=args.cpu_workers,
        max_tokens=args.max_tokens,
        temperature=args.temperature, seed=args.seed, worst=args.worst, progress=not args.no_progress,
        policy_options=policy_options, benchmark_options=options)
    try:
        summary = evaluate(cfg)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print((Path(args.out) / "summary.md").read_text())
    print(f"per-item results: {args.out}/items.jsonl; worst items: {args.out}/worst.html")
    return 0 if summary["n_items"] else 1
def _eval_judge_command(args: argparse.Namespace) -> int:
    import asyncio

    from verm_rl.eval.judge_eval import run_eval_judge
    from verm_rl.judge import SamplingParams

    options = {"model": args.judge_model, "api_key": args.api_key, "engine": args.engine,
               "max_concurrency": args.concurrency,
               "sampling": SamplingParams(temperature=args.temperature, max_tokens=args.max_tokens)}
    try:
        summary, report = asyncio.run(run_eval_judge(
            args.data, args.out, args.judge, args.matcher, args.matcher_model, args.matcher_api_key, options,
            args.image_root, args.limit, tuple(c.strip() for c in args.categories.split(",") if c.strip()),
            args.concurrency, args.paper, args.workers or None,
            matcher_options={"temperature": args.matcher_temperature, "max_tokens": args.matcher_max_tokens,
                             "token_param": args.matcher_token_param}))
    except (ValueError, FileNotFoundError) as e:
        print(f"eval-judge: {e}", file=sys.stderr)
        return 2
    print(report)
    print(f"wrote {args.out}/metrics.json, items.jsonl, report.md")
    statuses = summary["judge_status"]
    if args.judge and statuses and statuses.get("judge_failed", 0) == sum(statuses.values()):
        print("eval-judge: every judge call failed (unreachable or erroring judge); the scores above count "
              "them as 'no errors predicted'", file=sys.stderr)
        return 1
    return 0 if summary["scored"] else 1


def _tts_command(args: argparse.Namespace) -> int:
    import asyncio

    from verm_rl.reward import SeverityRewardConfig
    from verm_rl.tts import TTSConfig, run_tts
    from verm_rl.tts.feedback import load_template

    cfg = TTSConfig(max_revisions=args.rounds, stop_reward=args.stop_reward, concurrency=args.concurrency,
                    max_tokens=args.max_tokens, temperature=args.temperature, seed=args.seed,
                    revision_template=load_template(args.revision_prompt))
    policy_options = ({"model": args.policy_model, "api_key": args.policy_api_key}
                      if args.policy.startswith(("http://", "https://")) else {"engine": args.policy_engine})
    judge_options = {"model": args.judge_model, "api_key": args.api_key, "engine": args.engine}
    reward = SeverityRewardConfig() if args.norm is None else SeverityRewardConfig(fixed_norm=args.norm)
    try:
        summary = asyncio.run(run_tts(args.inputs, args.out, args.policy, args.judge, cfg, args.task, args.limit,
                                      policy_options, judge_options, reward,
                                      render_workers=args.workers or None))
    except (ValueError, FileNotFoundError) as e:
        print(f"tts: {e}", file=sys.stderr)
        return 2
    print(summary["text"])
    print(f"policy calls {summary['generated']} (failed {summary['policy_failures']}); "
          f"wrote {args.out}/index.html, summary.md, summary.json")
    return 0 if summary["ran"] else 1


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
