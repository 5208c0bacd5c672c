"""Similarity "judges" for the baseline rewards: SSIM, pixel L2, TEDS/TEDS-S, DINOv2.

They fill ``Judgement.similarity`` (no error list); the reward then uses it as its visual term, so
the baselines share the render path, the pipeline and the logged fields with Visual-ERM.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from verm_rl.judge.base import JudgeBackend, JudgeRequest
from verm_rl.judge.batcher import DynamicBatcher
from verm_rl.judge.schema import Judgement, failed_judgement
from verm_rl.tasks import get_task

KINDS = ("ssim", "l2", "teds", "teds_s")


def similarity(kind: str, request: JudgeRequest) -> float:
    from verm_rl import similarity as sim

    if kind == "ssim":
        return sim.ssim_similarity(request.reference_png, request.candidate_png)
    if kind == "l2":
        return sim.pixel_l2_similarity(request.reference_png, request.candidate_png)
    if kind in ("teds", "teds_s"):
        if "teds" not in get_task(request.task).extra_metrics:  # the tasks whose programs are table markup
            raise ValueError(f"TEDS compares tables only, not {request.task!r} programs")
        if not request.reference_source or not request.candidate_source:
            raise ValueError("TEDS needs the reference and candidate markup")
        return sim.teds(request.reference_source, request.candidate_source, structure_only=kind == "teds_s")
    raise ValueError(f"unknown similarity {kind!r}: {KINDS}")


async def judged_similarity(request: JudgeRequest, kind: str, compute: Any) -> Judgement:
    """Await ``compute()`` (a similarity) and wrap it, or its failure, as a Judgement."""
    start = time.monotonic()
    try:
        value = float(await compute())
    except Exception as e:  # noqa: BLE001 - a bad image or markup is a counted judge failure
        return failed_judgement(request.task, "judge_failed", f"{kind}: {type(e).__name__}: {e}")
    return Judgement(task=request.task, similarity=value, raw=f"{kind}={value:.6f}", seconds=time.monotonic() - start)


class SimilarityJudge(JudgeBackend):
    """SSIM / pixel L2 on the renders, or TEDS / TEDS-S on the table markup (CPU, in threads)."""

    def __init__(self, kind: str):
        if kind not in KINDS:
            raise ValueError(f"unknown similarity {kind!r}: {KINDS}")
        self.kind = kind
        self.name = kind
        self.reads_sources = kind in ("teds", "teds_s")  # TEDS compares the markup, not the pixels

    async def _one(self, request: JudgeRequest) -> Judgement:
        return await judged_similarity(request, self.kind,
                                       lambda: asyncio.to_thread(similarity, self.kind, request))

    async def judge(self, requests: list[JudgeRequest]) -> list[Judgement]:
        return list(await asyncio.gather(*(self._one(r) for r in requests)))


class DinoJudge(JudgeBackend):
    """DINOv2 tiled CLS similarity in this process, batched dynamically (GPU actor: ``kind='dino'``)."""

    name = "dino"

    def __init__(self, model_path: str, max_batch_size: int = 16, max_wait_ms: float = 20.0, **scorer_kwargs: Any):
        from verm_rl.similarity.dino import DinoScorer

        self.scorer = DinoScorer(model_path, **scorer_kwargs)
        self.batcher: DynamicBatcher = DynamicBatcher(self.scorer.similarities, max_batch_size, max_wait_ms)

    async def _one(self, request: JudgeRequest) -> Judgement:
        return await judged_similarity(request, "dino",
                                       lambda: self.batcher.submit((request.reference_png, request.candidate_png)))

    async def judge(self, requests: list[JudgeRequest]) -> list[Judgement]:
        return list(await asyncio.gather(*(self._one(r) for r in requests)))

    def info(self) -> dict[str, Any]:
        sizes = self.batcher.batch_sizes
        return {"device": self.scorer.device, "dtype": str(self.scorer.dtype).removeprefix("torch."),
                "batches": len(sizes), "mean_batch_size": sum(sizes) / len(sizes) if sizes else 0.0}
