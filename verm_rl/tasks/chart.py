"""Chart → matplotlib: a Python program that draws the chart."""

from __future__ import annotations

import re

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
    renderer="verm_rl.render.renderers:render_chart_task",
    render_timeout_s=15.0,
    render_check_blank=False,  # blank-checked on the canvas
    comparer="verm_rl.judge.structural.chart:compare",
    structural_trace=True,
    injector="verm_rl.data.inject.chart:INJECTOR",
    rewrites="verm_rl.data.rewrite:CHART_REWRITES",
    converter="verm_rl.data.dataset:collect_code_pairs",
    synthetic="verm_rl.data.synthetic:chart_program",
    item_metrics="verm_rl.eval.benchmarks.validation:chart_item_metrics",
    broken_program="import matplotlib.pyplot as plt\nraise RuntimeError('oracle: broken on purpose')\n",
)
