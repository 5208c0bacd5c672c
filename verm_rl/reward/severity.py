"""The Visual-ERM reward: render success + clip(1 − Σseverity / norm, 0, 1).

``norm`` is ``fixed`` (50, as the released code), ``batch_max`` (paper Eq. 4: the largest Σseverity
among the batch's samples of the same task, + ε), or a number per task. No code, a failed or blank
render → 0. A judge answer that cannot be parsed (or no answer at all) gets a fallback verm reward,
by default the batch's mean verm reward of the same task (else 0.5), and is always counted.

Released variants (reward.* keys): ``parse_fallback: severity`` scores a final parse failure as
Σseverity = ``fallback_severity`` (25 in the released chart/SVG reward: verm 0.5 at norm 50, reward
1.5), after the judge's own resampling (``verm.judge.on_parse_failure``). ``formula: neg_severity``
(or ``{table: neg_severity}`` for one task) is the released table reward: −Σseverity, no render
term, and ``failure_value`` (−4) for every failure (no code, failed or blank render, no parse).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from verm_rl.judge.schema import Judgement
from verm_rl.render.result import RenderResult

RELEASED_MAX_SEVERITY = 50.0  # "empirical, from RM statistics" in the released reward code
RELEASED_FALLBACK_SEVERITY = 25.0  # the released chart/SVG reward's Σseverity after failed parses
RELEASED_TABLE_FAILURE = -4.0  # the released table reward on any failure
FORMULAS = ("verm", "neg_severity")


@dataclass
class SeverityRewardConfig:
    """Weights and normalisation of the Visual-ERM reward (reward.* in the Hydra config)."""

    w_render: float = 1.0  # weight of the render-success term (the paper's r_rsr)
    w_verm: float = 1.0  # weight of clip(1 - S / norm, 0, 1) (or of a baseline's similarity)
    w_format: float = 0.0  # weight of "the response has a fenced code block" (VinciCoder's 0.1)
    norm: str | float = "fixed"  # "fixed" | "batch_max" | a number
    fixed_norm: float = RELEASED_MAX_SEVERITY
    per_task_norm: dict[str, float] | None = None  # overrides norm for the tasks it names
    parse_fallback: str | float = "batch_mean"  # "batch_mean" (else fallback_default) | "severity" | a number
    fallback_default: float = 0.5
    fallback_severity: float = RELEASED_FALLBACK_SEVERITY  # Σseverity assumed when parse_fallback=severity
    formula: str | dict[str, str] = "verm"  # verm | neg_severity, or {task: formula} (others: verm)
    failure_value: float = RELEASED_TABLE_FAILURE  # the neg_severity reward of any failure
    eps: float = 1e-6

    def __post_init__(self) -> None:
        if isinstance(self.norm, str) and self.norm not in ("fixed", "batch_max"):
            try:
                self.norm = float(self.norm)
            except ValueError:
                raise ValueError(f"reward norm must be 'fixed', 'batch_max' or a number, not {self.norm!r}") from None
        if isinstance(self.parse_fallback, str) and self.parse_fallback not in ("batch_mean", "severity"):
            try:
                self.parse_fallback = float(self.parse_fallback)
            except ValueError:
                raise ValueError("reward parse_fallback must be 'batch_mean', 'severity' or a number, "
                                 f"not {self.parse_fallback!r}") from None
        formulas = self.formula.values() if isinstance(self.formula, dict) else [self.formula]
        bad = [f for f in formulas if f not in FORMULAS]
        if bad:
            raise ValueError(f"reward formula must be one of {FORMULAS} (or a task -> formula mapping), not {bad}")

    def formula_for(self, task: str) -> str:
        return self.formula.get(task, "verm") if isinstance(self.formula, dict) else self.formula


def released_reward_options(reward_cfg: dict[str, Any]) -> dict[str, Any]:
    """The released-variant keys present in a ``verm.reward`` config section, typed."""
    out: dict[str, Any] = {}
    if reward_cfg.get("formula") is not None:
        formula = reward_cfg["formula"]
        out["formula"] = dict(formula) if isinstance(formula, dict) else str(formula)
    for key in ("fallback_severity", "failure_value"):
        if reward_cfg.get(key) is not None:
            out[key] = float(reward_cfg[key])
    return out


@dataclass
class RewardBreakdown:
    """Every part of one sample's reward (flattened with its render and judgement by ``record.sample_row``)."""

    task: str
    total: float
    render: float  # render-success term before weighting: 1 or 0
    verm: float  # severity term before weighting, in [0, 1]
    severity: int  # Σ severity
    status: str  # ok | no_code | render_failed | blank | parse_failed | judge_failed
    render_error: str | None = None
    norm: float | None = None
    severity_by_category: dict[str, int] = field(default_factory=dict)
    count_by_category: dict[str, int] = field(default_factory=dict)
    fallback_used: bool = False
    format: float = 0.0  # 1 when the response had a fenced code block


def severity_reward(total_severity: float, norm: float) -> float:
    """clip(1 − S / norm, 0, 1)."""
    if norm <= 0:
        return 1.0 if total_severity <= 0 else 0.0
    return min(1.0, max(0.0, 1.0 - total_severity / norm))


def batch_norms(tasks: list[str], severities: list[float | None], cfg: SeverityRewardConfig) -> dict[str, float]:
    """The normaliser per task for this batch (``severities`` None where there is no judgement)."""
    norms: dict[str, float] = {}
    for task in set(tasks):
        if cfg.per_task_norm and task in cfg.per_task_norm:
            norms[task] = float(cfg.per_task_norm[task])
        elif cfg.norm == "fixed":
            norms[task] = cfg.fixed_norm
        elif cfg.norm == "batch_max":
            same = [s for t, s in zip(tasks, severities) if t == task and s is not None]
            norms[task] = (max(same) if same else 0.0) + cfg.eps
        else:
            norms[task] = float(cfg.norm)
    return norms


def _render_status(render: RenderResult) -> str | None:
    if render.ok:
        return None
    if render.error_kind == "no_code":
        return "no_code"
    return "blank" if render.error_kind == "blank" else "render_failed"


def score_batch(
    samples: list[tuple[str, RenderResult, Judgement | None]], cfg: SeverityRewardConfig | None = None,
    formats: list[bool] | None = None,
) -> list[RewardBreakdown]:
    """Rewards for a batch of (task, candidate render, judgement or None when not judged).

    A judgement with a ``similarity`` (a baseline) uses it as the visual term instead of severities.
    """
    cfg = cfg or SeverityRewardConfig()
    tasks = [t for t, _, _ in samples]
    judged_sev = [
        float(j.total_severity) if (r.ok and j is not None and j.parse_ok) else None for _, r, j in samples
    ]
    norms = batch_norms(tasks, judged_sev, cfg)
    out: list[RewardBreakdown] = []
    for (task, render, judgement), sev in zip(samples, judged_sev):
        failed = _render_status(render)
        if failed:
            out.append(RewardBreakdown(task, 0.0, 0.0, 0.0, 0, failed, render_error=render.error_kind))
            continue
        if sev is None:
            status = judgement.status if judgement is not None else "judge_failed"
            out.append(RewardBreakdown(task, 0.0, 1.0, float("nan"), 0, status, fallback_used=True))
            continue
        if judgement.similarity is not None:
            out.append(RewardBreakdown(task, 0.0, 1.0, min(1.0, max(0.0, float(judgement.similarity))), 0, "ok"))
            continue
        verm = severity_reward(sev, norms[task])
        out.append(RewardBreakdown(
            task, 0.0, 1.0, verm, int(sev), "ok", norm=norms[task],
            severity_by_category=judgement.severity_by_category(), count_by_category=judgement.count_by_category(),
        ))
    _fill_fallbacks(out, cfg, norms)
    for i, b in enumerate(out):
        b.format = float(formats[i]) if formats is not None else 0.0
        if cfg.formula_for(b.task) == "neg_severity":
            b.total = -float(b.severity) if b.status == "ok" else cfg.failure_value
        else:
            b.total = cfg.w_render * b.render + cfg.w_verm * b.verm + cfg.w_format * b.format
    return out


def _fill_fallbacks(breakdowns: list[RewardBreakdown], cfg: SeverityRewardConfig,
                    norms: dict[str, float]) -> None:
    for b in breakdowns:
        if not b.fallback_used:
            continue
        if cfg.parse_fallback == "batch_mean":
            same = [x.verm for x in breakdowns if x.task == b.task and x.status == "ok"]
            b.verm = sum(same) / len(same) if same else cfg.fallback_default
        elif cfg.parse_fallback == "severity":
            b.norm = norms[b.task]
            b.verm = severity_reward(cfg.fallback_severity, b.norm)
        else:
            b.verm = float(cfg.parse_fallback)


def visual_erm_reward(
    render: RenderResult, judgement: Judgement | None, task: str, cfg: SeverityRewardConfig | None = None
) -> RewardBreakdown:
    """The reward of a single sample (batch_max and batch_mean then see a batch of one)."""
    return score_batch([(task, render, judgement)], cfg)[0]
