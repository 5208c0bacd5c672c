"""A judge that runs a local model in this process, with dynamic batching (no Ray, no server)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from verm_rl.judge.base import JudgeBackend, JudgeRequest, SamplingParams, resample_on_parse_failure
from verm_rl.judge.batcher import DynamicBatcher
from verm_rl.judge.engine import Conversation, generate_grouped, make_engine
from verm_rl.judge.parse import parse_timed_async
from verm_rl.judge.profiles import JudgeInputs, judge_inputs
from verm_rl.judge.prompts import local_images, local_messages
from verm_rl.judge.schema import Judgement, failed_judgement


class LocalJudge(JudgeBackend):
    """Loads the judge from ``model_path`` (Visual-ERM or the tiny test model) and batches requests.

    Each task's call follows ``inputs`` (or ``profile`` plus overrides): the images are encoded and
    decoded exactly as an http judge would send them; a batch mixing tasks with different sampling
    is generated per sampling group.
    """

    name = "local"

    def __init__(self, model_path: str, engine: str = "auto", sampling: SamplingParams | dict | None = None,
                 max_batch_size: int = 16, max_wait_ms: float = 20.0, prompts: dict[str, str] | str | None = None,
                 max_image_side: int | None = None, inputs: JudgeInputs | None = None, profile: str = "released",
                 **engine_kwargs: Any):
        self.engine = make_engine(model_path, engine, **engine_kwargs)
        if isinstance(sampling, dict):
            sampling = SamplingParams(**sampling)
        self.inputs = inputs or judge_inputs(profile, sampling=sampling, prompts=prompts,
                                             max_image_side=max_image_side)
        self.batcher: DynamicBatcher[tuple[Conversation, SamplingParams], str] = DynamicBatcher(
            lambda items: generate_grouped(self.engine, items), max_batch_size, max_wait_ms)

    def conversation(self, request: JudgeRequest) -> Conversation:
        settings = self.inputs.for_task(request.task)
        images = local_images(request.reference_png, request.candidate_png, settings)
        return Conversation(local_messages(self.inputs.prompt(request.task), settings), images)

    async def _call(self, request: JudgeRequest, conv: Conversation) -> Judgement:
        start = time.monotonic()
        try:
            text = await self.batcher.submit((conv, self.inputs.for_task(request.task).sampling))
        except Exception as e:  # noqa: BLE001 - OOM, engine failure
            return failed_judgement(request.task, "judge_failed", f"{type(e).__name__}: {e}",
                                    time.monotonic() - start)
        return await parse_timed_async(request.task, text, start)

    async def _judge_one(self, request: JudgeRequest) -> Judgement:
        try:
            conv = await asyncio.to_thread(self.conversation, request)
        except Exception as e:  # noqa: BLE001 - bad image, unreadable prompt file
            return failed_judgement(request.task, "judge_failed", f"bad input: {type(e).__name__}: {e}")
        attempts = self.inputs.for_task(request.task).parse_attempts
        return await resample_on_parse_failure(lambda: self._call(request, conv), attempts)

    async def judge(self, requests: list[JudgeRequest]) -> list[Judgement]:
        return list(await asyncio.gather(*(self._judge_one(r) for r in requests)))

    async def close(self) -> None:
        await self.batcher.close()

    def info(self) -> dict[str, Any]:
        sizes = self.batcher.batch_sizes
        return {"device": self.engine.device, "dtype": self.engine.dtype, "batches": len(sizes),
                "mean_batch_size": sum(sizes) / len(sizes) if sizes else 0.0, "profile": self.inputs.profile}
