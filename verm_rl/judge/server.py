"""``verm-rl serve-judge``: an OpenAI-compatible chat-completions server around a local judge engine.

For users without vLLM (and for tests of the ``http`` backend against a real server). Concurrent
requests are batched dynamically. Endpoints: POST /v1/chat/completions, GET /v1/models, GET /health.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from typing import Any

from verm_rl.judge.base import SamplingParams
from verm_rl.judge.batcher import DynamicBatcher
from verm_rl.judge.engine import Conversation, conversation_from_openai, generate_grouped, make_engine

log = logging.getLogger(__name__)


def _parse_request(body: dict[str, Any], max_tokens_cap: int) -> tuple[Conversation, SamplingParams]:
    """The conversation and sampling of a request; raises on anything generation would fail on later
    (inside a batch shared with other requests)."""
    messages = body["messages"]
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        raise ValueError("messages must be a non-empty list of message objects")
    if body.get("n") not in (None, 1) or body.get("stream"):
        raise ValueError("only n=1 without streaming is served")
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    sampling = SamplingParams(
        temperature=float(body.get("temperature", 0.0) or 0.0), top_p=float(body.get("top_p", 1.0)),
        top_k=int(body.get("top_k", -1) or -1), seed=seed,
        max_tokens=min(int(512 if body.get("max_tokens") is None else body["max_tokens"]), max_tokens_cap),
        repetition_penalty=float(body.get("repetition_penalty") or 1.0),
        presence_penalty=float(body.get("presence_penalty") or 0.0),
    )
    if not (sampling.max_tokens >= 1 and 0 <= sampling.temperature < math.inf and 0 < sampling.top_p <= 1
            and sampling.repetition_penalty > 0 and math.isfinite(sampling.presence_penalty)):
        raise ValueError(f"sampling out of range: max_tokens>=1, temperature>=0, 0<top_p<=1, "
                         f"repetition_penalty>0 (got {sampling})")
    return conversation_from_openai(messages), sampling


def create_app(model_path: str, served_model_name: str = "reward_service", engine: str = "transformers",
               max_batch_size: int = 16, max_wait_ms: float = 20.0, max_tokens_cap: int = 8192, **engine_kwargs: Any):
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    backend = make_engine(model_path, engine, **engine_kwargs)
    app = FastAPI(title="visual-erm judge")
    stats = {"requests": 0, "errors": 0}

    def run_batch(items: list[tuple[Conversation, SamplingParams]]) -> list[str | Exception]:
        try:
            return generate_grouped(backend, items)  # clients (tasks, profiles) may sample differently
        except Exception:  # noqa: BLE001 - one request must not fail the others batched with it
            if len(items) == 1:
                raise
            log.exception("batch of %d failed; generating its requests one by one", len(items))
        out: list[str | Exception] = []
        for item in items:
            try:
                out += generate_grouped(backend, [item])
            except Exception as e:  # noqa: BLE001 - answered as this request's 500
                out.append(e)
        return out

    batcher: DynamicBatcher = DynamicBatcher(run_batch, max_batch_size, max_wait_ms)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "model": served_model_name, "device": backend.device, **stats,
                "batches": len(batcher.batch_sizes)}

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": served_model_name, "object": "model", "owned_by": "verm_rl"}]}

    @app.post("/v1/chat/completions")
    async def chat(body: dict[str, Any]) -> Any:
        stats["requests"] += 1
        try:
            conv, sampling = _parse_request(body, max_tokens_cap)
        except Exception as e:  # noqa: BLE001 - any malformed request (bad base64, not an image, wrong types)
            stats["errors"] += 1
            return JSONResponse(status_code=400, content={"error": {
                "message": f"bad request: {type(e).__name__}: {e}", "type": "BadRequestError"}})
        try:
            text = await batcher.submit((conv, sampling))
            if isinstance(text, Exception):
                raise text
        except Exception as e:  # noqa: BLE001
            stats["errors"] += 1
            return JSONResponse(status_code=500, content={"error": {"message": f"{type(e).__name__}: {e}"}})
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion", "created": int(time.time()),
            "model": served_model_name,
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
        }

    app.state.batcher = batcher
    return app


def serve(model_path: str, host: str = "127.0.0.1", port: int = 8000, **kwargs: Any) -> None:
    import uvicorn

    uvicorn.run(create_app(model_path, **kwargs), host=host, port=port, log_level="warning")
