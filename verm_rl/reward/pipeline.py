"""The reward pipeline: render → de-duplicate → judge → reward, for a batch of responses.

Ray-free: it renders through any ``RenderBackend`` (the local worker pool of ``verm_rl.render.local_pool``
in a script, the Ray ``reward_workers.RenderPool`` in training) and judges through any ``JudgeBackend``.
``verm_rl.reward.scoring.score`` is the plain function over it; verl's reward manager streams into
``RewardPipeline.score_one``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, get_args, runtime_checkable

from cachetools import LRUCache

from verm_rl.judge import JudgeBackend, Judgement, JudgeRequest, failed_judgement
from verm_rl.judge.batcher import DynamicBatcher
from verm_rl.judge.schema import JudgedError, JudgeStatus
from verm_rl.render.result import RenderResult
from verm_rl.reward.metrics import reward_metrics
from verm_rl.reward.record import columns, sample_row
from verm_rl.reward.severity import RewardBreakdown, SeverityRewardConfig, score_batch
from verm_rl.tasks import extract_code
from verm_rl.tasks.fences import has_language_fence

log = logging.getLogger(__name__)


@runtime_checkable
class RenderBackend(Protocol):
    """Where programs are rendered: one async call that never raises for a bad program (a failed render is a
    ``RenderResult`` with its ``error_kind``). ``LocalRenderPool`` and the Ray ``RenderPool`` both are one."""

    async def render(self, task: str, source: str | None, **options: Any) -> RenderResult:
        ...


@dataclass
class ScoreItem:
    """One sample to score: the policy's response and the reference (image, or program to render)."""

    task: str
    response: str
    reference_png: bytes | None = None
    reference_source: str | None = None
    uid: str | None = None


@dataclass
class ScoredSample:
    """One sample's reward with what produced it: the candidate's render, the verdict (None when the sample
    was never judged: no code, failed render), the reference image used, and whether the verdict was shared
    with an identical pair earlier in the batch (``dedup_hit``: no judge call of its own)."""

    reward: RewardBreakdown
    render: RenderResult
    judgement: Judgement | None
    reference_png: bytes | None = None
    dedup_hit: bool = False


@dataclass
class PipelineResult:
    """The scored samples in input order, ``reward_metrics`` of the batch, and the call's wall seconds."""

    samples: list[ScoredSample]
    metrics: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0


class FallbackAlarm:
    """Logs a warning at the first judge failure and then every ``every`` failures: a failed judge call gives the
    sample the fallback reward, which trains on noise if it goes unnoticed (the metric alone is easy to miss)."""

    def __init__(self, every: int = 50):
        self.every = max(1, every)
        self.seen = 0
        self.failed = 0

    def observe(self, samples: list[ScoredSample]) -> None:
        for s in samples:
            self.seen += 1
            if s.reward.status != "judge_failed":
                continue
            self.failed += 1
            if self.failed == 1 or self.failed % self.every == 0:
                why = (s.judgement.raw if s.judgement is not None else "") or "no answer"
                log.warning("judge failed for %d of %d samples (%.0f%%) so far; they get the fallback reward. "
                            "Last: %s", self.failed, self.seen, 100.0 * self.failed / self.seen, why[:300])


JUDGE_STATUSES = frozenset(get_args(JudgeStatus))


def check_backends(backend: Any, judge: Any) -> None:
    """A ``TypeError`` for objects that are no render or judge backend (a URL string, a class, None)."""
    if not callable(getattr(backend, "render", None)):
        raise TypeError(f"{type(backend).__name__} is not a RenderBackend: it has no async render(task, source)")
    if not callable(getattr(judge, "judge", None)):
        raise TypeError(f"{type(judge).__name__} is not a JudgeBackend: it has no async judge(requests) "
                        "(for a judge server: verm_rl.judge.http.HttpJudge)")


def _utf8(text: Any) -> Any:
    """``text`` with lone surrogates (not UTF-8: they crash hashing, pipes and HTTP) replaced by U+FFFD."""
    if not isinstance(text, str) or text.isascii():
        return text
    try:
        text.encode()
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def _utf8_item(item: ScoreItem) -> ScoreItem:
    response, source = _utf8(item.response), _utf8(item.reference_source)
    if response is item.response and source is item.reference_source:
        return item
    return replace(item, response=response, reference_source=source)


def _valid_error(error: Any) -> bool:
    severity = getattr(error, "severity", None)
    return (isinstance(error, JudgedError) and isinstance(severity, (int, float)) and not isinstance(severity, bool)
            and math.isfinite(severity) and severity >= 0)


def _well_formed(verdict: Any) -> bool:
    """A ``Judgement`` the reward can read: a known status, a list of ``JudgedError`` with finite severities >= 0
    (a custom judge that breaks this fails its samples, not the batch)."""
    return (isinstance(verdict, Judgement) and verdict.status in JUDGE_STATUSES and isinstance(verdict.errors, list)
            and all(_valid_error(e) for e in verdict.errors))


def _describe(verdict: Any) -> str:
    if isinstance(verdict, Judgement):
        return f"a malformed Judgement (status {verdict.status!r}, errors {str(verdict.errors)[:200]})"
    return f"{type(verdict).__name__} {str(verdict)[:100]!r}, not a Judgement"


class RewardPipeline:
    """``await pipeline.score(items)``: every item gets a reward and a status, whatever fails."""

    def __init__(self, backend: RenderBackend, judge: JudgeBackend, reward: SeverityRewardConfig | None = None,
                 render_options: dict[str, Any] | None = None, reference_cache_size: int = 4096,
                 batch_window_ms: float = 50.0, max_batch_size: int = 256, warn_every_failures: int = 50):
        check_backends(backend, judge)
        if isinstance(reward, dict):
            reward = SeverityRewardConfig(**reward)  # an unknown key is a TypeError naming it
        if reward is not None and not isinstance(reward, SeverityRewardConfig):
            raise TypeError(f"reward must be a SeverityRewardConfig or a dict of its fields, not "
                            f"{type(reward).__name__}")
        self.backend = backend
        self.judge = judge
        self.reward_cfg = reward or SeverityRewardConfig()
        self.render_options = render_options or {}
        self._ref_cache: LRUCache[str, RenderResult] = LRUCache(maxsize=max(1, reference_cache_size))
        self.alarm = FallbackAlarm(warn_every_failures)
        self._batcher: DynamicBatcher[ScoreItem, ScoredSample] = DynamicBatcher(
            self._score_samples, max_batch_size, batch_window_ms)

    async def _render(self, task: str, source: str) -> RenderResult:
        """The backend's render; a backend that raises (a bad option, a broken worker) gives a ``crash`` result
        for this sample only (the Ray pool already does this inside its actors)."""
        try:
            return await self.backend.render(task, source, **self.render_options)
        except Exception as e:  # noqa: BLE001 - every sample still gets a reward and a status
            log.warning("render backend %s raised: %s: %s", type(self.backend).__name__, type(e).__name__, e)
            return RenderResult.failure("crash", f"render backend raised {type(e).__name__}: {e}")

    async def _reference(self, task: str, source: str) -> RenderResult:
        key = hashlib.blake2b(f"{task}\0{source}".encode(), digest_size=16).hexdigest()
        cached = self._ref_cache.get(key)  # a hit counts as a use (LRU)
        if cached is not None:
            return cached
        result = await self._render(task, source)
        if result.error_kind == "crash":  # transient (a dead worker): render it again next time
            return result
        self._ref_cache[key] = result
        return result

    async def _render_candidates(self, items: list[ScoreItem]) -> list[tuple[RenderResult, str | None]]:
        """Each item's extracted program and its render. A program that several items share (GRPO rollouts
        converge) is rendered once per batch: renders are deterministic (seeded, same options)."""
        codes = [extract_code(item.task, item.response) for item in items]
        unique = list(dict.fromkeys((item.task, code) for item, code in zip(items, codes, strict=True)
                                    if code is not None))
        results = dict(zip(unique, await asyncio.gather(*(self._render(task, code) for task, code in unique)),
                           strict=True))
        no_code = RenderResult.failure("no_code", "no program found in the response")
        return [(no_code, None) if code is None else (results[(item.task, code)], code)
                for item, code in zip(items, codes, strict=True)]

    async def _reference_pngs(self, items: list[ScoreItem]) -> list[tuple[bytes | None, str]]:
        """Each item's reference image (given, or its program rendered through the cache), or why there is none.
        A reference program the batch shares (the n rollouts of a prompt) is rendered once, not once per
        concurrent cache miss."""
        unique = list(dict.fromkeys((i.task, i.reference_source) for i in items
                                    if not i.reference_png and i.reference_source))
        refs = dict(zip(unique, await asyncio.gather(*(self._reference(task, src) for task, src in unique)),
                        strict=True))
        out: list[tuple[bytes | None, str]] = []
        for item in items:
            if item.reference_png:
                out.append((item.reference_png, ""))
            elif item.reference_source:
                ref = refs[(item.task, item.reference_source)]
                out.append((ref.png, "") if ref.ok else (None, f"reference render failed: {ref.error_kind}: "
                                                                f"{ref.message}"))
            else:
                out.append((None, "no reference image or program"))
        return out

    async def _judge(self, requests: list[JudgeRequest]) -> list[Judgement]:
        """The judge's verdicts; a judge that raises or miscounts (backends should not) fails its requests."""
        start = time.monotonic()
        try:
            verdicts = await self.judge.judge(requests)
            verdicts = list(verdicts)
            if len(verdicts) != len(requests):
                raise RuntimeError(f"{len(verdicts)} verdicts for {len(requests)} requests")
        except Exception as e:  # noqa: BLE001 - every sample still gets a reward and a status
            why = f"judge {type(self.judge).__name__} raised {type(e).__name__}: {e}"
            return [failed_judgement(r.task, "judge_failed", why, time.monotonic() - start) for r in requests]
        return [v if _well_formed(v) else failed_judgement(
            r.task, "judge_failed", f"judge {type(self.judge).__name__} answered {_describe(v)}",
            time.monotonic() - start) for r, v in zip(requests, verdicts, strict=True)]

    async def _score_samples(self, items: list[ScoreItem]) -> list[ScoredSample]:
        items = [_utf8_item(i) for i in items]
        rendered, refs = await asyncio.gather(
            self._render_candidates(items),
            self._reference_pngs(items),
        )
        renders = [r for r, _ in rendered]
        unique: dict[str, JudgeRequest] = {}
        keys: list[str | None] = []
        problems: dict[int, str] = {}
        for idx, (item, (render, code), (ref_png, why)) in enumerate(zip(items, rendered, refs, strict=True)):
            if not render.ok:
                keys.append(None)
            elif ref_png is None:
                keys.append(None)
                problems[idx] = why
            else:
                req = JudgeRequest(item.task, ref_png, render.png, item.reference_source, code)
                keys.append(req.key(getattr(self.judge, "reads_sources", False)))
                unique.setdefault(keys[-1], req)
        judged = dict(zip(unique, await self._judge(list(unique.values())), strict=True)) if unique else {}
        seen: set[str] = set()
        judgements: list[Judgement | None] = []
        hits: list[bool] = []
        for idx, key in enumerate(keys):
            if key is None:
                judgements.append(failed_judgement(items[idx].task, "judge_failed", problems[idx])
                                  if idx in problems else None)
                hits.append(False)
            else:
                judgements.append(judged[key])
                hits.append(key in seen)
                seen.add(key)
        formats = [has_language_fence(i.response or "") for i in items]  # VinciCoder's format reward
        rewards = score_batch([(i.task, r, j) for i, r, j in zip(items, renders, judgements, strict=True)],
                              self.reward_cfg, formats)
        samples = [ScoredSample(rw, r, j, ref[0], hit)
                   for rw, r, j, ref, hit in zip(rewards, renders, judgements, refs, hits, strict=True)]
        self.alarm.observe(samples)
        return samples

    async def score(self, items: list[ScoreItem]) -> PipelineResult:
        """Score a batch; batch_max normalisation and the parse fallback see this batch."""
        start = time.monotonic()
        samples = await self._score_samples(items)
        metrics = reward_metrics(columns(sample_row(s) for s in samples), [s.reward.total for s in samples])
        return PipelineResult(samples, metrics, time.monotonic() - start)

    async def score_one(self, item: ScoreItem) -> ScoredSample:
        """Score one sample; concurrent calls within ``batch_window_ms`` are scored as one batch
        (de-duplication and batch normalisation then work for streaming callers such as verl)."""
        return await self._batcher.submit(item)

    async def close(self) -> None:
        """Stop the per-sample batching task (a long-lived reward worker never needs to; a short-lived
        event loop should, before it closes); the judge is the caller's to close. Scoring again later
        starts a new task."""
        await self._batcher.close()
