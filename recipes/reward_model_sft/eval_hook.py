"""The evaluation hook: score the model being trained on the validation split, as ``verm-rl eval-judge`` does.

The judge under test is the in-memory model behind ``LocalJudge``'s own request path (same prompt,
same image downscaling, same parser); items are matched with the deterministic matcher and pooled
by ``verm_rl.eval.judge_eval`` into F1h / F1s / Sc. The numbers go through ``Trainer.log`` (hence to
wandb) as ``judge_eval/<category>/<metric>``; each evaluation also writes ``items.jsonl``,
``metrics.json`` and ``report.md`` under ``<output_dir>/judge_eval/step_<n>/``.

Every rank runs the same items (under ZeRO-3 every rank must take part in each forward pass); only
rank 0 logs and writes.
"""

from __future__ import annotations

import asyncio
import logging
import math
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from verm_rl.eval.judge_eval import evaluate, read_records_limited, summarize, write_outputs
from verm_rl.eval.vc_rewardbench import BENCH_CATEGORIES, DeterministicMatcher
from verm_rl.judge.base import SamplingParams
from verm_rl.judge.batcher import DynamicBatcher
from verm_rl.judge.engine import TransformersEngine, generate_grouped
from verm_rl.judge.local import LocalJudge
from verm_rl.judge.profiles import judge_inputs

log = logging.getLogger(__name__)


class InMemoryEngine(TransformersEngine):
    """``TransformersEngine.generate`` on a model already in memory (no reload from disk)."""

    def __init__(self, model: Any, processor: Any):
        self.model, self.processor = model, processor
        self.processor.tokenizer.padding_side = "left"  # generation pads left; the SFT collator pads itself
        self.device = str(next(model.parameters()).device)
        self.dtype = str(next(model.parameters()).dtype).removeprefix("torch.")


class InMemoryJudge(LocalJudge):
    """``LocalJudge`` (prompt, images, batching, parsing) over an ``InMemoryEngine``."""

    def __init__(self, engine: InMemoryEngine, sampling: SamplingParams, max_batch_size: int = 8,
                 max_image_side: int = 1024, prompts: dict[str, str] | None = None, profile: str = "released"):
        self.engine = engine
        # the judge's request as LocalJudge builds it for ``profile`` (images, prompt, text layout), decoded with
        # ``sampling`` for every task (greedy: the evaluation is deterministic)
        self.inputs = judge_inputs(profile, sampling=sampling, prompts=dict(prompts or {}),
                                   max_image_side=max_image_side)
        self.batcher = DynamicBatcher(lambda items: generate_grouped(self.engine, items), max_batch_size, 5.0)


def flat_metrics(summary: dict[str, Any]) -> dict[str, float]:
    """``judge_eval/<avg|chart|table|svg>/<f1_hard|f1_soft|sc>`` plus the judge's parse rate."""
    out: dict[str, float] = {}
    rows = {"avg": summary.get("avg", {}), **summary.get("categories", {})}
    for name, row in rows.items():
        for key in ("f1_hard", "f1_soft", "sc"):
            value = row.get(key)
            if isinstance(value, (int, float)) and not math.isnan(value):
                out[f"judge_eval/{name}/{key}"] = float(value)
    statuses = summary.get("judge_status", {})
    judged = sum(statuses.values())
    if judged:
        out["judge_eval/parse_ok_rate"] = statuses.get("ok", 0) / judged
    out["judge_eval/items"] = float(summary.get("scored", 0))
    return out


def evaluate_model(model: Any, processor: Any, bench_path: str | Path, out_dir: str | Path | None = None,
                   limit: int | None = None, max_new_tokens: int = 2048, batch_size: int = 8,
                   max_image_side: int = 1024, prompts: dict[str, str] | None = None,
                   write: bool = True) -> tuple[dict[str, float], dict[str, Any]]:
    """Judge the validation records with ``model``; returns (flat metrics, eval-judge's full summary)."""
    items, skipped = read_records_limited(Path(bench_path), None, limit, BENCH_CATEGORIES)
    judge = InMemoryJudge(InMemoryEngine(model, processor), SamplingParams(temperature=0.0, max_tokens=max_new_tokens),
                          batch_size, max_image_side, prompts)
    was_training, use_cache = model.training, getattr(model.config, "use_cache", True)
    model.eval()
    model.config.use_cache = True
    try:
        outcomes = asyncio.run(evaluate(items, judge, DeterministicMatcher(), concurrency=batch_size, progress=False))
    finally:
        model.config.use_cache = use_cache
        if was_training:
            model.train()
    summary = summarize(outcomes, "model under training", "deterministic", skipped)
    summary["data"] = str(bench_path)
    if write and out_dir is not None:
        write_outputs(Path(out_dir), outcomes, summary, paper=False)
    return flat_metrics(summary), summary


class JudgeEvalCallback(TrainerCallback):
    """Runs ``evaluate_model`` every ``every_n_steps`` optimiser steps (0: never during training);
    ``attach(trainer)`` lets it log through the trainer (wandb and ``log_history``)."""

    def __init__(self, bench_path: str | Path, processor: Any, every_n_steps: int = 0, **options: Any):
        self.bench_path, self.processor, self.every, self.options = bench_path, processor, every_n_steps, options
        self.trainer: Any = None
        self.history: list[tuple[int, dict[str, float]]] = []

    def attach(self, trainer: Any) -> JudgeEvalCallback:
        self.trainer = trainer
        return self

    def run(self, model: Any, step: int, output_dir: str | Path, is_main: bool = True) -> dict[str, float]:
        out = Path(output_dir) / "judge_eval" / f"step_{step}"
        metrics, _ = evaluate_model(model, self.processor, self.bench_path, out, write=is_main, **self.options)
        self.history.append((step, metrics))
        if self.trainer is not None:
            self.trainer.log(metrics)
        log.info("judge eval at step %d: %s", step, metrics)
        return metrics

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if self.every and model is not None and state.global_step % self.every == 0:
            self.run(model, state.global_step, args.output_dir, state.is_world_process_zero)
        return control
