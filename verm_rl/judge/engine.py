"""Local judge engines: a Visual-ERM-shaped VLM loaded from ``model_path``.

``VllmEngine`` (vLLM's offline engine) when vLLM is installed and a GPU is there; else
``TransformersEngine`` (Hugging Face ``generate``), which is for tests, CPU and fallback: on an
8B judge it manages about one sample per second per GPU, where vLLM manages far more.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import logging
from dataclasses import dataclass
from typing import Any

from PIL import Image

from verm_rl.judge.base import SamplingParams

log = logging.getLogger(__name__)


@dataclass
class Conversation:
    """Chat messages (processor format: ``{"type": "image"}`` parts) and their images in order."""

    messages: list[dict]
    images: list[Image.Image]


def conversation_from_openai(messages: list[dict]) -> Conversation:
    """Turn OpenAI messages with ``image_url`` data URLs into a ``Conversation``."""
    out_msgs, images = [], []
    for msg in messages:
        content = msg.get("content")
        if isinstance(content, str):
            out_msgs.append({"role": msg["role"], "content": content})
            continue
        parts = []
        for part in content or []:
            kind = part.get("type")
            if kind == "image_url":
                url = part["image_url"]["url"] if isinstance(part["image_url"], dict) else part["image_url"]
                if not url.startswith("data:"):
                    raise ValueError("only data: image URLs are accepted (no remote fetches)")
                images.append(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB"))
                parts.append({"type": "image"})
            elif kind == "text":
                parts.append({"type": "text", "text": part.get("text", "")})
        out_msgs.append({"role": msg["role"], "content": parts})
    return Conversation(out_msgs, images)


def generate_grouped(engine: Any, items: list[tuple[Conversation, SamplingParams]]) -> list[str]:
    """Generate for (conversation, sampling) pairs: one engine call per distinct sampling (a batch
    may mix tasks whose profiles decode differently), answers back in input order."""
    out: list[str] = [""] * len(items)
    groups: dict[tuple, list[int]] = {}
    for i, (_, s) in enumerate(items):
        groups.setdefault(tuple(sorted(vars(s).items())), []).append(i)
    for idxs in groups.values():
        texts = engine.generate([items[i][0] for i in idxs], items[idxs[0]][1])
        for i, t in zip(idxs, texts, strict=True):
            out[i] = t or ""
    return out


class _PresencePenalty:
    """OpenAI/vLLM ``presence_penalty`` for Hugging Face ``generate``: subtract the penalty from the
    logit of every token already generated (prompt tokens do not count). HF has no such option."""

    def __init__(self, penalty: float, prompt_len: int):
        self.penalty, self.prompt_len = penalty, prompt_len

    def __call__(self, input_ids, scores):
        generated = input_ids[:, self.prompt_len:]
        if generated.shape[1]:
            seen = scores.new_zeros(scores.shape).scatter_(1, generated, 1.0)
            scores = scores - self.penalty * seen
        return scores


class TransformersEngine:
    """Batched ``generate`` with ``AutoProcessor`` + ``AutoModelForImageTextToText``."""

    def __init__(self, model_path: str, device: str = "auto", dtype: str = "auto"):
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if dtype == "auto":
            torch_dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
        else:
            torch_dtype = getattr(torch, dtype)
        self.device = device
        self.processor = AutoProcessor.from_pretrained(model_path)
        self.processor.tokenizer.padding_side = "left"
        self.model = AutoModelForImageTextToText.from_pretrained(model_path, dtype=torch_dtype).to(device).eval()
        self.dtype = str(torch_dtype).removeprefix("torch.")
        log.info("transformers judge %s on %s (%s)", model_path, device, self.dtype)

    def generate(self, conversations: list[Conversation], sampling: SamplingParams) -> list[str]:
        import torch

        texts = [self.processor.apply_chat_template(c.messages, add_generation_prompt=True, tokenize=False)
                 for c in conversations]
        images = [c.images for c in conversations]
        inputs = self.processor(text=texts, images=images if any(images) else None,
                                return_tensors="pt", padding=True).to(self.device)
        kwargs: dict[str, Any] = {"max_new_tokens": sampling.max_tokens,
                                  "repetition_penalty": sampling.repetition_penalty}
        if sampling.temperature > 0:
            kwargs.update(do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p,
                          top_k=sampling.top_k if sampling.top_k > 0 else None)
        else:
            kwargs.update(do_sample=False)
        if sampling.presence_penalty:
            from transformers import LogitsProcessorList

            kwargs["logits_processor"] = LogitsProcessorList(
                [_PresencePenalty(sampling.presence_penalty, inputs["input_ids"].shape[1])])
        if sampling.seed is not None:
            torch.manual_seed(sampling.seed)
        with torch.inference_mode():
            out = self.model.generate(**inputs, **kwargs)
        new_tokens = out[:, inputs["input_ids"].shape[1]:]
        return self.processor.batch_decode(new_tokens, skip_special_tokens=True)


class VllmEngine:
    """vLLM's offline engine (GPU). Two images per prompt."""

    def __init__(self, model_path: str, gpu_memory_utilization: float = 0.85, max_model_len: int = 16384,
                 tensor_parallel_size: int = 1, **engine_kwargs: Any):
        from vllm import LLM

        self.llm = LLM(model=model_path, limit_mm_per_prompt={"image": 2}, max_model_len=max_model_len,
                       gpu_memory_utilization=gpu_memory_utilization,
                       tensor_parallel_size=tensor_parallel_size, **engine_kwargs)
        self.device, self.dtype = "cuda", str(self.llm.llm_engine.model_config.dtype)

    def generate(self, conversations: list[Conversation], sampling: SamplingParams) -> list[str]:
        from vllm import SamplingParams as VSampling

        params = VSampling(temperature=sampling.temperature, top_p=sampling.top_p, top_k=sampling.top_k,
                           max_tokens=sampling.max_tokens, repetition_penalty=sampling.repetition_penalty,
                           presence_penalty=sampling.presence_penalty, seed=sampling.seed)
        prompts = []
        for c in conversations:
            text = self.llm.get_tokenizer().apply_chat_template(
                c.messages, add_generation_prompt=True, tokenize=False)
            prompts.append({"prompt": text, "multi_modal_data": {"image": c.images}})
        return [o.outputs[0].text for o in self.llm.generate(prompts, params, use_tqdm=False)]


def vllm_available() -> bool:
    if importlib.util.find_spec("vllm") is None:
        return False
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:
        return False


def make_engine(model_path: str, engine: str = "auto", **kwargs: Any):
    """``engine``: auto (vLLM if importable and a GPU is visible, else transformers), vllm, transformers."""
    if engine == "auto":
        engine = "vllm" if vllm_available() else "transformers"
    if engine == "vllm":
        return VllmEngine(model_path, **kwargs)
    if engine == "transformers":
        return TransformersEngine(model_path, **{k: v for k, v in kwargs.items() if k in ("device", "dtype")})
    raise ValueError(f"unknown judge engine {engine!r}: auto, vllm or transformers")
