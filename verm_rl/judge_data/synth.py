"""``verm-rl synth``: reference + perturbed pairs rendered to images and exported for judge work.

Writes under ``out``:
- ``images/<pair>_ref.png`` and ``images/<pair>_pred.png`` (paths in the JSONL are relative to ``out``);
- ``sft.jsonl``: chat-format rows for supervised fine-tuning of a judge (two images + the task's
  prompt → the JSON answer), as LLaMA-Factory's ``messages``/``images`` format and verl's SFT
  trainer read them;
- ``vc_rewardbench.jsonl``: VC-RewardBench rows (``id``, ``category``, ``gt_img_path``,
  ``pred_img_path``, ``human_errors``) for evaluating judges;
- ``agreement.json``: how well the structural judge recovers the injected errors.
Resumable: pairs already in ``sft.jsonl`` are skipped. A perturbation that fails to render, or
renders exactly like its reference, is dropped (its errors would be invisible).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from verm_rl.data.inject import Perturbation, inject
from verm_rl.data.synthetic import Reference, generate_references
from verm_rl.eval.agreement import Agreement
from verm_rl.judge.prompts import load_prompt, released_system_prompt
from verm_rl.judge.schema import Judgement
from verm_rl.judge.structural import compare_sources
from verm_rl.tasks import get_task, task_names

log = logging.getLogger(__name__)
RenderFn = Callable[..., Awaitable[Any]]


def sft_row(task: str, ref_path: str, pred_path: str, answer: dict[str, Any]) -> dict[str, Any]:
    messages = [{"role": "user", "content": "<image><image>" + load_prompt(task)},
                {"role": "assistant", "content": json.dumps(answer, ensure_ascii=False)}]
    system = released_system_prompt(task)
    if system is not None:
        messages.insert(0, {"role": "system", "content": system})
    return {"messages": messages, "images": [ref_path, pred_path]}


def bench_row(pair_id: str, task: str, ref_path: str, pred_path: str, p: Perturbation,
              ref_source: str) -> dict[str, Any]:
    # The released evaluator filters reference errors on ``type`` (for every task); chart/SVG rows
    # also keep ``category``, the key their judge prompt uses (its reader takes type, then category).
    spec = get_task(task)
    errors = [{"type": e.category, spec.category_key: e.category, "severity": e.severity,
               "description": e.description, **({"location": e.location} if spec.error_location else {})}
              for e in p.errors]
    return {"id": pair_id, "category": task, "gt_img_path": ref_path, "pred_img_path": pred_path,
            "human_errors": errors, "perturbation": p.kind, "gt_source": ref_source, "pred_source": p.source}


def _done_ids(path: Path) -> set[str]:
    if not path.exists():
        return set()
    ids = set()
    for line in path.read_text().splitlines():
        try:
            ids.add(json.loads(line)["id"])
        except (ValueError, KeyError):
            continue
    return ids


async def synthesize(out: str | Path, n: int, render: RenderFn, seed: int = 0, k: int = 3,
                     tasks: tuple[str, ...] | None = None, concurrency: int = 16,
                     progress: bool = True) -> dict[str, Any]:
    """Write ``n`` labelled (reference, perturbed) pairs under ``out``; returns a summary. ``tasks``:
    default every task with a synthetic generator and an injector."""
    tasks = tuple(tasks or (t for t in task_names("synthetic") if get_task(t).injector))
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    bench_path, sft_path = out / "vc_rewardbench.jsonl", out / "sft.jsonl"
    done = _done_ids(bench_path)
    agreement = {t: Agreement() for t in tasks}
    counts = {"written": 0, "skipped_existing": 0, "dropped_render": 0, "dropped_invisible": 0, "references": 0}
    sem = asyncio.Semaphore(concurrency)

    from tqdm import tqdm

    bar = tqdm(total=n, desc="synth", disable=not progress)
    refs = generate_references(max(n, 1) * 2 // max(k, 1) + len(tasks), seed=seed, tasks=tasks)

    async def rendered(task: str, source: str):
        async with sem:
            return await render(task, source, trace=get_task(task).structural_trace)

    async def render_reference(ref: Reference) -> list[tuple[str, Perturbation, Any, Any]]:
        perturbations = inject(ref.task, ref.source, k=k, seed=seed)
        ids = [f"{ref.id}-{i}" for i in range(len(perturbations))]
        todo = [(pid, p) for pid, p in zip(ids, perturbations, strict=True) if pid not in done]
        counts["skipped_existing"] += len(ids) - len(todo)
        if not todo:
            return []
        ref_res = await rendered(ref.task, ref.source)
        if not ref_res.ok:
            log.warning("reference %s does not render: %s", ref.id, ref_res.message)
            return []
        counts["references"] += 1
        results = await asyncio.gather(*(rendered(ref.task, p.source) for _, p in todo))
        return [(pid, p, ref_res, res) for (pid, p), res in zip(todo, results, strict=True)]

    def write(ref: Reference, pid: str, p: Perturbation, ref_res: Any, res: Any) -> None:
        ref_path, pred_path = out / "images" / f"{ref.id}_ref.png", out / "images" / f"{pid}_pred.png"
        ref_path.write_bytes(ref_res.png)
        pred_path.write_bytes(res.png)
        predicted = compare_sources(ref.task, ref.source, p.source, ref_res.meta.get("trace"), res.meta.get("trace"))
        agreement[ref.task].add(predicted, p.errors)
        answer = Judgement(task=ref.task, errors=p.errors).to_json_answer()
        ref_rel, pred_rel = str(ref_path.relative_to(out)), str(pred_path.relative_to(out))
        with sft_path.open("a") as f:
            f.write(json.dumps(sft_row(ref.task, ref_rel, pred_rel, answer)) + "\n")
        with bench_path.open("a") as f:
            f.write(json.dumps(bench_row(pid, ref.task, ref_rel, pred_rel, p, ref.source)) + "\n")
        counts["written"] += 1
        bar.update(1)

    # Render a batch of references concurrently, then write in reference order: the output is the
    # same whatever the timing, and a resumed run continues exactly where the last one stopped.
    batch = max(1, concurrency // max(k, 1))
    for start in range(0, len(refs), batch):
        chunk = refs[start:start + batch]
        for ref, rows in zip(chunk, await asyncio.gather(*(render_reference(r) for r in chunk)), strict=True):
            for pid, p, ref_res, res in rows:
                if counts["written"] + len(done) >= n:
                    break
                if not res.ok:
                    counts["dropped_render"] += 1
                elif res.png == ref_res.png:
                    counts["dropped_invisible"] += 1
                else:
                    write(ref, pid, p, ref_res, res)
        if counts["written"] + len(done) >= n:
            break
    bar.close()
    summary = {**counts, "agreement": {t: {"overall": a.overall(), "per_category": a.per_category(),
                                           "pairs": a.pairs} for t, a in agreement.items() if a.pairs}}
    (out / "agreement.json").write_text(json.dumps(summary, indent=2))
    return summary
