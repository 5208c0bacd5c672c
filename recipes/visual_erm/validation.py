"""Common validation metrics: one yardstick for every reward arm, logged as ``val-common/<task>/<metric>``.

Each arm's own reward lives on its own scale (0–1 for dino and render_only, 0–2 for verm), so the
reward manager also scores every validation sample with the same set, whatever the arm:

- ``render_rate``: the response renders (1/0);
- ``structural_severity``: Σ severity of the structural critic (GT program vs response; no GPU),
  over samples that render;
- ``ssim``: SSIM between the reference image and the render (0 when it does not render);
- ``teds``: TEDS between the GT table markup and the response's (tables only; 0 without markup);
- ``verm_severity``: Σ severity of the Visual-ERM judge, when the arm runs one (else absent).

The reference image is the dataset's prompt image when there is one, else the GT program's render,
independent of the arm's ``reference_from``. All are CPU work on renders the reward path made
already (plus one structural trace per chart), cheap enough for every ``test_freq``.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from verm_rl.judge import JudgeRequest
from verm_rl.tasks import extract_code, get_task

log = logging.getLogger(__name__)

COMMON_METRICS = ("render_rate", "structural_severity", "ssim", "teds", "verm_severity")
PREFIX = "vc_"  # reward_extra_info keys of the common metrics
VISUAL_ERM_BACKENDS = ("verl_rm", "http", "ray_actor")
NAN = float("nan")


def check_metric_names(names: Iterable[str]) -> list[str]:
    names = list(names)
    unknown = [n for n in names if n not in COMMON_METRICS]
    if unknown:
        raise ValueError(f"unknown verm.validation.common metric(s) {unknown}; valid: {', '.join(COMMON_METRICS)}")
    return names


class CommonScorer:
    """Scores one validation sample with the common metrics (``vc_<metric>`` floats, NaN: not applicable)."""

    def __init__(self, metrics: Iterable[str], render: Any, render_options: dict[str, Any] | None = None,
                 arm: str = "", judge_backend: str = ""):
        self.metrics = check_metric_names(metrics)
        self._render = render
        self.render_options = render_options or {}
        self.arm = arm
        self.judge_backend = judge_backend
        self._structural = None

    def keys(self) -> list[str]:
        return [PREFIX + m for m in self.metrics]

    def empty(self) -> dict[str, float]:
        return {k: NAN for k in self.keys()}

    def structural(self):
        if self._structural is None:
            from verm_rl.judge.structural import StructuralJudge

            self._structural = StructuralJudge(render=self._render, render_options=self.render_options)
        return self._structural

    async def reference_png(self, task: str, prompt_png: bytes | None, gt_source: str | None) -> bytes | None:
        if prompt_png:
            return prompt_png
        if gt_source:
            ref = await self._render(task, gt_source, **self.render_options)
            return ref.png if ref.ok else None
        return None

    async def score(self, task: str, response: str, render_ok: bool, render_png: bytes | None,
                    prompt_png: bytes | None, gt_source: str | None, arm_judgement: Any = None) -> dict[str, float]:
        """The common metrics of one sample. ``arm_judgement``: the arm's own judgement (reused for
        ``verm_severity`` when the arm's judge is Visual-ERM)."""
        out = self.empty()
        code = extract_code(task, response)
        want = set(self.metrics)
        if "render_rate" in want:
            out[PREFIX + "render_rate"] = float(bool(render_ok))
        ref_png = None
        if want & {"ssim", "structural_severity"} and render_ok:
            ref_png = await self.reference_png(task, prompt_png, gt_source)
        if "ssim" in want:
            out[PREFIX + "ssim"] = 0.0
            if render_ok and ref_png and render_png:
                from verm_rl.similarity import ssim_similarity

                out[PREFIX + "ssim"] = float(await asyncio.to_thread(ssim_similarity, ref_png, render_png))
        if "teds" in want and "teds" in get_task(task).extra_metrics:
            out[PREFIX + "teds"] = 0.0
            if code and gt_source:
                from verm_rl.similarity import teds

                try:
                    out[PREFIX + "teds"] = float(await asyncio.to_thread(teds, gt_source, code))
                except Exception as e:  # noqa: BLE001 - markup TEDS cannot parse scores 0
                    log.debug("teds failed: %s", e)
        if "structural_severity" in want and render_ok and gt_source and code:
            # judged here even when the arm's judge is the structural critic: the reward pipeline
            # de-duplicates judge requests by their pixels, and the critic reads the programs
            judgement = (await self.structural().judge([JudgeRequest(task, ref_png or b"", render_png or b"",
                                                                     gt_source, code)]))[0]
            if judgement.parse_ok:
                out[PREFIX + "structural_severity"] = float(judgement.total_severity)
        if "verm_severity" in want and render_ok and self.judge_backend in VISUAL_ERM_BACKENDS \
                and self.arm in ("verm", "verm_no_rsr") and arm_judgement is not None and arm_judgement.parse_ok:
            out[PREFIX + "verm_severity"] = float(arm_judgement.total_severity)
        return out


def _floats(values: Iterable[Any]) -> list[float]:
    out = []
    for v in values:
        try:
            f = float(v)
        except (TypeError, ValueError):
            continue
        if not math.isnan(f):
            out.append(f)
    return out


def common_val_metrics(infos: Mapping[str, Iterable[Any]], prefix: str = "val-common/") -> dict[str, float]:
    """``val-common/<task>/<metric>`` and ``val-common/all/<metric>``: means over the samples where
    the metric applies (a metric that applies to none is left out, so compare shows —)."""
    cols = {k: list(v) for k, v in infos.items()}
    keys = sorted(k for k in cols if k.startswith(PREFIX))
    if not keys:
        return {}
    n = len(cols[keys[0]])
    tasks = [str(t) for t in cols.get("task", ["all"] * n)]
    out: dict[str, float] = {}
    for task in sorted(set(tasks)) + ["all"]:
        idx = [i for i, t in enumerate(tasks) if task == "all" or t == task]
        for key in keys:
            values = _floats(cols[key][i] for i in idx if i < len(cols[key]))
            if values:
                out[f"{prefix}{task}/{key[len(PREFIX):]}"] = float(np.mean(values))
        out[f"{prefix}{task}/samples"] = float(len(idx))
    return out
