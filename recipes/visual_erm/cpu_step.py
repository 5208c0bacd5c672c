"""The CPU main job: the real reward path of one GRPO step, without GPUs.

verl cannot train on CPU, so this runs everything around the policy for real: the synthetic
dataset (verl parquet rows) → candidate responses (correct, perturbed by the error injector,
broken) → a ``DataProto`` like the rollout produces → verl's ``RewardLoopManager`` with our
reward manager on a local Ray cluster → rewards, step metrics, an offline wandb run and an HTML
report with each (reference, render, errors, reward) side by side.

    .venv/bin/python -m recipes.visual_erm.cpu_step experiment=cpu_reward_step            # make run
    .venv/bin/python -m recipes.visual_erm.cpu_step experiment=cpu_reward_step verm/reward=ssim
    VERM_STEPS=3 VERM_OUT=outputs/cpu_ssim .venv/bin/python -m recipes.visual_erm.cpu_step \
        experiment=cpu_reward_step verm/reward=ssim verm.run.group=cpu-demo   # 3 steps, for `verm-rl compare`

Each step's batch is also scored with the common validation metrics (``val-common/…``), as verl's
validation does, and with ``verm.reward.norm=batch_max`` the step's rewards are renormalised over
the whole batch per task (paper Eq. 4) by the trainer's own function.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import os
import random
import shutil
import time
from pathlib import Path
from typing import Any

import hydra
import numpy as np
from omegaconf import DictConfig, OmegaConf, open_dict

log = logging.getLogger("verm.cpu_step")

def candidate_responses(task: str, source: str, seed: int) -> list[tuple[str, str]]:
    """(kind, response) for one reference: the correct program, two perturbed ones, one broken (the
    task spec's ``broken_program``, or a response with no program at all), fenced as the task's ``fence``."""
    from verm_rl.data.inject import inject
    from verm_rl.tasks import get_task

    spec = get_task(task)
    rng = random.Random(f"{seed}:{source[:64]}")
    out = [("correct", f"Here is the code:\n```{spec.fence}\n{source}\n```")]
    for p in inject(task, source, k=2, seed=seed):
        out.append((f"perturbed:{p.kind}", f"```{spec.fence}\n{p.source}\n```"))
    broken = rng.choice((spec.broken_program, ""))
    out.append(("broken", f"```{spec.fence}\n{broken}\n```" if broken else "I could not read the image."))
    return out


def make_batch(rows: list[dict], candidates: list[list[tuple[str, str]]], tokenizer: Any):
    """A ``DataProto`` shaped like verl's rollout output, with the dataset fields in non_tensor_batch."""
    import torch
    from verl import DataProto

    prompts, responses, meta = [], [], {k: [] for k in ("data_source", "reward_model", "extra_info", "raw_prompt",
                                                         "uid", "kind")}
    for row_i, (row, cands) in enumerate(zip(rows, candidates, strict=True)):
        text = row["prompt"][0]["content"]
        raw_prompt = [{"role": "user", "content": [
            {"type": "image", "bytes": row["images"][0]["bytes"], "path": None},
            {"type": "text", "text": text.replace("<image>", "")}]}]
        for cand_i, (kind, response) in enumerate(cands):
            prompts.append(tokenizer(text, add_special_tokens=False)["input_ids"])
            responses.append(tokenizer(response, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id])
            meta["data_source"].append(row["data_source"])
            meta["reward_model"].append(row["reward_model"])
            meta["extra_info"].append(row["extra_info"])
            meta["raw_prompt"].append(raw_prompt)
            meta["uid"].append(f"{row_i:03d}_{cand_i}")
            meta["kind"].append(kind)
    pad = tokenizer.pad_token_id
    p_len, r_len = max(map(len, prompts)), max(map(len, responses))
    p_ids = torch.tensor([[pad] * (p_len - len(p)) + p for p in prompts])
    p_mask = torch.tensor([[0] * (p_len - len(p)) + [1] * len(p) for p in prompts])
    r_ids = torch.tensor([r + [pad] * (r_len - len(r)) for r in responses])
    r_mask = torch.tensor([[1] * len(r) + [0] * (r_len - len(r)) for r in responses])
    attention = torch.cat([p_mask, r_mask], dim=1)
    tensors = {"prompts": p_ids, "responses": r_ids, "input_ids": torch.cat([p_ids, r_ids], dim=1),
               "attention_mask": attention, "position_ids": (attention.cumsum(-1) - 1).clamp(min=0)}
    non_tensors = {k: np.array(v, dtype=object) for k, v in meta.items()}
    return DataProto.from_dict(tensors=tensors, non_tensors=non_tensors)


def ensure_tiny_model(path: str) -> str:
    if not (Path(path) / "config.json").exists():
        from verm_rl.testing.tiny_vlm import build_tiny_qwen3_vl

        build_tiny_qwen3_vl(path)
    return str(Path(path).resolve())


def write_report(out: Path, batch, scores: np.ndarray, infos: dict[str, np.ndarray], metrics: dict[str, float]) -> Path:
    """report.html: one row per sample with the reference, the render, the errors and the reward."""
    rows = []
    for i in range(len(scores)):
        sample_dir = Path(str(infos["sample_dir"][i])) if str(infos["sample_dir"][i]) else None
        meta = json.loads((sample_dir / "sample.json").read_text()) if sample_dir else {"errors": []}
        imgs = []
        for name in ("reference.png", "render.png"):
            p = sample_dir / name if sample_dir else None
            imgs.append(f'<img src="{p.relative_to(out)}">' if p and p.exists() else "<i>none</i>")
        errors = "<br>".join(html.escape(f"[{e['category']} s{e['severity']}] {e.get('location', '')}: "
                                         f"{e['description']}") for e in meta["errors"]) or "—"
        rows.append(f"<tr><td>{html.escape(str(batch.non_tensor_batch['kind'][i]))}<br>"
                    f"<small>{html.escape(str(infos['task'][i]))}</small></td><td>{imgs[0]}</td><td>{imgs[1]}</td>"
                    f"<td class=e>{errors}</td><td><b>{scores[i]:.3f}</b><br><small>{infos['status'][i]} "
                    f"{infos['render_error'][i]}</small></td></tr>")
    summary = "".join(f"<tr><td>{html.escape(k)}</td><td>{v:.4g}</td></tr>" for k, v in sorted(metrics.items())
                      if k.startswith("verm/all/"))
    page = f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>visual-erm-rl CPU reward step</title>
<style>body{{font-family:sans-serif;margin:20px}} td{{border:1px solid #ccc;padding:6px;vertical-align:top}}
table{{border-collapse:collapse}} img{{max-width:320px;max-height:260px}} td.e{{font-size:12px;max-width:420px}}</style>
</head><body><h1>Reward path of one GRPO step (CPU)</h1><table>{summary}</table><h2>Samples</h2>
<table><tr><th>candidate</th><th>reference</th><th>render</th><th>errors</th><th>reward</th></tr>{''.join(rows)}</table>
</body></html>"""
    path = out / "report.html"
    path.write_text(page)
    return path


def run(cfg: DictConfig, out: Path, n_refs: int = 9, seed: int = 0, steps: int = 1) -> dict[str, Any]:
    import ray
    from verl.experimental.reward_loop.reward_loop import RewardLoopManager
    from verl.utils import hf_tokenizer

    from recipes.visual_erm.config_check import check_config
    from recipes.visual_erm.step_norm import renormalise_step, step_reward_config
    from recipes.visual_erm.validation import common_val_metrics
    from verm_rl.data.dataset import rows_from_sources, synthetic_items, write_parquet
    from verm_rl.render.local_pool import LocalRenderPool
    from verm_rl.reward.metrics import reward_metrics

    check_config(cfg)
    start = time.monotonic()
    out = out.resolve()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    model_path = ensure_tiny_model(cfg.verm.model.judge_path)
    with open_dict(cfg):
        cfg.verm.model.judge_path = model_path
        cfg.actor_rollout_ref.model.path = model_path
        cfg.verm.logging.sample_dir = str((out / "samples").resolve())
        cfg.verm.logging.sample_rate = 1.0
        if cfg.verm.judge.backend == "ray_actor":
            cfg.verm.judge.ray_actor.num_cpus = 0
    tasks = tuple(cfg.verm.task.tasks)
    with LocalRenderPool(1) as pool:
        rows, report = asyncio.run(rows_from_sources(synthetic_items(n_refs, seed=seed, tasks=tasks), pool.render))
    write_parquet(rows, out / "data" / "train.parquet")
    log.info("dataset: %s", report.summary())
    tokenizer = hf_tokenizer(model_path)
    reward_cfg = step_reward_config(cfg)

    own_ray = not ray.is_initialized()
    if own_ray:
        ray.init(num_cpus=2, num_gpus=1 if cfg.verm.judge.backend == "ray_actor" else 0, include_dashboard=False,
                 logging_level="ERROR", log_to_driver=False, runtime_env={"env_vars": {"PYTHONPATH": os.getcwd()}})
    manager = None
    wandb_run = open_wandb(cfg, out)
    try:
        manager = RewardLoopManager(cfg)
        for step in range(steps):
            candidates = [candidate_responses(r["extra_info"]["task"], r["reward_model"]["ground_truth"], seed + step)
                          for r in rows]
            batch = make_batch(rows, candidates, tokenizer)
            batch.non_tensor_batch["validate"] = np.array([True] * len(batch), dtype=object)  # + val-common
            result = manager.compute_rm_score(batch)
            infos = {k: result.non_tensor_batch[k] for k in result.meta_info["reward_extra_keys"]}
            norm_metrics = {}
            if reward_cfg.norm == "batch_max":  # what the trainer does before advantages
                result, norm_metrics = renormalise_step(result, reward_cfg, infos)
            scores = result.batch["rm_scores"].sum(-1).numpy()
            metrics = {**reward_metrics(infos, scores.tolist()), **norm_metrics, **common_val_metrics(infos)}
            kinds = np.array([k.split(":")[0] for k in batch.non_tensor_batch["kind"]])
            for kind in ("correct", "perturbed", "broken"):
                metrics[f"verm/by_candidate/{kind}/reward"] = float(scores[kinds == kind].mean())
            wandb_run.log(metrics, step=step)
            log.info("step %d: reward %.3f, val-common render rate %.2f", step, float(scores.mean()),
                     metrics.get("val-common/all/render_rate", float("nan")))
        report_path = write_report(out, batch, scores, infos, metrics)
        log_sample_table(wandb_run, batch, scores, infos, step)
    finally:
        wandb_run.finish()
        for worker in getattr(manager, "reward_loop_workers", []):
            ray.kill(worker)
        if own_ray:
            ray.shutdown()
    metrics["seconds"] = time.monotonic() - start
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return {"metrics": metrics, "scores": scores, "kinds": kinds, "infos": infos, "report": report_path,
            "tasks": [r["extra_info"]["task"] for r, c in zip(rows, candidates, strict=True) for _ in c],
            "responses": [response for c in candidates for _, response in c],
            "references": [r["reward_model"]["ground_truth"] for r, c in zip(rows, candidates, strict=True) for _ in c]}


def open_wandb(cfg: DictConfig, out: Path):
    """An offline wandb run (sync it later with `wandb sync`) named, grouped and tagged as training runs."""
    import wandb

    from recipes.visual_erm.config_check import run_name, run_summary, run_tags

    os.environ.setdefault("WANDB_MODE", "offline")
    config = OmegaConf.to_container(cfg.verm, resolve=True)
    config["summary"] = run_summary(cfg)
    return wandb.init(project=cfg.trainer.project_name, name=run_name(cfg), group=cfg.verm.run.group or None,
                      tags=run_tags(cfg), dir=str(out), config={"verm": config}, mode=os.environ["WANDB_MODE"])


def log_sample_table(run, batch, scores: np.ndarray, infos: dict, step: int) -> None:
    """The last step's (reference, render, reward) samples as a wandb table."""
    import wandb

    table = wandb.Table(columns=["candidate", "task", "reference", "render", "reward", "status"])
    for i in range(len(scores)):
        d = Path(str(infos["sample_dir"][i]))
        images = [wandb.Image(str(d / n)) if (d / n).exists() else None for n in ("reference.png", "render.png")]
        table.add_data(str(batch.non_tensor_batch["kind"][i]), str(infos["task"][i]), *images, float(scores[i]),
                       str(infos["status"][i]))
    run.log({"verm/samples": table}, step=step)


@hydra.main(config_path="../../hydra_configs", config_name="visual_erm", version_base=None)
def main(cfg: DictConfig) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    out = Path(os.environ.get("VERM_OUT", "outputs/cpu_reward_step"))
    result = run(cfg, out, n_refs=int(os.environ.get("VERM_N_REFS", 9)), steps=int(os.environ.get("VERM_STEPS", 1)))
    m = result["metrics"]
    print(f"\nrewards by candidate kind: correct {m['verm/by_candidate/correct/reward']:.3f}, "
          f"perturbed {m['verm/by_candidate/perturbed/reward']:.3f}, broken {m['verm/by_candidate/broken/reward']:.3f}")
    severity = m.get("verm/all/severity/total", float("nan"))  # absent for similarity arms
    print(f"render rate {m['verm/all/render_rate']:.2f}, mean severity {severity:.2f}, "
          f"judge failures {m['verm/all/judge_failure_rate']:.2f}; {m['seconds']:.1f} s")
    common = ", ".join(f"{k.split('/')[-1]} {v:.3f}" for k, v in sorted(m.items())
                       if k.startswith("val-common/all/") and not k.endswith("/samples"))
    print(f"val-common (all tasks): {common}")
    print(f"report: {result['report']}\nwandb (offline): {out}/wandb")


def cli() -> None:
    """The command line (``make run``): ``verm.*`` overrides checked against the schema before Hydra composes."""
    from recipes.visual_erm.config_check import run_checked

    run_checked(main)


if __name__ == "__main__":
    cli()
