"""The judge interface every backend implements."""

from __future__ import annotations

import abc
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from verm_rl.judge.schema import Judgement


@dataclass(frozen=True)
class JudgeRequest:
    """One pair to judge: the task, the reference render and the candidate render (PNG bytes).

    The programs are optional; the structural critic needs them, image judges ignore them.
    """

    task: str
    reference_png: bytes = field(repr=False)
    candidate_png: bytes = field(repr=False)
    reference_source: str | None = field(default=None, repr=False, compare=False)
    candidate_source: str | None = field(default=None, repr=False, compare=False)

    def key(self, with_sources: bool = False) -> str:
        """Content hash of (task, reference, candidate): identical pairs are judged once. Judges that read the
        programs (``JudgeBackend.reads_sources``) need ``with_sources``: two programs with the same pixels
        can differ as markup or structure."""
        h = hashlib.blake2b(digest_size=16)
        parts = [self.task.encode(), self.reference_png, self.candidate_png]
        if with_sources:
            parts += [(self.reference_source or "").encode(), (self.candidate_source or "").encode()]
        for part in parts:
            h.update(len(part).to_bytes(8, "little"))
            h.update(part)
        return h.hexdigest()


@dataclass
class SamplingParams:
    """Judge decoding. The dataclass default is greedy; what each task gets by default is the
    judge profile's (``verm_rl.judge.profiles``: released chart/SVG sample at T 0.7, top_p 0.8,
    top_k 20, presence_penalty 1.5; released tables are greedy with repetition_penalty 1.05)."""

    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = -1
    max_tokens: int = 4096
    repetition_penalty: float = 1.0
    presence_penalty: float = 0.0
    seed: int | None = None

    @classmethod
    def upstream(cls) -> SamplingParams:
        return cls(temperature=0.7, top_p=0.8, top_k=20, presence_penalty=1.5, max_tokens=4096)


class JudgeBackend(abc.ABC):
    """``await backend.judge(requests)`` → one ``Judgement`` per request, in order. Never raises for
    a bad answer, a dead server or a timeout: those come back as ``parse_failed``/``judge_failed``."""

    name: str = "base"
    reads_sources: bool = False  # True when verdicts depend on the programs, not only the two images

    @abc.abstractmethod
    async def judge(self, requests: list[JudgeRequest]) -> list[Judgement]:
        ...

    async def close(self) -> None:  # noqa: B027 - optional hook
        pass


async def resample_on_parse_failure(call: Callable[[], Awaitable[Judgement]], attempts: int) -> Judgement:
    """Call the judge again while its answer cannot be parsed, up to ``attempts`` calls in all (the
    released chart/SVG reward made 2). A final failure stays ``parse_failed``; the reward decides
    its value. ``judge_failed`` (no answer) is not retried here: transport retries handle it."""
    judgement = await call()
    made = 1
    while judgement.status == "parse_failed" and made < attempts:
        judgement = await call()
        made += 1
    if made > 1:
        judgement.notes.append(f"parse_attempts:{made}")
    return judgement
