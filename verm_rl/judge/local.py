"""A judge that runs a local model in this process, with dynamic batching (no Ray, no server)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from verm_rl.judge.base import JudgeBackend, JudgeRequest, SamplingParams
from verm_rl.judge.batcher import DynamicBatcher
from verm_rl.judge.engine import Conversation, make_engine
from verm_rl.judge.parse import parse_timed
from verm_rl.judge.prompts import load_prompt, local_messages, prepare_image
from verm_rl.judge.schema import Judgement, failed_judgement


class LocalJudge(JudgeBackend):
    """Loads the judge from ``model_path`` (Visual-ERM or the tiny test model) and batches requests."""

    name = "local"

    def __init__(self, model_path: str, engine: str = "auto", sampling: SamplingParams | dict | None = None,
                 max_batch_size: int = 16, max_wait_ms: float = 20.0, prompts: dict[str, str] | None = None,
                 max_image_side: int = 1024, **engine_kwargs: Any):
        self.engine = make_engine(model_path, engine, **engine_kwargs)
        self.sampling = sampling if isinstance(sampling, SamplingParams) else SamplingParams(**(sampling or {}))
        self.prompts = prompts or {}
        self.max_image_side = max_image_side
        self.batcher: DynamicBatcher[Conversation, str] = DynamicBatcher(
            lambda convs: self.engine.generate(convs, self.sampling), max_batch_size, max_wait_ms)

    def conversation(self, request: JudgeRequest) -> Conversation:
        import io

        from PIL import Image

        prompt = load_prompt(request.task, self.prompts.get(request.task))
        images = []
        for png in (request.reference_png, request.candidate_png):
            data, _ = prepare_image(png, self.max_image_side)
            images.append(Image.open(io.BytesIO(data)).convert("RGB"))
        return Conversation(local_messages(request.task, prompt), images)

    async def _judge_one(self, request: JudgeRequest) -> Judgement:
        start = time.monotonic()
        try:
            conv = await asyncio.to_thread(self.conversation, request)
            text = await self.batcher.submit(conv)
        except Exception as e:  # noqa: BLE001 - bad image, OOM, engine failure
            return failed_judgement(request.task, "judge_failed", f"{type(e).__name__}: {e}",
                                    time.monotonic() - start)
        return parse_timed(request.task, text, start)

    async def judge(self, requests: list[JudgeRequest]) -> list[Judgement]:
        return list(await asyncio.gather(*(self._judge_one(r) for r in requests)))

    def info(self) -> dict[str, Any]:
        sizes = self.batcher.batch_sizes
        return {"device": self.engine.device, "dtype": self.engine.dtype, "batches": len(sizes),
                "mean_batch_size": sum(sizes) / len(sizes) if sizes else 0.0}
