"""The sync PPO trainer with Visual-ERM step metrics, batch-max over the step, common validation
metrics, wandb names/groups/tags and (reference, render, errors, reward) samples.

Subclasses verl's ``PPOTrainerSync`` without a new ``trainer_mode`` name (a custom name would send
verl down its async code paths); ``main.py`` runs it through a subclass of the V1 task runner.
Hooks (verl 0.9.1 ``trainer_base.PPOTrainer``): ``_compute_advantage`` runs once per step after
every reward of the step is in TransferQueue (``rm_scores``, token-level, the score on the last
response token) and before advantages; ``_val_metrics_update`` gets every validation sample's
``reward_extra_info``; ``_compute_metrics`` the step's samples.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf, open_dict
from verl import DataProto
from verl.trainer.ppo.v1.trainer_sync import PPOTrainerSync

from recipes.visual_erm.config_check import run_name, run_summary, run_tags
from recipes.visual_erm.metrics import collect_extra_infos, sample_dirs
from recipes.visual_erm.step_norm import renormalise_step, step_reward_config
from recipes.visual_erm.validation import common_val_metrics
from verm_rl.reward.metrics import reward_metrics

log = logging.getLogger(__name__)


def wandb_run_settings(config: DictConfig) -> dict[str, str]:
    """Environment for ``wandb.init`` (verl's ``Tracking`` passes only project, name, entity, config):
    ``WANDB_RUN_GROUP`` = the sweep id, ``WANDB_TAGS`` = task, arm, judge, model, cluster."""
    env = {"WANDB_TAGS": ",".join(run_tags(config))}
    group = OmegaConf.select(config, "verm.run.group")
    if group:
        env["WANDB_RUN_GROUP"] = str(group)
    return env


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
    def __init__(self, config: DictConfig):
        os.environ.update(wandb_run_settings(config))
        with open_dict(config):
            config.verm.summary = run_summary(config)  # lands in the wandb config: filter/group runs by it
        if config.trainer.experiment_name != run_name(config):
            log.warning("trainer.experiment_name=%s differs from the scheme %s", config.trainer.experiment_name,
                        run_name(config))
        super().__init__(config)
        self.reward_cfg = step_reward_config(config)

    def _compute_advantage(self, batch, metrics):
        """Every reward of the step exists here: apply batch-max (paper Eq. 4) over the step, per task."""
        if self.reward_cfg.norm == "batch_max":
            self._renormalise_step(batch, metrics)
        return super()._compute_advantage(batch, metrics)

    def _renormalise_step(self, batch, metrics) -> None:
        import transfer_queue as tq
        from tensordict import TensorDict
        from verl.workers.utils.padding import response_to_nested

        data = tq.kv_batch_get(keys=batch.keys, partition_id=batch.partition_id,
                               select_fields=["rm_scores", "response_mask", "extra_fields"])
        columns = collect_extra_infos(data.pop("extra_fields").tolist())
        response_mask = data["response_mask"]
        proto = DataProto(batch=data.to_padded_tensor())
        include = np.array([not tag.get("is_padding", False) for tag in batch.tags], dtype=bool)
        proto, norm_metrics = renormalise_step(proto, self.reward_cfg, columns, include)
        metrics.update(norm_metrics)
        fields = TensorDict({"rm_scores": response_to_nested(proto.batch["rm_scores"], response_mask)},
                            batch_size=len(batch))
        tq.kv_batch_put(keys=batch.keys, partition_id=batch.partition_id, fields=fields)

    def _val_metrics_update(self, data_sources, sample_uids, reward_extra_infos_dict, sample_turns, **kwargs):
        metric_dict = super()._val_metrics_update(data_sources, sample_uids, reward_extra_infos_dict, sample_turns,
                                                  **kwargs)
        try:
            metric_dict.update(common_val_metrics(reward_extra_infos_dict))
        except Exception:  # metrics must never stop training
            log.exception("val-common metrics failed")
        return metric_dict

    def _compute_metrics(self, batch, metrics, timing_raw, global_steps, epoch):
        result = super()._compute_metrics(batch, metrics, timing_raw, global_steps, epoch)
        try:
            import transfer_queue as tq

            data = tq.kv_batch_get(keys=batch.keys, partition_id=batch.partition_id,
                                   select_fields=["extra_fields", "rm_scores"])
            infos = collect_extra_infos(data["extra_fields"].tolist())
            scores = [float(s.sum()) for s in data["rm_scores"].unbind()]
            metrics.update(reward_metrics(infos, scores))  # incl. verm/<task>/reward/total per step
            logging_cfg = self.config.verm.logging
            if global_steps % max(1, int(logging_cfg.log_samples_every)) == 0 and \
                    "wandb" in list(self.config.trainer.logger):
                rows = sample_table_rows(sample_dirs(infos, int(logging_cfg.samples_per_table)))
                log_sample_table(self.logger, rows, global_steps)
        except Exception:  # metrics must never stop training
            log.exception("visual-erm step metrics failed")
        return result
