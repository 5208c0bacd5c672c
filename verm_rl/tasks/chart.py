"""Chart → matplotlib: a Python program that draws the chart."""

from __future__ import annotations

import re
from typing import Any

from verm_rl.tasks.fences import blocks_in, pick
from verm_rl.tasks.spec import TaskSpec

LANGS = ("python", "py", "python3")
_BARE = re.compile(r"^(?:import|from)\s+\S.*", re.DOTALL | re.MULTILINE)


def extract(response: str) -> str | None:
    """A ```python fence (the last one that mentions plt), else bare code that imports matplotlib."""
    chosen = pick(blocks_in(response, LANGS), "plt")
    if chosen and ("import" in chosen or "plt." in chosen):
        return chosen
    m = _BARE.search(response)
    if m and "matplotlib" in m.group(0):
        return m.group(0).split("```")[0].strip()
    return None


def render_program(source: str, options: dict[str, Any], meta: dict[str, Any]) -> bytes:
    """Run the program and save its figure (``meta["trace"]``: the figure described, when asked)."""
    from verm_rl.render.chart import render_chart

    trace: dict[str, Any] | None = {} if options.get("trace") else None
    dpi = options.get("dpi", 100)
    png = render_chart(source, dpi=dpi if dpi == "figure" else int(dpi),
                       max_pixels=int(options.get("max_pixels", 40_000_000)), trace=trace,
                       output=options.get("chart_output", "requested"))
    if trace is not None:
        meta["trace"] = trace
    return png


def compare(reference: str, candidate: str, reference_trace: dict | None, candidate_trace: dict | None) -> list:
    from verm_rl.judge.structural.chart import compare_chart_traces

    return compare_chart_traces(reference_trace or {}, candidate_trace or {})


SPEC = TaskSpec(
    name="chart",
    extract=extract,
    categories=("structure_error", "data_error", "text_error", "style_error"),
    location_pattern=r"subplot \d+|figure title|figure",
    noun="matplotlib program",
    fence="python",
    fence_langs=LANGS,
    source_suffixes=(".py",),
    data_source="chart2code",
    policy_prompt="policy_chart.txt",
    judge_prompt="chart.txt",
    judge_settings="verm_rl.judge.profiles:RELEASED_CHART_SVG",
    released_prompts=(("rl_scripts/reward_func/reward_utils.py", "assign", "PROMPT_CHART2CODE_JUDGEMENT"),
                      ("evaluation/api_judge.py", "function", "build_prompt_for_chart")),
    renderer=render_program,
    render_timeout_s=15.0,
    comparer=compare,
    structural_trace=True,
    injector="verm_rl.data.inject.chart:INJECTOR",
    rewrites="verm_rl.data.rewrite:CHART_REWRITES",
    converter="verm_rl.data.dataset:collect_code_pairs",
    synthetic="verm_rl.data.synthetic:chart_program",
    item_metrics="verm_rl.eval.benchmarks.validation:chart_item_metrics",
    broken_program="import matplotlib.pyplot as plt\nraise RuntimeError('oracle: broken on purpose')\n",
)
