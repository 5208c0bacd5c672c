"""Test-time scaling with judge feedback (paper §3.3): draft → render → judge → revise.

For each input, round 0 is the policy's draft; while the last round still has errors (a failed
render, no code, or judged errors) and fewer than ``max_revisions`` revisions were made, the draft
and its feedback become a revision request. A round whose judgement lists no errors (or whose reward
reaches ``stop_reward``) ends the loop, and so does a judge that gave no usable verdict (there is no
feedback to give). The best round by reward is kept (ties: the earliest); the last one is reported too.

Rounds are scored by the reward path used in training — extract code → render (sandbox) → judge →
``verm_rl.reward.score_batch`` — so TTS rewards and training rewards are the same numbers.

Output folder (resumable: an input with ``result.json`` is done; an unfinished input continues from
its last saved round)::

    config.json  summary.json  summary.md  index.html
    inputs/<id>/input.png  inputs/<id>/result.json
    inputs/<id>/round_<k>/{record.json, response.txt, code.<ext>, render.png}
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from verm_rl.judge import JudgeBackend, JudgedError, Judgement, JudgeRequest
from verm_rl.policy import PolicyBackend, task_request
from verm_rl.render.result import RenderResult
from verm_rl.reward import SeverityRewardConfig, score_batch
from verm_rl.tasks import extract_code, get_task
from verm_rl.tts.feedback import feedback_text, revision_request
from verm_rl.tts.inputs import TTSInput

log = logging.getLogger(__name__)
RenderFn = Callable[..., Awaitable[RenderResult]]


@dataclass
class TTSConfig:
    """Settings of one TTS run (``config.json`` of the output folder)."""

    max_revisions: int = 3  # revision rounds after the draft (the paper's default is 3)
    stop_reward: float | None = None  # also stop once a round's reward reaches this (None: only on no errors)
    concurrency: int = 8  # inputs in flight
    max_tokens: int = 4096
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    revision_template: str | None = None  # text of a replacement error-list template
    policy: str = ""
    judge: str = ""


@dataclass
class Round:
    """One generation and its score."""

    index: int
    response: str
    code: str | None
    render_ok: bool
    render_error: str | None
    render_message: str
    judge_status: str | None  # ok | parse_failed | judge_failed | None (not judged: render failed)
    errors: list[dict]
    reward: float
    severity: int
    reward_status: str
    reward_parts: dict[str, Any]
    feedback: str = ""  # the feedback turn that produced this round ("" for the draft)
    policy_seconds: float = 0.0
    score_seconds: float = 0.0
    judge_raw: str = ""

    @property
    def n_errors(self) -> int:
        return len(self.errors)

    def clean(self) -> bool:
        """Rendered and judged with no errors."""
        return self.render_ok and self.judge_status == "ok" and not self.errors

    def judged_errors(self) -> list[JudgedError]:
        return [JudgedError(**e) for e in self.errors]


@dataclass
class InputResult:
    id: str
    task: str
    rounds: list[Round]
    stop_reason: str
    best_round: int
    has_reference_source: bool
    skipped: str = ""

    @property
    def best(self) -> Round | None:
        return self.rounds[self.best_round] if self.rounds else None

    @property
    def last(self) -> Round | None:
        return self.rounds[-1] if self.rounds else None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "task": self.task, "stop_reason": self.stop_reason, "best_round": self.best_round,
                "has_reference_source": self.has_reference_source, "skipped": self.skipped,
                "rounds": [{"index": r.index, "reward": r.reward, "severity": r.severity, "n_errors": r.n_errors,
                            "render_ok": r.render_ok, "render_error": r.render_error,
                            "judge_status": r.judge_status, "reward_status": r.reward_status} for r in self.rounds]}


def best_round(rounds: list[Round]) -> int:
    """Index of the highest reward; the earliest wins ties (fewer edits for the same reward)."""
    return max(range(len(rounds)), key=lambda i: (rounds[i].reward, -i)) if rounds else -1


class RoundScorer:
    """extract → render → judge → reward for one response (the training reward path, one sample)."""

    def __init__(self, render: RenderFn, judge: JudgeBackend, reward: SeverityRewardConfig | None = None,
                 render_options: dict[str, Any] | None = None):
        self.render, self.judge = render, judge
        self.reward_cfg = reward or SeverityRewardConfig()
        if self.reward_cfg.norm == "batch_max":
            raise ValueError("reward norm batch_max needs a batch; TTS scores one round at a time: "
                             "use the fixed norm or a number")
        self.render_options = render_options or {}

    async def score(self, item: TTSInput, response: str) -> tuple[str | None, RenderResult, Judgement | None, Any]:
        code = extract_code(item.task, response)
        if code is None:
            render = RenderResult.failure("no_code", "no program found in the response")
        else:
            render = await self.render(item.task, code, **self.render_options)
        judgement = None
        if render.ok:
            request = JudgeRequest(item.task, item.image, render.png, item.reference_source, code)
            (judgement,) = await self.judge.judge([request])
        (reward,) = score_batch([(item.task, render, judgement)], self.reward_cfg)
        return code, render, judgement, reward


def _atomic_write(path: Path, data: bytes | str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data.encode() if isinstance(data, str) else data)
    os.replace(tmp, path)


class TTSRunner:
    """Runs the loop over inputs into ``out`` (see the module docstring for the layout)."""

    def __init__(self, policy: PolicyBackend, scorer: RoundScorer, out: str | Path, cfg: TTSConfig | None = None):
        self.policy, self.scorer = policy, scorer
        self.out = Path(out)
        self.cfg = cfg or TTSConfig()
        self.generated = 0  # policy calls made by this runner (resumed rounds are not redone)

    # ---------------------------------------------------------------- folder
    def input_dir(self, item: TTSInput) -> Path:
        return self.out / "inputs" / item.id

    def check_config(self) -> None:
        """Refuse to resume a folder made with other settings (its rounds would not compare)."""
        path = self.out / "config.json"
        mine = {**asdict(self.cfg), "reward": asdict(self.scorer.reward_cfg) if self.scorer else None}
        if path.exists():
            old = json.loads(path.read_text())
            keys = ("max_revisions", "stop_reward", "judge", "policy", "revision_template", "reward")
            diff = [k for k in keys if old.get(k) != mine.get(k)]
            if diff:
                raise ValueError(f"{self.out} was made with other settings ({', '.join(diff)} differ); "
                                 "use another --out")
        self.out.mkdir(parents=True, exist_ok=True)
        _atomic_write(path, json.dumps(mine, indent=2))

    def load_done(self, item: TTSInput) -> InputResult | None:
        path = self.input_dir(item) / "result.json"
        if not path.exists():
            return None
        meta = json.loads(path.read_text())
        rounds = self.load_rounds(item)
        return InputResult(meta["id"], meta["task"], rounds, meta["stop_reason"], meta["best_round"],
                           meta["has_reference_source"], meta.get("skipped", ""))

    def load_rounds(self, item: TTSInput) -> list[Round]:
        rounds = []
        for k in range(self.cfg.max_revisions + 1):
            path = self.input_dir(item) / f"round_{k}" / "record.json"
            if not path.exists():
                break
            rounds.append(Round(**json.loads(path.read_text())))
        return rounds

    def save_round(self, item: TTSInput, r: Round, render: RenderResult) -> None:
        d = self.input_dir(item) / f"round_{r.index}"
        d.mkdir(parents=True, exist_ok=True)
        (d / "response.txt").write_text(r.response)
        if r.code is not None:
            (d / f"code{get_task(item.task).source_suffixes[0]}").write_text(r.code)
        if render.ok and render.png:
            (d / "render.png").write_bytes(render.png)
        _atomic_write(d / "record.json", json.dumps(asdict(r), indent=1))  # written last: marks the round done

    # ---------------------------------------------------------------- loop
    def stop_reason(self, rounds: list[Round]) -> str | None:
        last = rounds[-1]
        if last.clean():
            return "no_errors"
        if self.cfg.stop_reward is not None and last.reward >= self.cfg.stop_reward:
            return "reward_reached"
        if last.render_ok and last.judge_status != "ok":
            return "judge_failed"
        if len(rounds) > self.cfg.max_revisions:
            return "max_revisions"
        return None

    def request_for(self, item: TTSInput, rounds: list[Round]):
        sampling = {"max_tokens": self.cfg.max_tokens, "temperature": self.cfg.temperature, "top_p": self.cfg.top_p,
                    "seed": self.cfg.seed}
        if not rounds:
            return task_request(item.task, item.image, item.prompt, **sampling), ""
        last = rounds[-1]
        feedback = feedback_text(item.task, last.render_ok, last.render_error, last.render_message,
                                 last.judged_errors(), self.cfg.revision_template)
        return revision_request(item.task, item.image, item.prompt, last.response, last.code, feedback,
                                **sampling), feedback

    async def run_input(self, item: TTSInput) -> InputResult:
        done = self.load_done(item)
        if done is not None:
            return done
        d = self.input_dir(item)
        d.mkdir(parents=True, exist_ok=True)
        (d / "input.png").write_bytes(item.image)
        rounds = self.load_rounds(item)
        reason = self.stop_reason(rounds) if rounds else None
        while reason is None:
            request, feedback = self.request_for(item, rounds)
            start = time.monotonic()
            (response,) = await self.policy.generate([request])
            self.generated += 1
            policy_s = time.monotonic() - start
            start = time.monotonic()
            code, render, judgement, reward = await self.scorer.score(item, response)
            r = Round(index=len(rounds), response=response, code=code, render_ok=render.ok,
                      render_error=render.error_kind, render_message=render.message[:2000],
                      judge_status=judgement.status if judgement is not None else None,
                      errors=[asdict(e) for e in judgement.errors] if judgement is not None else [],
                      reward=reward.total, severity=reward.severity, reward_status=reward.status,
                      reward_parts={k: v for k, v in asdict(reward).items() if k != "task"}, feedback=feedback,
                      policy_seconds=policy_s, score_seconds=time.monotonic() - start,
                      judge_raw=(judgement.raw[:2000] if judgement is not None and not judgement.parse_ok else ""))
            self.save_round(item, r, render)
            rounds.append(r)
            reason = self.stop_reason(rounds)
        result = InputResult(item.id, item.task, rounds, reason, best_round(rounds), item.reference_source is not None)
        _atomic_write(d / "result.json", json.dumps(result.to_dict(), indent=1))
        return result

    def skipped_result(self, item: TTSInput, why: str) -> InputResult:
        d = self.input_dir(item)
        d.mkdir(parents=True, exist_ok=True)
        (d / "input.png").write_bytes(item.image)
        result = InputResult(item.id, item.task, [], "skipped", -1, item.reference_source is not None, why)
        _atomic_write(d / "result.json", json.dumps(result.to_dict(), indent=1))
        return result

    async def run(self, items: list[TTSInput], needs_reference_source: bool = False,
                  progress: bool = True) -> list[InputResult]:
        """Every input gets a result (inputs a structural judge cannot judge: ``skipped`` with the reason)."""
        from tqdm import tqdm

        self.check_config()
        sem = asyncio.Semaphore(max(1, self.cfg.concurrency))
        bar = tqdm(total=len(items), desc="tts", disable=not progress)

        async def one(item: TTSInput) -> InputResult:
            async with sem:
                try:
                    if needs_reference_source and not item.reference_source:
                        return self.skipped_result(item, "the structural judge needs the reference program; "
                                                         "this input has only an image (use an image judge)")
                    return await self.run_input(item)
                except Exception as e:  # noqa: BLE001 - one broken input must not sink the run
                    log.exception("tts input %s failed", item.id)
                    # no result.json: a resumed run retries this input from its last saved round
                    rounds, why = self.load_rounds(item), f"error: {type(e).__name__}: {e}"
                    return InputResult(item.id, item.task, rounds, "error", best_round(rounds),
                                       item.reference_source is not None, why)
                finally:
                    bar.update(1)

        results = list(await asyncio.gather(*(one(i) for i in items)))
        bar.close()
        return results
