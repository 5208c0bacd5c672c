"""Policy backends for inference outside verl: test-time scaling (``verm-rl tts``) and benchmark
evaluation (``verm-rl evaluate``). Training generates with verl's own rollout; this is the same model
served for everything else.

``await backend.generate(requests) -> list[str]``, one answer per request in order. A failed request
(unreachable server, bad image, engine error) gives ``""`` and is counted in ``backend.stats``; it
never raises, so one bad sample cannot sink a benchmark run.

- ``HttpPolicy``: any OpenAI-compatible chat-completions endpoint(s) (``vllm serve``, SGLang,
  ``verm-rl serve-judge`` with a policy model). Transport, balancing over several endpoints, timeouts
  and retries are the http judge's (``verm_rl.judge.http.HttpJudge``), reused as is.
- ``LocalPolicy``: a local model folder through the judge's engines (vLLM offline engine on a GPU,
  else transformers ``generate``), with dynamic batching. CPU tests use the tiny Qwen3-VL of
  ``verm_rl.testing.tiny_vlm``.

``build_policy("http://host:8000/v1")`` or ``build_policy("/path/to/model")`` picks one.
"""

from __future__ import annotations

import asyncio
import base64
import io
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from verm_rl.judge.base import SamplingParams

log = logging.getLogger(__name__)


@dataclass
class PolicyRequest:
    """One generation.

    images: PNG/JPEG bytes, in the order of the image placeholders in ``messages``.
    messages: OpenAI-style chat messages whose content is a string or a list of parts; an image part
        is the placeholder ``{"type": "image"}`` (the processor format), filled from ``images``.
    temperature / top_p / max_tokens: None leaves them out of an HTTP request (the server's default;
        OpenAI's reasoning models accept only their default temperature). ``extra``: more body fields
        for HTTP (e.g. ``{"max_completion_tokens": 8192}``), ignored by local engines.
    """

    images: list[bytes] = field(repr=False)
    messages: list[dict]
    max_tokens: int | None = 4096
    temperature: float | None = 0.0
    top_p: float | None = 1.0
    top_k: int = -1
    repetition_penalty: float = 1.0
    seed: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def sampling(self) -> SamplingParams:
        return SamplingParams(temperature=self.temperature or 0.0, top_p=1.0 if self.top_p is None else self.top_p,
                              top_k=self.top_k, max_tokens=self.max_tokens or 4096,
                              repetition_penalty=self.repetition_penalty, seed=self.seed)

    def image_slots(self) -> int:
        return sum(1 for m in self.messages if isinstance(m.get("content"), list)
                   for p in m["content"] if isinstance(p, dict) and p.get("type") == "image")


def user_content(text: str) -> list[dict]:
    """Content parts for an instruction with ``<image>`` markers (our parquet prompts): each marker
    becomes an image placeholder at its position, the text around it text parts."""
    parts: list[dict] = []
    for i, chunk in enumerate(text.split("<image>")):
        if i:
            parts.append({"type": "image"})
        if chunk.strip():
            parts.append({"type": "text", "text": chunk})
    return parts


def task_request(task: str, image_png: bytes, prompt: str | None = None, **sampling: Any) -> PolicyRequest:
    """The first-round request for ``task``: the policy instruction (``policy_prompt``, or ``prompt``
    with one ``<image>``; one without a marker gets the image first) and the input image."""
    from verm_rl.data.dataset import policy_prompt

    text = prompt if prompt is not None else policy_prompt(task)
    if "<image>" not in text:
        text = "<image>" + text
    return PolicyRequest([image_png], [{"role": "user", "content": user_content(text)}], **sampling)


@dataclass
class PolicyStats:
    requests: int = 0
    failures: int = 0
    seconds: float = 0.0
    last_error: str = ""

    def failed(self, why: str) -> str:
        self.failures += 1
        self.last_error = why[:500]
        log.warning("policy request failed: %s", why[:300])
        return ""


@runtime_checkable
class PolicyBackend(Protocol):
    name: str
    stats: PolicyStats

    async def generate(self, requests: list[PolicyRequest]) -> list[str]:
        """One answer per request, in order; ``""`` (counted in ``stats``) for a failed one."""
        ...

    async def close(self) -> None:
        ...


def _mime(data: bytes) -> str:
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "image/png"


def openai_policy_messages(request: PolicyRequest, max_image_side: int | None = None,
                           image_format: str = "png") -> list[dict]:
    """The request's messages with each image placeholder replaced by a data-URL ``image_url`` part."""
    from verm_rl.judge.prompts import data_url, prepare_image

    if request.image_slots() != len(request.images):
        raise ValueError(f"{request.image_slots()} image placeholders for {len(request.images)} images")
    images = iter(request.images)
    out = []
    for msg in request.messages:
        content = msg.get("content")
        if not isinstance(content, list):
            out.append(dict(msg))
            continue
        parts = []
        for part in content:
            if part.get("type") == "image":
                data = next(images)
                if max_image_side:
                    data, mime = prepare_image(data, max_image_side, image_format)
                else:
                    mime = _mime(data)
                parts.append({"type": "image_url", "image_url": {"url": data_url(data, mime)}})
            else:
                parts.append(part)
        out.append({**msg, "content": parts})
    return out


class HttpPolicy:
    """A policy behind OpenAI-compatible endpoints. ``model=None`` asks the first endpoint's
    ``/v1/models`` for the served name (what ``vllm serve`` reports)."""

    name = "http"

    def __init__(self, endpoints: list[str] | str, model: str | None = None, api_key: str | None = None,
                 max_concurrency: int = 64, timeout_s: float = 600.0, retries: int = 3, backoff_s: float = 0.5,
                 max_image_side: int | None = None, image_format: str = "png"):
        from verm_rl.judge.http import HttpJudge, HttpJudgeConfig

        endpoints = [e for e in (endpoints.split(",") if isinstance(endpoints, str) else endpoints) if e.strip()]
        self.transport = HttpJudge(HttpJudgeConfig(endpoints=endpoints, model=model or "", api_key=api_key,
                                                   max_concurrency=max_concurrency, timeout_s=timeout_s,
                                                   retries=retries, backoff_s=backoff_s))
        self.model = model
        self.max_image_side = max_image_side
        self.image_format = image_format
        self.stats = PolicyStats()
        self._model_lock: asyncio.Lock | None = None

    async def _served_model(self) -> str:
        if self.model:
            return self.model
        if self._model_lock is None:
            self._model_lock = asyncio.Lock()
        async with self._model_lock:
            if not self.model:
                client = self.transport._ensure_client()
                url = self.transport.urls[0].removesuffix("/chat/completions") + "/models"
                try:
                    resp = await client.get(url)
                    self.model = resp.json()["data"][0]["id"]
                except Exception as e:  # noqa: BLE001 - servers without /v1/models accept any name
                    log.warning("could not read the served model name from %s (%s); using 'default'", url, e)
                    self.model = "default"
        return self.model

    def payload(self, request: PolicyRequest, model: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": model, "messages": openai_policy_messages(request, self.max_image_side, self.image_format)}
        for key in ("max_tokens", "temperature", "top_p"):
            if getattr(request, key) is not None:
                body[key] = getattr(request, key)
        if request.top_k > 0:
            body["top_k"] = request.top_k
        if request.repetition_penalty != 1.0:
            body["repetition_penalty"] = request.repetition_penalty
        if request.seed is not None:
            body["seed"] = request.seed
        return {**body, **request.extra}

    async def _one(self, request: PolicyRequest) -> str:
        self.stats.requests += 1
        start = time.monotonic()
        try:
            body = await asyncio.to_thread(self.payload, request, await self._served_model())
        except Exception as e:  # noqa: BLE001 - a bad image or placeholder count
            return self.stats.failed(f"bad request: {type(e).__name__}: {e}")
        self.transport._ensure_client()
        async with self.transport._sem:
            try:
                text = await self.transport._post(body)
            except Exception as e:  # noqa: BLE001 - unreachable, timeouts, bad responses
                return self.stats.failed(f"{type(e).__name__}: {e}")
            finally:
                self.stats.seconds += time.monotonic() - start
        return text

    async def generate(self, requests: list[PolicyRequest]) -> list[str]:
        return list(await asyncio.gather(*(self._one(r) for r in requests)))

    async def close(self) -> None:
        await self.transport.close()


class LocalPolicy:
    """A policy loaded in this process from a model folder; concurrent requests are batched."""

    name = "local"

    def __init__(self, model_path: str, engine: str = "auto", max_batch_size: int = 8, max_wait_ms: float = 20.0,
                 **engine_kwargs: Any):
        from verm_rl.judge.batcher import DynamicBatcher
        from verm_rl.judge.engine import make_engine

        self.engine = make_engine(str(model_path), engine, **engine_kwargs)
        self.stats = PolicyStats()
        self.batcher: DynamicBatcher = DynamicBatcher(self._run_batch, max_batch_size, max_wait_ms)

    def _run_batch(self, items: list[tuple[Any, SamplingParams]]) -> list[str]:
        # requests with different sampling settings cannot share one generate call
        out: list[str] = [""] * len(items)
        groups: dict[tuple, list[int]] = {}
        for i, (_, s) in enumerate(items):
            groups.setdefault(tuple(vars(s).items()), []).append(i)
        for idxs in groups.values():
            texts = self.engine.generate([items[i][0] for i in idxs], items[idxs[0]][1])
            for i, t in zip(idxs, texts, strict=True):
                out[i] = t
        return out

    @staticmethod
    def conversation(request: PolicyRequest):
        from PIL import Image

        from verm_rl.judge.engine import Conversation

        if request.image_slots() != len(request.images):
            raise ValueError(f"{request.image_slots()} image placeholders for {len(request.images)} images")
        images = [Image.open(io.BytesIO(b)).convert("RGB") for b in request.images]
        return Conversation([dict(m) for m in request.messages], images)

    async def _one(self, request: PolicyRequest) -> str:
        self.stats.requests += 1
        start = time.monotonic()
        try:
            conv = await asyncio.to_thread(self.conversation, request)
            return await self.batcher.submit((conv, request.sampling()))
        except Exception as e:  # noqa: BLE001 - bad image, OOM, engine failure
            return self.stats.failed(f"{type(e).__name__}: {e}")
        finally:
            self.stats.seconds += time.monotonic() - start

    async def generate(self, requests: list[PolicyRequest]) -> list[str]:
        return list(await asyncio.gather(*(self._one(r) for r in requests)))

    async def close(self) -> None:
        pass


def build_policy(spec: str, **kwargs: Any) -> PolicyBackend:
    """``spec``: ``http(s)://host:port[/v1]`` (comma-separated for several endpoints; kwargs of
    ``HttpPolicy``: model, api_key, max_concurrency, timeout_s, …) or a local model folder (kwargs of
    ``LocalPolicy``: engine, max_batch_size, device, …)."""
    spec = spec.strip()
    if spec.startswith(("http://", "https://")):
        return HttpPolicy(spec, **kwargs)
    path = Path(spec).expanduser()
    if path.is_dir():
        return LocalPolicy(str(path), **kwargs)
    raise ValueError(f"policy {spec!r} is neither an http(s):// endpoint nor a local model folder")


def decode_data_url(url: str) -> bytes:
    """The bytes of a ``data:`` URL (for servers and tests that receive our requests)."""
    return base64.b64decode(url.split(",", 1)[1])
