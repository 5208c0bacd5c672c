"""The ``structural`` judge: a deterministic critic that compares the reference program with the
candidate (traced figure, SVG tree, table grid) and answers in Visual-ERM's JSON schema. No GPU.

Visual equivalence comes first: pixel-identical renders get no errors without any structural
comparison (``visual.py``); near-identical ones are compared with that fact in the judgement's notes.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from cachetools import FIFOCache

from verm_rl.judge.base import JudgeBackend, JudgeRequest
from verm_rl.judge.schema import JudgedError, Judgement, failed_judgement
from verm_rl.judge.structural.visual import VisualMatch, visual_match
from verm_rl.tasks import get_task

RenderFn = Callable[..., Awaitable[Any]]


def compare_sources(task: str, reference: str, candidate: str, reference_trace: dict | None = None,
                    candidate_trace: dict | None = None, visual: VisualMatch | None = None) -> list[JudgedError]:
    """Differences between two programs of ``task`` (the task spec's ``comparer``; tasks with
    ``structural_trace`` need their traces). ``visual``: how the two renders compare, when known;
    identical renders have no differences to report."""
    if visual is not None and visual.identical:
        return []
    return get_task(task).compare(reference, candidate, reference_trace, candidate_trace)


class StructuralJudge(JudgeBackend):
    """Judges from the programs, not the pixels, with each task's ``comparer``. Tasks with
    ``structural_trace`` (charts) are re-run in the sandbox with tracing through ``render``
    (``RenderPool.render`` in the pipeline; a local ``Renderer`` by default)."""

    name = "structural"
    reads_sources = True

    def __init__(self, render: RenderFn | None = None, render_options: dict[str, Any] | None = None,
                 cache_size: int = 1024):
        self._render = render
        self._renderer = None
        self.render_options = render_options or {}
        self._traces: FIFOCache[str, dict] = FIFOCache(maxsize=cache_size)  # traces of recent programs

    async def _trace(self, task: str, source: str) -> dict:
        """The trace of ``source`` drawn as ``task`` (cached by task and program)."""
        key = hashlib.blake2b(f"{task}\0{source}".encode(), digest_size=16).hexdigest()
        if key in self._traces:
            return self._traces[key]
        if self._render is not None:
            result = await self._render(task, source, trace=True, **self.render_options)
        else:
            if self._renderer is None:
                from verm_rl.render import Renderer

                self._renderer = Renderer()
            result = await asyncio.to_thread(self._renderer.render, task, source, trace=True,
                                             **self.render_options)
        if not result.ok or "trace" not in result.meta:
            raise RuntimeError(f"could not trace the {task}: {result.error_kind}: {result.message}")
        self._traces[key] = result.meta["trace"]
        return result.meta["trace"]

    async def _judge_one(self, request: JudgeRequest) -> Judgement:
        start = time.monotonic()
        if not request.reference_source or not request.candidate_source:
            return failed_judgement(request.task, "judge_failed", "the structural judge needs both programs")
        visual = await asyncio.to_thread(visual_match, request.reference_png, request.candidate_png)
        notes = [visual.note()] if visual is not None and visual.note() else []
        if visual is not None and visual.identical:
            judgement = Judgement(task=request.task, notes=notes, seconds=time.monotonic() - start)
            judgement.raw = json.dumps(judgement.to_json_answer())
            return judgement
        try:
            traces = (None, None)
            spec = get_task(request.task)
            if spec.comparer is None:
                raise ValueError(f"task {request.task!r} has no structural comparer")
            if spec.structural_trace:
                traces = await asyncio.gather(self._trace(request.task, request.reference_source),
                                              self._trace(request.task, request.candidate_source))
            # off the event loop: comparing two large SVGs or tables takes CPU time the other requests need
            errors = await asyncio.to_thread(compare_sources, request.task, request.reference_source,
                                             request.candidate_source, *traces, visual=visual)
        except Exception as e:  # noqa: BLE001 - unparseable markup, untraceable chart
            return failed_judgement(request.task, "judge_failed", f"{type(e).__name__}: {e}",
                                    time.monotonic() - start)
        judgement = Judgement(task=request.task, errors=errors, notes=notes, seconds=time.monotonic() - start)
        judgement.raw = json.dumps(judgement.to_json_answer())
        return judgement

    async def judge(self, requests: list[JudgeRequest]) -> list[Judgement]:
        return list(await asyncio.gather(*(self._judge_one(r) for r in requests)))

    async def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
