"""Image → SVG: markup drawn by cairosvg."""

from __future__ import annotations

import re

from verm_rl.tasks.fences import fenced_blocks, first_element
from verm_rl.tasks.spec import TaskSpec

LANGS = ("svg", "xml", "html")
_SVG_OPEN = re.compile(r"<svg\b.*", re.DOTALL | re.IGNORECASE)


def extract(response: str) -> str | None:
    """The ``<svg …</svg>`` in the last svg/xml fence that has one, else a bare one (or an unclosed one)."""
    for lang, body in reversed(fenced_blocks(response)):
        if lang in LANGS or lang == "":
            m = first_element(body, "svg") or _SVG_OPEN.search(body)
            if m:
                return m.group(0).strip()
    m = first_element(response, "svg") or _SVG_OPEN.search(response)
    return m.group(0).strip() if m else None


SPEC = TaskSpec(
    name="svg",
    extract=extract,
    categories=("structure_error", "shape_error", "style_error", "text_symbol_error"),  # the released 4
    location_pattern=r"<[\w-]+> \d+",
    noun="SVG code",
    fence="svg",
    fence_langs=LANGS,
    source_suffixes=(".svg",),
    data_source="svg2code",
    policy_prompt="policy_svg.txt",
    judge_prompt="svg.txt",
    judge_settings="verm_rl.judge.profiles:RELEASED_CHART_SVG",
    released_prompts=(("rl_scripts/reward_func/reward_utils.py", "assign", "PROMPT_IMG2SVG_JUDGEMENT"),
                      ("evaluation/api_judge.py", "function", "build_prompt_for_svg")),
    renderer="verm_rl.render.renderers:render_svg_task",
    render_timeout_s=10.0,  # upstream's
    render_long_lived=True,  # cairosvg runs no user code: one long-lived sandboxed child
    render_check_blank=False,  # checked on cairo's pixels
    comparer="verm_rl.judge.structural.svg:compare",
    injector="verm_rl.data.inject.svg:INJECTOR",
    rewrites="verm_rl.data.rewrite_svg:SVG_REWRITES",
    converter="verm_rl.data.dataset:collect_svgs",
    synthetic="verm_rl.data.synthetic:svg_markup",
    item_metrics="verm_rl.eval.benchmarks.validation:svg_response_item_metrics",
    broken_program="<svg xmlns='http://www.w3.org/2000/svg'><rect",
)
