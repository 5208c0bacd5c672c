"""``VisualERMRewardManager``: verl's reward-loop manager for vision-to-code.

Loaded by verl with ``reward.reward_manager.source=importlib``,
``reward.reward_manager.module.path=pkg://recipes.visual_erm.reward_manager`` and
``reward.reward_manager.name=VisualERMRewardManager``. Each finished sample (streaming, one
``DataProto`` row) is decoded, rendered on the shared Ray render pool, judged and rewarded through
``verm_rl.reward.RewardPipeline`` (the pipeline ``verm_rl.reward.score`` runs); concurrent samples of one
reward-loop worker are batched for de-duplication and batch normalisation. It never blocks the event
loop and never raises for a bad sample: every sample gets a ``reward_score`` and a ``reward_extra_info``
with its status.
"""

from __future__ import annotations

import logging
import random
import uuid
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from verl import DataProto
from verl.experimental.reward_loop.reward_manager.base import RewardManagerBase

from verm_rl.data.dataset import task_of
from verm_rl.reward.pipeline import ScoredSample, ScoreItem
from verm_rl.reward.record import ROW_KEYS, empty_row, sample_detail, sample_row

log = logging.getLogger(__name__)

EXTRA_KEYS = ROW_KEYS  # the keys of every sample's reward_extra_info


def verm_settings(config: DictConfig) -> dict[str, Any]:
    """The ``verm`` section as a plain dict (the reward pipeline takes no OmegaConf)."""
    section = config.get("verm") if isinstance(config, DictConfig) else None
    return OmegaConf.to_container(section, resolve=True) if section is not None else {}

def reference_png_from_prompt(raw_prompt: Any) -> bytes | None:
    """The first image's bytes in verl's ``raw_prompt`` (RLHFDataset embeds images there)."""
    for message in list(raw_prompt if raw_prompt is not None else []):
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list):
            continue
        for part in content:
            if isinstance(part, dict) and part.get("type") == "image":
                if part.get("bytes"):
                    return part["bytes"]
                image = part.get("image")
                if image is not None:
                    import io

                    buf = io.BytesIO()
                    image.convert("RGB").save(buf, format="PNG")
                    return buf.getvalue()
    return None


def sample_id_of(non_tensor: dict[str, Any]) -> str:
    """A per-sample id: verl's ``{uid}_{session_id}`` (the n rollouts of a prompt share the uid and
    differ in session_id); without a session id, the uid plus a random suffix so nothing overwrites."""
    extra_info = non_tensor.get("extra_info") or {}
    uid = str(non_tensor.get("uid", extra_info.get("id", "")) or "sample")
    session = non_tensor.get("session_id")
    if session is not None and str(session) != "":
        return f"{uid}_{session}"
    return f"{uid}_{uuid.uuid4().hex[:8]}"


def save_sample(directory: str, sample_id: str, sample: ScoredSample) -> str:
    """Write the (reference, render, errors) of a sample for the trainer to log as images."""
    import json

    path = Path(directory) / sample_id
    path.mkdir(parents=True, exist_ok=True)
    if sample.reference_png:
        (path / "reference.png").write_bytes(sample.reference_png)
    if sample.render.png:
        (path / "render.png").write_bytes(sample.render.png)
    detail = sample_detail(sample, sample_id, str(path))
    errors = detail.pop("errors")
    (path / "sample.json").write_text(json.dumps({"reward": detail, "errors": errors}, default=str))
    return str(path)


class VisualERMRewardManager(RewardManagerBase):
    """Render → judge → reward for one sample at a time, as verl's reward loop streams them."""

    def __init__(self, config: DictConfig, tokenizer: Any, compute_score: Any = None,
                 reward_router_address: str | None = None, reward_model_tokenizer: Any = None, **kwargs: Any):
        super().__init__(config, tokenizer, compute_score)
        self.settings = verm_settings(config)
        self.reward_router_address = reward_router_address
        reward_model = config.reward.get("reward_model") if "reward" in config else None
        self.reward_model_path = reward_model.get("model_path") if reward_model is not None else None
        self._pipeline = None
        logging_cfg = self.settings.get("logging") or {}
        self.sample_dir = logging_cfg.get("sample_dir") or ""
        self.sample_rate = float(logging_cfg.get("sample_rate", 0.0))
        self.reference_from = self.settings.get("reference_from", "prompt_image")
        self.common_metrics = list((self.settings.get("validation") or {}).get("common") or [])
        self._common = None

    def pipeline(self):
        if self._pipeline is None:
            from reward_workers.factory import build_pipeline

            self._pipeline = build_pipeline(self.settings, self.reward_router_address, self.reward_model_path)
        return self._pipeline

    async def close(self) -> None:
        """Stop the pipeline's batching task and close its judge, before the manager's event loop goes
        away (verl keeps a reward worker for the whole run and never calls this; tests do)."""
        if self._pipeline is not None:
            await self._pipeline.close()
            await self._pipeline.judge.close()

    def common_scorer(self):
        """The val-common scorer (same metrics whatever the arm), on this pipeline's render pool."""
        if self._common is None:
            from recipes.visual_erm.validation import CommonScorer

            pipe = self.pipeline()
            self._common = CommonScorer(self.common_metrics, pipe.backend.render, pipe.render_options,
                                        arm=(self.settings.get("reward") or {}).get("name", ""),
                                        judge_backend=(self.settings.get("judge") or {}).get("backend", ""))
        return self._common

    @staticmethod
    def is_validation(data: DataProto) -> bool:
        """verl's V1 validation passes ``validate=True`` with every row; the CPU job marks extra_info."""
        nt = data[0].non_tensor_batch
        extra_info = nt.get("extra_info") or {}
        return bool(nt.get("validate", False)) or bool(extra_info.get("verm_validate", False))

    def decode_response(self, data: DataProto) -> str:
        item = data[0]
        response_ids = item.batch["responses"]
        length = int(item.batch["attention_mask"][-response_ids.shape[-1]:].sum())
        return self.tokenizer.decode(response_ids[:length], skip_special_tokens=True)

    def score_item(self, data: DataProto) -> ScoreItem:
        nt = data[0].non_tensor_batch
        extra_info = nt.get("extra_info") or {}
        task = task_of(nt.get("data_source"), extra_info)
        ground_truth = (nt.get("reward_model") or {}).get("ground_truth") or None
        ref_png = reference_png_from_prompt(nt.get("raw_prompt")) if self.reference_from == "prompt_image" else None
        uid = str(nt.get("uid", extra_info.get("id", "")))
        return ScoreItem(task, self.decode_response(data), reference_png=ref_png, reference_source=ground_truth,
                         uid=uid)

    async def run_single(self, data: DataProto) -> dict[str, Any]:
        try:
            item = self.score_item(data)
        except Exception as e:  # noqa: BLE001 - a malformed row still gets a reward and a status
            log.warning("cannot read sample: %s", e)
            info = empty_row("bad_sample")
            if self.common_metrics and self.is_validation(data):
                info.update(self.common_scorer().empty())
            return {"reward_score": 0.0, "reward_extra_info": info}
        sample = await self.pipeline().score_one(item)
        sample_id = sample_id_of(data[0].non_tensor_batch)
        sample_dir = ""
        if self.sample_dir and self.sample_rate > 0 and random.random() < self.sample_rate:
            sample_dir = save_sample(self.sample_dir, sample_id, sample)
        info = sample_row(sample, sample_id, sample_dir)
        if self.common_metrics and self.is_validation(data):
            info.update(await self.common_metrics_of(data, item, sample))
        return {"reward_score": float(sample.reward.total), "reward_extra_info": info}

    async def common_metrics_of(self, data: DataProto, item: ScoreItem, sample: ScoredSample) -> dict[str, float]:
        scorer = self.common_scorer()
        try:
            prompt_png = reference_png_from_prompt(data[0].non_tensor_batch.get("raw_prompt"))
            return await scorer.score(item.task, item.response, sample.render.ok, sample.render.png, prompt_png,
                                      item.reference_source, sample.judgement)
        except Exception:  # noqa: BLE001 - a metric that fails is missing, never a lost sample
            log.exception("val-common metrics failed")
            return scorer.empty()


def compute_score(data_source: str, solution_str: str, ground_truth: str, extra_info: dict | None = None,
                  **kwargs: Any) -> float:
    """verl requires ``reward.custom_reward_function.path`` whenever its reward model is enabled, or it
    bypasses custom managers; this function is what that key points at. It is a real reward: render
    success of the response (the render-only baseline), for use with verl's own managers. The full reward as a
    plain function is ``verm_rl.reward.score`` (the pipeline this manager runs)."""
    from verm_rl.render import render
    from verm_rl.tasks import extract_code

    task = task_of(data_source, extra_info)
    return float(render(task, extract_code(task, solution_str)).ok)
