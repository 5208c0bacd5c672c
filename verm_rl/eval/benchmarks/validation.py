"""Benchmark metrics as plain functions for validation during training (one item in, a metric dict out).

The same definitions as ``verm-rl evaluate`` — nothing here re-implements a metric — so a held-out split
scored in RL shows benchmark-style numbers in wandb. Each returns floats in [0, 1] (ChartMimic's judge
score is not included: it needs an external model).

- ``table_item_metrics(response, gt_html)`` → ``teds``, ``teds_s``, ``edit`` (OmniDocBench normalisation).
- ``olmocr_item_metrics(response, tests)`` → ``table_test_pass_rate`` (olmOCR table tests of one page).
- ``svg_item_metrics(reference_png, candidate_png, lpips=None, clip=None)`` → ``ssim`` (+ ``lpips``/``clip``
  with scorers from ``svg_metrics``); ``svg_response_metrics`` renders a response first.
- ``chart_item_metrics(response, gt_code, renderer=None, customized=False)`` → ``exec``, ``text``, ``layout``,
  ``type``, ``color``, ``low`` (runs both programs through the ChartMimic probe in the render sandbox).
- ``item_metrics(task, response, reference, **kw)``: the task's own (``TaskSpec.item_metrics``).
"""

from __future__ import annotations

import hashlib
from typing import Any

from verm_rl.eval.benchmarks import svg_metrics as sm

_GT_REPORTS: dict[str, dict] = {}  # ground-truth probe reports by script hash (validation re-scores the same split)


def table_item_metrics(response: str | None, gt_html: str, markdown_tables: bool = True) -> dict[str, float]:
    """OmniDocBench TEDS / TEDS-S / edit distance. ``markdown_tables`` (default on here, off in the
    benchmark) converts a markdown answer to HTML instead of scoring it 0."""
    from verm_rl.eval.benchmarks.omnidocbench import table_scores

    s = table_scores(response or "", gt_html, markdown_tables)
    return {"teds": s["teds"], "teds_s": s["teds_s"], "edit": s["edit"]}


def olmocr_item_metrics(response: str | None, tests: list[dict[str, Any]]) -> dict[str, float]:
    from verm_rl.eval.benchmarks.olmocr_tables import run_table_test

    if not tests:
        raise ValueError("no table tests given")
    passed = sum(run_table_test(t, response or "")[0] for t in tests)
    return {"table_test_pass_rate": passed / len(tests)}


def svg_item_metrics(reference_png: bytes, candidate_png: bytes | None, lpips: Any = None,
                     clip: Any = None) -> dict[str, float]:
    """UniSVG metrics of a candidate render (None = failed render: SSIM 0, LPIPS 1, CLIP 0)."""
    worst = {"ssim": 0.0, **({"lpips": 1.0} if lpips else {}), **({"clip": 0.0} if clip else {})}
    if not candidate_png:
        return worst
    ref, cand = sm.rgb_array(reference_png), sm.rgb_array(candidate_png)
    try:
        out = {"ssim": sm.ssim(ref, cand)}
    except ValueError:  # sizes differ: the official scores it as a failure
        return worst
    if lpips:
        out["lpips"] = lpips(ref, cand)
    if clip:
        out["clip"] = clip(ref, cand)
    return out


def svg_response_metrics(reference_png: bytes, response: str | None, renderer: Any = None,
                         **scorers: Any) -> dict[str, float]:
    """Extract the SVG as UniSVG does, render it at 336 × 336 in the sandbox, then ``svg_item_metrics``."""
    from verm_rl.render import render

    result = (renderer.render if renderer else render)("svg", sm.extract_svg(response), svg_width=sm.SIZE,
                                                       svg_height=sm.SIZE)
    png = result.png if result.ok else (sm.white_png() if result.error_kind == "blank" else None)
    return svg_item_metrics(reference_png, png, **scorers)


def chart_item_metrics(response: str | None, gt_code: str, renderer: Any = None,
                       customized: bool = False, timeout_s: float = 60.0) -> dict[str, float]:
    """ChartMimic's exec flag and low-level F1s for one response against its ground-truth script."""
    from verm_rl.eval.benchmarks.chartmimic import DATA_IMPORTS, data_block, extract_python, probe_program, rewrite
    from verm_rl.eval.benchmarks.chartmimic_metrics import low_level_scores
    from verm_rl.eval.benchmarks.chartmimic_trace import decode_report
    from verm_rl.render import render

    run = renderer.render if renderer else render
    zero = {"exec": 0.0, "text": 0.0, "layout": 0.0, "type": 0.0, "color": 0.0, "low": 0.0}
    code = extract_python(response)
    if code is None:
        return zero
    code = rewrite(code)
    if customized:
        code = f"{DATA_IMPORTS}{data_block(gt_code)}\n{code}"

    def probe(program: str) -> dict | None:
        result = run("chart", probe_program(program, False), stdout_bytes=65536, timeout_s=timeout_s,
                     max_source_kb=2048)
        return decode_report(result.stdout)

    gen = probe(code)
    if not gen or not gen.get("pdf"):
        return zero
    key = hashlib.sha1(gt_code.encode("utf-8", "replace")).hexdigest()
    gold = _GT_REPORTS.get(key)
    if gold is None:
        gold = probe(rewrite(gt_code))
        if gold is not None:
            if len(_GT_REPORTS) >= 4096:
                _GT_REPORTS.pop(next(iter(_GT_REPORTS)))
            _GT_REPORTS[key] = gold
    scores = low_level_scores(gen, gold)
    return {"exec": 1.0, **scores, "low": sum(scores.values()) / 4}


def svg_response_item_metrics(response: str | None, reference_png: bytes, **kwargs: Any) -> dict[str, float]:
    """``svg_response_metrics`` in the (response, reference) order every task's metrics take."""
    return svg_response_metrics(reference_png, response, **kwargs)


def item_metrics(task: str, response: str | None, reference: Any, **kwargs: Any) -> dict[str, float]:
    """``reference``: chart → the ground-truth script; table → the GT HTML; svg → the reference PNG bytes."""
    from verm_rl.tasks import get_task

    return get_task(task).resolve("item_metrics")(response, reference, **kwargs)
