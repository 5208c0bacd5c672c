"""``verm-rl evaluate``: generate with a policy (or read predictions), score, aggregate, report.

Everything is resumable: ``<out>/predictions.jsonl`` gets one line per finished generation and
``<out>/items.jsonl`` one line per scored item (keyed by the hash of the response it scored), so an
interrupted run continues where it stopped and a re-run with other predictions re-scores only what
changed. Generations that failed (the policy returns ``""``) are retried on the next run, and so are
items whose record asks for it (``"retry": true``, e.g. a ChartMimic judge that did not answer).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from verm_rl.eval.benchmarks import get_benchmark
from verm_rl.eval.benchmarks.base import BenchItem, Benchmark, DataError, ScoreContext, policy_request

log = logging.getLogger(__name__)


@dataclass
class EvalConfig:
    """One evaluation run (the CLI flags of ``verm-rl evaluate``)."""

    benchmark: str  # chartmimic | omnidocbench-table | olmocr-table | unisvg
    data: Path  # the benchmark's local copy (its own folder layout, see the README)
    out: Path = Path("outputs/eval")
    policy: str | None = None  # http(s)://host:port/v1 or a local model folder (verm_rl.policy.build_policy)
    predictions: Path | None = None  # score these {id, response} JSONL lines (or native files) instead
    limit: int | None = None  # only the first N items (smoke runs)
    concurrency: int = 32  # generations in flight at once
    score_concurrency: int = 0  # items scored at once; 0 = 2 × render workers
    render_workers: int | None = None  # sandboxed renderers; None = min(8, CPUs)
    cpu_workers: int | None = None  # processes for TEDS/table tests; None = min(8, CPUs) from 4 CPUs; 0 = none
    max_tokens: int = 4096
    temperature: float = 0.0
    seed: int | None = None
    worst: int = 25  # items on the worst-items page
    progress: bool = True
    policy_options: dict[str, Any] = field(default_factory=dict)  # HttpPolicy/LocalPolicy kwargs
    benchmark_options: dict[str, Any] = field(default_factory=dict)  # the benchmark class's kwargs


def response_hash(response: str | None) -> str:
    return hashlib.sha1((response if response is not None else "\0none").encode("utf-8", "replace")).hexdigest()[:16]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The complete JSON lines of ``path`` (a torn last line from an interrupted run is skipped)."""
    out = []
    if not path.exists():
        return out
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                log.warning("%s:%d: skipping an unreadable line (interrupted write?)", path, n)
    return out


def load_predictions(path: Path, bench: Benchmark) -> dict[str, str]:
    """``{id: response}`` from a JSONL of ``{"id", "response"}`` (``prediction``/``pred``/``answer``
    accepted too) or, for a folder, the benchmark's native candidate files."""
    if path.is_dir():
        return bench.responses_from_dir(path)
    if not path.exists():
        raise DataError(f"predictions file {path} does not exist")
    out: dict[str, str] = {}
    for i, row in enumerate(read_jsonl(path)):
        key = next((k for k in ("response", "prediction", "pred", "answer") if k in row), None)
        if "id" not in row or key is None:
            raise DataError(f"{path}: line {i + 1} needs 'id' and 'response' (got keys {sorted(row)})")
        out[str(row["id"])] = "" if row[key] is None else str(row[key])
    return out


def _progress(total: int, desc: str, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="item", disable=not enabled, dynamic_ncols=True)


async def generate(bench: Benchmark, items: list[BenchItem], cfg: EvalConfig, backend: Any = None) -> dict[str, str]:
    """Responses for every item, generating only those missing from ``<out>/predictions.jsonl``."""
    path = cfg.out / "predictions.jsonl"
    done = {str(r["id"]): r.get("response", "") for r in read_jsonl(path)}
    todo = [it for it in items if not done.get(it.id)]
    if not todo:
        return done
    owned = backend is None
    if owned:
        from verm_rl.policy import build_policy

        backend = build_policy(cfg.policy, **cfg.policy_options)
    sampling = {"max_tokens": cfg.max_tokens, "temperature": cfg.temperature, "seed": cfg.seed}
    sem = asyncio.Semaphore(max(1, cfg.concurrency))
    bar = _progress(len(todo), f"generate {bench.name}", cfg.progress)
    failures = 0

    async def one(item: BenchItem, f: Any) -> None:
        nonlocal failures
        async with sem:
            start = time.monotonic()
            try:
                request = await asyncio.to_thread(policy_request, item, **sampling)
                [text] = await backend.generate([request])
            except Exception as e:  # noqa: BLE001 - an unreadable input image: recorded, retried next run
                log.warning("%s: could not build the request: %s", item.id, e)
                text = ""
            failures += not text
            done[item.id] = text
            f.write(json.dumps({"id": item.id, "response": text, "seconds": round(time.monotonic() - start, 3)},
                               ensure_ascii=False) + "\n")
            f.flush()
            bar.update(1)

    try:
        with path.open("a", encoding="utf-8") as f:
            await asyncio.gather(*(one(it, f) for it in todo))
    finally:
        bar.close()
        if owned:
            await backend.close()
    if failures:
        log.warning("%d/%d generations failed or were empty; they are retried on the next run", failures, len(todo))
    return done


async def score_all(bench: Benchmark, items: list[BenchItem], responses: dict[str, str], cfg: EvalConfig,
                    ctx: ScoreContext) -> list[dict[str, Any]]:
    """Per-item records in item order, scoring only items whose response changed since the last run."""
    path = cfg.out / "items.jsonl"
    previous = {str(r["id"]): r for r in read_jsonl(path)}
    records: dict[str, dict[str, Any]] = {}
    todo = []
    for it in items:
        digest = response_hash(responses.get(it.id))
        old = previous.get(it.id)
        if old is not None and old.get("response_sha") == digest and not old.get("retry"):
            records[it.id] = old
        else:
            todo.append((it, digest))
    workers = cfg.score_concurrency or 2 * getattr(ctx.render_pool, "size", 4)
    sem = asyncio.Semaphore(max(1, workers))
    bar = _progress(len(todo), f"score {bench.name}", cfg.progress)

    async def one(item: BenchItem, digest: str, f: Any) -> None:
        async with sem:
            start = time.monotonic()
            try:
                rec = await bench.score(item, responses.get(item.id), ctx)
            except Exception as e:  # noqa: BLE001 - a scorer bug must not lose the other items
                log.exception("%s: scoring failed", item.id)
                rec = {"id": item.id, "group": item.group, "status": "score_error", "metrics": {},
                       "detail": {"error": f"{type(e).__name__}: {e}"}}
            rec["response_sha"] = digest
            rec["seconds"] = round(time.monotonic() - start, 3)
            records[item.id] = rec
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
            f.flush()
            bar.update(1)

    try:
        with path.open("a", encoding="utf-8") as f:
            await asyncio.gather(*(one(it, d, f) for it, d in todo))
    finally:
        bar.close()
    ordered = [records[it.id] for it in items]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ordered), encoding="utf-8")
    os.replace(tmp, path)  # compacted: one line per item, in item order
    return ordered


def _cpu_pool(workers: int | None) -> Any:
    """A spawn-context process pool (no fork of a process that runs threads), or None."""
    cpus = os.cpu_count() or 1
    n = (min(8, cpus) if cpus >= 4 else 0) if workers is None else workers
    if n <= 0:
        return None
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(max_workers=n, mp_context=multiprocessing.get_context("spawn"))


async def evaluate_async(cfg: EvalConfig, backend: Any = None, render_pool: Any = None) -> dict[str, Any]:
    """``backend``: a ready ``PolicyBackend`` instead of ``cfg.policy``; ``render_pool``: a shared
    ``LocalRenderPool`` (else one of ``cfg.render_workers`` is started and closed here)."""
    from verm_rl.eval.benchmarks.report import write_reports
    from verm_rl.render.local_pool import LocalRenderPool

    bench = get_benchmark(cfg.benchmark, **cfg.benchmark_options)
    items = bench.load(Path(cfg.data), cfg.limit)
    if not items:
        raise DataError(f"{cfg.benchmark}: no items found under {cfg.data}")
    ids = Counter(it.id for it in items)
    if len(ids) != len(items):
        raise DataError(f"{cfg.benchmark}: duplicate item ids {[k for k, v in ids.items() if v > 1][:5]}")
    cfg.out.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    if cfg.predictions is not None:
        responses = load_predictions(Path(cfg.predictions), bench)
        source = str(cfg.predictions)
    elif cfg.policy is not None or backend is not None:
        responses = await generate(bench, items, cfg, backend)
        source = str(cfg.policy or getattr(backend, "name", "backend"))
    elif (cfg.out / "predictions.jsonl").exists():
        responses = load_predictions(cfg.out / "predictions.jsonl", bench)
        source = str(cfg.out / "predictions.jsonl")
    else:
        raise DataError("give --policy (to generate) or --predictions (to score existing answers)")
    gen_seconds = time.monotonic() - start
    known = {it.id for it in items}
    unknown = [k for k in responses if k not in known]
    if unknown and cfg.limit is None:
        log.warning("%d predictions match no item id (e.g. %s)", len(unknown), unknown[:3])
    pool = render_pool or LocalRenderPool(size=cfg.render_workers or min(8, os.cpu_count() or 2))
    cpu_pool = _cpu_pool(cfg.cpu_workers)
    try:
        ctx = ScoreContext(pool, cfg.out / "renders", cfg.out / "cache", dict(cfg.benchmark_options), cpu_pool)
        start = time.monotonic()
        records = await score_all(bench, items, responses, cfg, ctx)
        score_seconds = time.monotonic() - start
    finally:
        if render_pool is None:
            await asyncio.to_thread(pool.close)
        if cpu_pool is not None:
            cpu_pool.shutdown(cancel_futures=True)
        close = getattr(bench, "close", None)
        if close is not None:
            result = close()
            if asyncio.iscoroutine(result):
                await result
    summary = {
        "benchmark": bench.name, "data": str(cfg.data), "predictions": source, "n_items": len(items),
        "n_predictions": sum(1 for it in items if responses.get(it.id)),
        "status": dict(Counter(r["status"] for r in records)),
        "metrics": bench.summarize(records, len(items)),
        "seconds": {"generate": round(gen_seconds, 2), "score": round(score_seconds, 2)},
    }
    write_reports(bench, items, records, responses, summary, cfg.out, cfg.worst)
    return summary


def evaluate(cfg: EvalConfig, backend: Any = None, render_pool: Any = None) -> dict[str, Any]:
    """Run one evaluation; returns the summary also written to ``<out>/summary.json``."""
    return asyncio.run(evaluate_async(cfg, backend, render_pool))
