"""The judge SFT recipe on CPU with the tiny Qwen3-VL: collator masking, image placeholders, loss going
down, an overfit checkpoint answering through ``LocalJudge``, the eval hook, the DeepSpeed configs."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from recipes.reward_model_sft.data import IGNORE_INDEX, SftCollator, load_sft_jsonl
from recipes.reward_model_sft.train import (
    DEEPSPEED_DIR,
    attn_implementation,
    check_deepspeed_config,
    gradient_accumulation,
    run,
    training_arguments,
)
from tests.reward_model_sft.conftest import KINDS

CONFIG_DIR = str(Path(__file__).resolve().parents[2] / "hydra_configs" / "reward_model_sft")


def compose(*overrides):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=CONFIG_DIR, version_base=None):
        return hydra_compose("sft", overrides=list(overrides))


@pytest.fixture(scope="module")
def processor(tiny_vlm_path):
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(tiny_vlm_path)


def test_collator_masks_everything_but_the_answer_tokens(pair_data, processor):
    examples = load_sft_jsonl(pair_data / "sft_train.jsonl")[:3]
    examples[1].answer = examples[1].answer[:20]  # a shorter answer: that row gets right padding
    batch = SftCollator(processor)(examples)
    tok = processor.tokenizer
    end = tok.convert_tokens_to_ids("<|im_end|>")
    for row, ex in enumerate(examples):
        ids, labels = batch["input_ids"][row].tolist(), batch["labels"][row].tolist()
        answer = tok(ex.answer + "<|im_end|>", add_special_tokens=False)["input_ids"]
        trained = [i for i, lab in enumerate(labels) if lab != IGNORE_INDEX]
        assert [labels[i] for i in trained] == answer == [ids[i] for i in trained]
        assert trained == list(range(trained[0], trained[0] + len(answer)))  # one contiguous span
        assert labels[trained[-1]] == end
        prompt = processor.apply_chat_template(ex.prompt_messages, add_generation_prompt=True, tokenize=False)
        assert tok.decode(ids[:trained[0]], skip_special_tokens=False).endswith("<|im_start|>assistant\n")
        assert "<|image_pad|>" in prompt
        n_real = int(batch["attention_mask"][row].sum())
        assert all(i == tok.pad_token_id for i in ids[n_real:]) and all(lab == IGNORE_INDEX for lab in labels[n_real:])
    assert (batch["attention_mask"][1] == 0).any()  # the short row is padded


def test_image_placeholders_line_up_with_the_processor_for_two_images(pair_data, processor):
    examples = load_sft_jsonl(pair_data / "sft_train.jsonl")[:2]
    collator = SftCollator(processor)
    batch = collator(examples)
    image_id = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    merge = processor.image_processor.merge_size
    grids = batch["image_grid_thw"]
    assert grids.shape == (4, 3)  # two images per example, in order
    assert batch["pixel_values"].shape[0] == int(grids.prod(-1).sum())
    for row in range(2):
        per_image = (grids[2 * row:2 * row + 2].prod(-1) // merge**2).tolist()
        ids = batch["input_ids"][row].tolist()
        runs, count = [], 0
        for i in ids:
            if i == image_id:
                count += 1
            elif count:
                runs.append(count)
                count = 0
        assert runs == per_image  # one run of vision tokens per image, of the processor's length
    # the processor on its own, given the same prompt and images, gives the same prompt tokens and pixels
    from recipes.reward_model_sft.data import load_image

    ex = examples[0]
    text = processor.apply_chat_template(ex.prompt_messages, add_generation_prompt=True, tokenize=False)
    ref = processor(text=[text], images=[load_image(p, 1024) for p in ex.images], return_tensors="pt")
    n = ref["input_ids"].shape[1]
    assert batch["input_ids"][0, :n].tolist() == ref["input_ids"][0].tolist()
    assert batch["mm_token_type_ids"][0, :n].tolist() == ref["mm_token_type_ids"][0].tolist()
    assert batch["pixel_values"][: ref["pixel_values"].shape[0]].equal(ref["pixel_values"])


def test_a_few_steps_lower_the_loss_on_a_fixed_batch(pair_data, processor, tiny_vlm_path):
    import torch
    from transformers import AutoModelForImageTextToText

    torch.manual_seed(0)
    model = AutoModelForImageTextToText.from_pretrained(tiny_vlm_path, dtype=torch.float32)
    batch = SftCollator(processor)(load_sft_jsonl(pair_data / "sft_train.jsonl")[:4])
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(4):
        loss = model(**batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.3


def test_overfit_checkpoint_loads_through_local_judge_and_names_the_category(pair_data, tiny_vlm_path, tmp_path,
                                                                             monkeypatch):
    """~20 pairs, two categories told apart by colour; the saved folder is a judge ``model_path``."""
    import wandb

    from verm_rl.judge.base import JudgeRequest
    from verm_rl.judge.local import LocalJudge

    wandb.teardown()  # a wandb session started by an earlier test would ignore WANDB_DIR
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    out = tmp_path / "judge"
    prompt = str(pair_data / "prompt_chart.txt")
    cfg = compose(f"model.path={tiny_vlm_path}", "model.dtype=float32", f"data.root={pair_data}", f"output_dir={out}",
                  "global_batch_size=4", "training.per_device_train_batch_size=4", "training.learning_rate=1e-2",
                  "+training.max_steps=70", "training.bf16=false", "training.warmup_ratio=0",
                  "training.lr_scheduler_type=constant", "training.logging_steps=10", "training.save_strategy=no",
                  "training.report_to=[wandb]", "training.dataloader_num_workers=0", "+training.use_cpu=true",
                  "training.gradient_checkpointing=false", "eval_judge.every_n_steps=35", "eval_judge.limit=2",
                  "eval_judge.max_new_tokens=100", f"+eval_judge.prompts.chart={prompt}")
    result = run(cfg)
    losses = [h["loss"] for h in result["log_history"] if "loss" in h]
    assert losses[-1] < losses[0] / 4
    # the eval hook ran at step 35 and after training, and logged F1h/F1s/Sc
    evals = [h for h in result["log_history"] if "judge_eval/avg/f1_hard" in h]
    assert len(evals) == 2 and (out / "judge_eval" / "step_70" / "metrics.json").exists()
    assert result["eval"]["judge_eval/parse_ok_rate"] == 1.0
    assert any(Path(tmp_path).rglob("*.wandb"))  # wandb (offline) got the run

    judge = LocalJudge(str(out), engine="transformers", sampling={"max_tokens": 100}, prompts={"chart": prompt})
    rows = [json.loads(line) for line in (pair_data / "sft_train.jsonl").read_text().splitlines()]
    for i in (0, 1):
        request = JudgeRequest("chart", (pair_data / rows[i]["images"][0]).read_bytes(),
                               (pair_data / rows[i]["images"][1]).read_bytes())
        (judgement,) = asyncio.run(judge.judge([request]))
        assert judgement.parse_ok, judgement.raw
        assert [e.category for e in judgement.errors] == [KINDS["red" if i % 2 == 0 else "blue"][0]]


def test_config_presets_and_helpers(tmp_path):
    cfg = compose(f"output_dir={tmp_path}", "zero=null", "training.report_to=[]", "training.bf16=false",
                  "+training.use_cpu=true")
    assert cfg.training.learning_rate == 1e-5 and cfg.training.num_train_epochs == 3 and cfg.global_batch_size == 32
    assert compose().zero == "zero2" and compose().training.gradient_checkpointing
    assert compose("zero=zero3").zero == "zero3"  # the documented override (no Hydra group of that name)
    args = training_arguments(cfg, world=8)
    assert args.gradient_accumulation_steps == 4 and args.per_device_train_batch_size == 1
    assert gradient_accumulation(32, 2, 16) == 1
    with pytest.raises(ValueError):
        gradient_accumulation(32, 3, 8)
    assert attn_implementation("auto") == "sdpa"  # no GPU here
    assert attn_implementation("eager") == "eager"


@pytest.mark.parametrize("stage", ["zero2", "zero3"])
def test_deepspeed_configs_validate_against_training_arguments(stage, tiny_vlm_path, tmp_path):
    import torch
    from transformers import AutoConfig, TrainingArguments

    path = DEEPSPEED_DIR / f"{stage}.json"
    raw = json.loads(path.read_text())
    assert raw["zero_optimization"]["stage"] == int(stage[-1])
    for key in ("train_micro_batch_size_per_gpu", "gradient_accumulation_steps", "train_batch_size",
                "gradient_clipping"):
        assert raw[key] == "auto"  # taken from TrainingArguments, never contradicting them
    args = TrainingArguments(output_dir=str(tmp_path), per_device_train_batch_size=2, gradient_accumulation_steps=4,
                             learning_rate=1e-5, max_grad_norm=1.0, bf16=False, use_cpu=True, report_to=[])
    model = torch.nn.Linear(1, 1)
    model.config = AutoConfig.from_pretrained(tiny_vlm_path)  # Qwen3-VL: hidden size under text_config
    filled = check_deepspeed_config(path, args, model, num_training_steps=100)
    assert filled["train_micro_batch_size_per_gpu"] == 2 and filled["gradient_accumulation_steps"] == 4
    assert filled["train_batch_size"] == 8 and filled["gradient_clipping"] == 1.0
    assert filled["bf16"]["enabled"] is False
    hidden = model.config.text_config.hidden_size
    assert filled["zero_optimization"]["reduce_bucket_size"] == hidden * hidden
    if stage == "zero3":
        assert filled["zero_optimization"]["stage3_param_persistence_threshold"] == 10 * hidden
        assert filled["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"] is True  # loadable save
    # a hard-coded value that contradicts the arguments is caught before any GPU is used
    bad = dict(raw, train_micro_batch_size_per_gpu=16)
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(ValueError, match="mismatch"):
        check_deepspeed_config(tmp_path / "bad.json", args, model, num_training_steps=100)


@pytest.mark.parametrize("task", ["chart", "table"])
def test_rows_with_a_task_train_on_what_local_judge_sends_for_that_task(task, processor, tiny_vlm_path, tmp_path):
    """Train/serve parity: a make-judge-data row (with its task) is encoded as LocalJudge's released profile
    encodes that task (chart: JPEG ≤ 1024; table: PNG ≤ 768, system prompt, text prefix), not as a PNG ≤ 1024."""
    from PIL import Image, ImageDraw

    from recipes.reward_model_sft.data import example_from_row
    from verm_rl.judge import JudgeRequest
    from verm_rl.judge.local import LocalJudge
    from verm_rl.judge.profiles import judge_inputs

    pngs = []
    for i, name in enumerate(("ref", "pred")):
        img = Image.new("RGB", (900, 300), "white")
        ImageDraw.Draw(img).rectangle([40, 40, 400 + 200 * i, 260], fill=(200, 60, 30))
        img.save(tmp_path / f"{name}.png")
        pngs.append((tmp_path / f"{name}.png").read_bytes())
    (tmp_path / "p.txt").write_text("List every visual difference as JSON.")
    judge = LocalJudge(tiny_vlm_path, engine="transformers", prompts={task: str(tmp_path / "p.txt")})
    served = judge.conversation(JudgeRequest(task, pngs[0], pngs[1]))
    system = judge.inputs.for_task(task).system_prompt
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": "<image><image>List every visual difference as JSON."},
        {"role": "assistant", "content": '{"errors": []}'}]
    ex = example_from_row({"task": task, "messages": messages, "images": ["ref.png", "pred.png"]}, tmp_path)
    collator = SftCollator(processor, inputs=judge_inputs("released"))
    trained_messages, trained_images = collator.conversation(ex)
    assert trained_messages == served.messages
    assert [im.tobytes() for im in trained_images] == [im.tobytes() for im in served.images]
    assert trained_images[0].size == ((768, 256) if task == "table" else (900, 300))
    plain_messages, plain_images = SftCollator(processor).conversation(ex)  # without a profile: the row as written
    assert plain_images[0].tobytes() != trained_images[0].tobytes()
    batch = collator([ex])
    text = processor.apply_chat_template(served.messages, add_generation_prompt=True, tokenize=False)
    ref = processor(text=[text], images=served.images, return_tensors="pt")
    assert batch["input_ids"][0, :ref["input_ids"].shape[1]].tolist() == ref["input_ids"][0].tolist()
    assert batch["pixel_values"].equal(ref["pixel_values"])
