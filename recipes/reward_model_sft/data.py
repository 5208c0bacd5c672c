"""The SFT examples and their collator: two images + the judge prompt → the JSON answer, loss on the answer only.

A row of ``sft.jsonl`` (``verm-rl synth`` / ``verm-rl make-judge-data``) is LLaMA-Factory's chat format:
``{"messages": [system?, user "<image><image>" + prompt, assistant answer], "images": [ref, pred]}``
with image paths relative to the file. The collator builds exactly the conversation the judge sees at
inference (``verm_rl.judge.prompts.local_messages`` through the processor's chat template, images
downscaled as ``LocalJudge`` does), so a checkpoint is trained on the prompts it will be asked.
"""

from __future__ import annotations

import io
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from verm_rl.judge.profiles import JudgeInputs
from verm_rl.judge.prompts import local_images, local_messages, prepare_image
from verm_rl.policy import user_content

log = logging.getLogger(__name__)
IGNORE_INDEX = -100  # labels the loss skips (PyTorch's cross-entropy default)
PER_TOKEN_KEYS = ("input_ids", "attention_mask", "mm_token_type_ids", "token_type_ids")


@dataclass
class SftExample:
    """One training pair: the chat turns before the answer, the answer text, the two image paths."""

    prompt_messages: list[dict]
    answer: str
    images: list[Path]
    task: str | None = None  # set: the collator builds the call as the judge profile does for this task
    prompt_text: str = ""  # the user's text without the image markers


def example_from_row(row: dict[str, Any], root: Path) -> SftExample:
    """Parse one ``sft.jsonl`` row; raises ``ValueError`` with the reason for a malformed one."""
    messages = row.get("messages")
    images = row.get("images")
    if not isinstance(messages, list) or len(messages) < 2 or messages[-1].get("role") != "assistant":
        raise ValueError("messages must end with the assistant's answer")
    if not isinstance(images, list) or not images:
        raise ValueError("no images")
    prompt = []
    for m in messages[:-1]:
        content = m.get("content", "")
        prompt.append({"role": m["role"], "content": user_content(content) if "<image>" in content else content})
    slots = sum(1 for m in prompt if isinstance(m["content"], list) for p in m["content"] if p["type"] == "image")
    if slots != len(images):
        raise ValueError(f"{slots} <image> markers for {len(images)} images")
    paths = [Path(p) if Path(p).is_absolute() else root / p for p in images]
    task = row.get("task")
    if task is not None and len(paths) != 2:
        raise ValueError(f"a row with a task has a (reference, candidate) pair, not {len(paths)} images")
    text = "".join(str(m.get("content", "")) for m in messages[:-1] if m.get("role") == "user").replace("<image>", "")
    return SftExample(prompt, str(messages[-1]["content"]), paths, task, text)


def load_sft_jsonl(path: str | Path, limit: int | None = None) -> list[SftExample]:
    """Examples of an ``sft.jsonl`` (image paths relative to its folder); bad rows are logged and skipped."""
    path = Path(path)
    out: list[SftExample] = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            ex = example_from_row(json.loads(line), path.parent)
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            log.warning("%s:%d skipped: %s", path, n, e)
            continue
        missing = [p for p in ex.images if not p.exists()]
        if missing:
            log.warning("%s:%d skipped: missing image %s", path, n, missing[0])
            continue
        out.append(ex)
        if limit and len(out) >= limit:
            break
    if not out:
        raise ValueError(f"{path}: no usable SFT rows")
    return out


def load_image(path: Path, max_side: int) -> Image.Image:
    """The image as the judge sees it at inference (``prepare_image``: longest side ≤ ``max_side``)."""
    data, _ = prepare_image(path.read_bytes(), max_side)
    return Image.open(io.BytesIO(data)).convert("RGB")


class SftCollator:
    """Tokenise examples with the model's processor and pad them into one batch.

    Each example is the prompt (chat template with the generation prompt, image placeholders expanded
    by the processor to the right number of vision tokens) followed by the answer tokens and the end
    of turn token. Labels are ``IGNORE_INDEX`` on the prompt, the vision tokens and the padding.
    Sequences are right-padded; the vision inputs of all examples are concatenated in order, which is
    how Qwen-VL processors batch them.
    """

    def __init__(self, processor: Any, max_image_side: int = 1024, max_length: int | None = None,
                 end_of_turn: str = "<|im_end|>", inputs: JudgeInputs | None = None):
        self.processor = processor
        self.inputs = inputs  # the serving profile: rows with a task are encoded as LocalJudge encodes that task
        self.tokenizer = processor.tokenizer
        self.max_image_side = max_image_side
        self.max_length = max_length
        self.end_of_turn = end_of_turn
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0

    def conversation(self, ex: SftExample) -> tuple[list[dict], list[Image.Image]]:
        """The messages and images the model is trained on: for a row with a task and a serving profile,
        exactly what ``LocalJudge`` sends for that task (system prompt, text prefix, image order, format,
        size); otherwise the row's own turns with images downscaled to ``max_image_side``."""
        if self.inputs is None or ex.task is None:
            return ex.prompt_messages, [load_image(p, self.max_image_side) for p in ex.images]
        settings = self.inputs.for_task(ex.task)
        ref, pred = (p.read_bytes() for p in ex.images)
        return local_messages(ex.prompt_text, settings), local_images(ref, pred, settings)

    def encode(self, ex: SftExample) -> dict[str, Any]:
        import torch

        messages, images = self.conversation(ex)
        text = self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        prompt = self.processor(text=[text], images=images, return_tensors="pt")
        answer_ids = self.tokenizer(ex.answer + self.end_of_turn, add_special_tokens=False,
                                    return_tensors="pt")["input_ids"][0]
        prompt_ids = prompt["input_ids"][0]
        n_prompt = len(prompt_ids)
        item: dict[str, Any] = {"input_ids": torch.cat([prompt_ids, answer_ids])}
        item["labels"] = torch.cat([torch.full((n_prompt,), IGNORE_INDEX, dtype=torch.long), answer_ids])
        item["attention_mask"] = torch.ones_like(item["input_ids"])
        for key in PER_TOKEN_KEYS[2:]:
            if key in prompt:  # e.g. Qwen3-VL's mm_token_type_ids: 0 for every answer token
                item[key] = torch.cat([prompt[key][0], torch.zeros_like(answer_ids)])
        if self.max_length and len(item["input_ids"]) > self.max_length:
            if n_prompt >= self.max_length:  # cutting into the vision tokens would break the model's inputs
                raise ValueError(f"prompt of {n_prompt} tokens exceeds max_length={self.max_length}")
            item = {k: v[:self.max_length] for k, v in item.items()}
        for key, value in prompt.items():
            if key not in PER_TOKEN_KEYS:
                item[key] = value  # pixel_values, image_grid_thw: per image, concatenated later
        return item

    def pad(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        width = max(len(it["input_ids"]) for it in items)
        fill = {"input_ids": self.pad_id, "labels": IGNORE_INDEX}
        batch: dict[str, Any] = {}
        for key in ("input_ids", "labels", *PER_TOKEN_KEYS[1:]):
            if key not in items[0]:
                continue
            rows = []
            for it in items:
                v = it[key]
                pad = torch.full((width - len(v),), fill.get(key, 0), dtype=v.dtype)
                rows.append(torch.cat([v, pad]))
            batch[key] = torch.stack(rows)
        for key in items[0]:
            if key not in batch:
                batch[key] = torch.cat([it[key] for it in items])
        return batch

    def __call__(self, examples: list[SftExample]) -> dict[str, Any]:
        return self.pad([self.encode(ex) for ex in examples])
