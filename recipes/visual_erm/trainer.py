"""The sync PPO trainer with Visual-ERM step metrics and (reference, render, errors, reward) samples.

Subclasses verl's ``PPOTrainerSync`` without a new ``trainer_mode`` name (a custom name would send
verl down its async code paths); ``main.py`` runs it through a subclass of the V1 task runner.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from verl.trainer.ppo.v1.trainer_sync import PPOTrainerSync

from recipes.visual_erm.metrics import collect_extra_infos, reward_step_metrics, sample_dirs

log = logging.getLogger(__name__)


def sample_table_rows(dirs: list[str]) -> list[dict[str, Any]]:
    """Rows for a wandb table: image paths, errors and reward parts read from each sample folder."""
    rows = []
    for d in dirs:
        path = Path(d)
        try:
            meta = json.loads((path / "sample.json").read_text())
        except (OSError, ValueError):
            continue
        rows.append({
            "reference": str(path / "reference.png") if (path / "reference.png").exists() else None,
            "render": str(path / "render.png") if (path / "render.png").exists() else None,
            "errors": "\n".join(f"[{e['category']} s{e['severity']}] {e.get('location', '')}: {e['description']}"
                                for e in meta.get("errors", [])),
            "reward": meta["reward"].get("total"), "status": meta["reward"].get("status"),
            "task": meta["reward"].get("task"),
        })
    return rows


def log_sample_table(logger: Any, rows: list[dict[str, Any]], step: int) -> None:
    """Log rows as a ``wandb.Table`` of images (wandb backend only: other loggers take numbers)."""
    if not rows:
        return
    import wandb

    table = wandb.Table(columns=["task", "reference", "render", "errors", "reward", "status"])
    for r in rows:
        table.add_data(r["task"], wandb.Image(r["reference"]) if r["reference"] else None,
                       wandb.Image(r["render"]) if r["render"] else None, r["errors"], r["reward"], r["status"])
    logger.log({"verm/samples": table}, step=step, backend=["wandb"])


class VisualERMTrainer(PPOTrainerSync):
    def _compute_metrics(self, batch, metrics, timing_raw, global_steps, epoch):
        result = super()._compute_metrics(batch, metrics, timing_raw, global_steps, epoch)
        try:
            import transfer_queue as tq

            data = tq.kv_batch_get(keys=batch.keys, partition_id=batch.partition_id, select_fields=["extra_fields"])
            infos = collect_extra_infos(data["extra_fields"].tolist())
            metrics.update(reward_step_metrics(infos))
            logging_cfg = self.config.verm.logging
            if global_steps % max(1, int(logging_cfg.log_samples_every)) == 0 and \
                    "wandb" in list(self.config.trainer.logger):
                rows = sample_table_rows(sample_dirs(infos, int(logging_cfg.samples_per_table)))
                log_sample_table(self.logger, rows, global_steps)
        except Exception:  # metrics must never stop training
            log.exception("visual-erm step metrics failed")
        return result
