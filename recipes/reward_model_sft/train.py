"""Setup, training and saving of the judge SFT run: plain functions over the Hydra config.

The Hugging Face ``Trainer`` does the loop (DeepSpeed ZeRO-2/3 when ``deepspeed`` names a config and
the package is installed; plain DDP/CPU otherwise). The checkpoint folder holds the model and its
processor, so ``judge.model_path`` / ``verm-rl eval-judge <folder>`` load it unchanged.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
DEEPSPEED_DIR = Path(__file__).resolve().parents[2] / "hydra_configs" / "reward_model_sft" / "deepspeed"


def attn_implementation(requested: str = "auto") -> str:
    """``flash_attention_2`` when flash-attn is installed and a GPU is visible, else ``sdpa`` (``auto``)."""
    if requested != "auto":
        return requested
    import torch

    if importlib.util.find_spec("flash_attn") is not None and torch.cuda.is_available():
        return "flash_attention_2"
    return "sdpa"


def gradient_accumulation(global_batch_size: int, per_device: int, world_size: int) -> int:
    """Steps to accumulate so that per_device × world_size × steps = global_batch_size (exactly)."""
    per_step = per_device * world_size
    if global_batch_size % per_step:
        raise ValueError(f"global_batch_size={global_batch_size} is not a multiple of per_device_train_batch_size="
                         f"{per_device} × world_size={world_size}")
    return global_batch_size // per_step


def deepspeed_config(name: str | None) -> str | None:
    """The JSON file for ``zero2``/``zero3`` (or a path), ``None`` for no DeepSpeed. Without the package
    installed (CPU, tests) the run falls back to plain ``Trainer`` with a warning."""
    if not name:
        return None
    path = Path(name)
    if not path.suffix:
        path = DEEPSPEED_DIR / f"{name}.json"
    if not path.exists():
        raise FileNotFoundError(f"DeepSpeed config {path} not found (zero2, zero3 or a .json path)")
    if importlib.util.find_spec("deepspeed") is None:
        log.warning("deepspeed is not installed: training without it (install the gpu extra for ZeRO)")
        return None
    return str(path)


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def training_arguments(cfg: Any, world: int | None = None):
    """``TrainingArguments`` from the config's ``training`` block, with the gradient accumulation that
    makes the global batch, the DeepSpeed file and the output folder."""
    from omegaconf import OmegaConf
    from transformers import TrainingArguments

    kwargs = OmegaConf.to_container(cfg.training, resolve=True)
    world = world or world_size()
    kwargs["gradient_accumulation_steps"] = gradient_accumulation(
        cfg.global_batch_size, kwargs.get("per_device_train_batch_size", 1), world)
    if kwargs.get("gradient_checkpointing"):
        kwargs.setdefault("gradient_checkpointing_kwargs", {"use_reentrant": False})
    return TrainingArguments(output_dir=str(cfg.output_dir), deepspeed=deepspeed_config(cfg.zero),
                             remove_unused_columns=False, **kwargs)


def load_model_and_processor(cfg: Any):
    """The base model (any Qwen-VL-family ``AutoModelForImageTextToText``) and its processor."""
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    attn = attn_implementation(cfg.model.attn_implementation)
    dtype = getattr(torch, cfg.model.dtype) if cfg.model.dtype != "auto" else "auto"
    processor = AutoProcessor.from_pretrained(cfg.model.path)
    model = AutoModelForImageTextToText.from_pretrained(cfg.model.path, dtype=dtype, attn_implementation=attn)
    if cfg.model.get("freeze_vision_tower"):
        for name, param in model.named_parameters():
            if ".visual." in f".{name}" or name.startswith("visual."):
                param.requires_grad_(False)
    model.config.use_cache = False  # incompatible with gradient checkpointing; generation turns it back on
    log.info("model %s (attention %s, dtype %s)", cfg.model.path, attn, cfg.model.dtype)
    return model, processor


def build_trainer(cfg: Any, model: Any, processor: Any, train_examples: list, callbacks: list | None = None,
                  world: int | None = None):
    from transformers import Trainer

    from recipes.reward_model_sft.data import SftCollator

    args = training_arguments(cfg, world)
    from verm_rl.judge.profiles import judge_inputs

    profile = cfg.data.get("profile", "released")
    collator = SftCollator(processor, cfg.data.max_image_side, cfg.data.get("max_length"),
                           inputs=judge_inputs(profile) if profile else None)
    return Trainer(model=model, args=args, train_dataset=train_examples, data_collator=collator,
                   processing_class=processor, callbacks=callbacks or [])


def save_final(trainer: Any, processor: Any, output_dir: str | Path) -> Path:
    """Model + processor + generation config in ``output_dir``: a folder ``LocalJudge`` loads as is."""
    out = Path(output_dir)
    if getattr(trainer.model, "config", None) is not None:
        trainer.model.config.use_cache = True  # off for training only; the saved judge generates with a cache
    trainer.save_model(str(out))
    if trainer.is_world_process_zero():
        processor.save_pretrained(str(out))
        model = trainer.model
        if getattr(model, "generation_config", None) is not None:
            model.generation_config.save_pretrained(str(out))
    return out


def run(cfg: Any) -> dict[str, Any]:
    """setup → train → save → evaluate; returns the output folder, the train metrics and the final eval."""
    import transformers

    from recipes.reward_model_sft.data import load_sft_jsonl
    from recipes.reward_model_sft.eval_hook import JudgeEvalCallback

    transformers.set_seed(int(cfg.training.get("seed", 42)))
    if cfg.get("wandb"):
        os.environ.setdefault("WANDB_PROJECT", str(cfg.wandb.project))
    train_examples = load_sft_jsonl(cfg.data.train, cfg.data.get("limit"))
    model, processor = load_model_and_processor(cfg)
    ev = cfg.get("eval_judge") or {}
    callback = None
    if ev and cfg.data.get("validation_bench"):
        callback = JudgeEvalCallback(cfg.data.validation_bench, processor, int(ev.get("every_n_steps") or 0),
                                     limit=ev.get("limit"), max_new_tokens=int(ev.get("max_new_tokens", 2048)),
                                     batch_size=int(ev.get("batch_size", 8)),
                                     max_image_side=int(cfg.data.max_image_side),
                                     prompts=dict(ev.get("prompts") or {}))
    trainer = build_trainer(cfg, model, processor, train_examples, [callback] if callback else [])
    if callback:
        callback.attach(trainer)
    log.info("training on %d examples, %d GPUs/processes, gradient accumulation %d", len(train_examples),
             trainer.args.world_size, trainer.args.gradient_accumulation_steps)
    result = trainer.train(resume_from_checkpoint=cfg.get("resume_from_checkpoint") or None)
    out = save_final(trainer, processor, cfg.output_dir)
    final_eval = None
    if callback and ev.get("at_end", True):
        step = trainer.state.global_step
        if callback.history and callback.history[-1][0] == step:  # the last step was just evaluated
            final_eval = callback.history[-1][1]
        else:
            final_eval = callback.run(trainer.model, step, cfg.output_dir, trainer.is_world_process_zero())
    return {"output_dir": out, "train": result.metrics, "eval": final_eval, "log_history": trainer.state.log_history}


def check_deepspeed_config(path: str | Path, args: Any, model: Any, num_training_steps: int) -> dict[str, Any]:
    """Fill the ``auto`` values of a DeepSpeed JSON from ``TrainingArguments`` and the model exactly as the
    ``Trainer`` will (transformers' ``HfTrainerDeepSpeedConfig``), raising ``ValueError`` on a value that
    contradicts the arguments; works without the deepspeed package (a pre-flight check on a login node)."""
    from accelerate.utils.deepspeed import HfDeepSpeedConfig as AccelerateDeepSpeedConfig
    from transformers.integrations.deepspeed import HfTrainerDeepSpeedConfig

    if importlib.util.find_spec("deepspeed") is not None:
        ds = HfTrainerDeepSpeedConfig(str(path))
    else:  # transformers' methods over accelerate's loader (without the package its base class is ``object``)
        checked = type("CheckedDeepSpeedConfig", (HfTrainerDeepSpeedConfig, AccelerateDeepSpeedConfig), {})
        ds = checked.__new__(checked)
        AccelerateDeepSpeedConfig.__init__(ds, str(path))
        ds._dtype, ds.mismatches = None, []
    ds.trainer_config_process(args)
    ds.trainer_config_finalize(args, model, num_training_steps)
    return ds.config
