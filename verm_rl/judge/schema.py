"""What a judge returns: a list of visual errors in the Visual-ERM schema, plus how it was parsed."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

JudgeStatus = Literal["ok", "parse_failed", "judge_failed"]


@dataclass
class JudgedError:
    """One error: category (e.g. ``data_error``; ``other`` if unknown), severity 1–3, where, what."""

    category: str
    severity: int
    location: str = ""
    description: str = ""


@dataclass
class Judgement:
    """A judge's verdict on one (reference, candidate) pair.

    status: ``ok`` (parsed), ``parse_failed`` (the judge answered garbage; ``raw`` keeps it) or
    ``judge_failed`` (no answer: endpoint down, actor dead, timeout; ``raw`` has the reason).
    notes: what the parser had to repair (``fenced``, ``repaired_json``, ``truncated``,
    ``count_mismatch``, ``unknown_category``, ``severity_clamped`` …), for metrics.
    """

    task: str
    errors: list[JudgedError] = field(default_factory=list)
    status: JudgeStatus = "ok"
    raw: str = ""
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    similarity: float | None = None  # set by similarity baselines (ssim, teds, dino) instead of errors

    @property
    def parse_ok(self) -> bool:
        return self.status == "ok"

    @property
    def total_severity(self) -> int:
        return sum(e.severity for e in self.errors)

    def severity_by_category(self) -> dict[str, int]:
        out: Counter = Counter()
        for e in self.errors:
            out[e.category] += e.severity
        return dict(out)

    def count_by_category(self) -> dict[str, int]:
        return dict(Counter(e.category for e in self.errors))

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "parse_ok": self.parse_ok, "total_severity": self.total_severity}

    def to_json_answer(self) -> dict[str, Any]:
        """The judge's JSON answer for this judgement (counts + errors, in the task's schema)."""
        from verm_rl.tasks import get_task

        spec = get_task(self.task)
        counts = self.count_by_category()
        out: dict[str, Any] = {f"{c}_count": counts.get(c, 0) for c in spec.categories}
        errors = []
        for e in self.errors:
            item: dict[str, Any] = {spec.category_key: e.category, "severity": e.severity}
            if spec.error_location:
                item["location"] = e.location
            item["description"] = e.description
            errors.append(item)
        out["errors"] = errors
        return out


def failed_judgement(task: str, status: JudgeStatus, reason: str, seconds: float = 0.0) -> Judgement:
    return Judgement(task=task, status=status, raw=reason[:4000], seconds=seconds)
