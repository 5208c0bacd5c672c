"""Probes of the plain reward API the way users and a degenerate policy call it: references as files,
arrays and dataset images, responses in TRL's shapes, bare strings by mistake, judges that answer
garbage, and responses a repetition loop produces (extraction must stay linear)."""

from __future__ import annotations

import time

import pytest

from tests.render.programs import GOOD_CHART, GOOD_SVG, GOOD_TABLE_HTML
from verm_rl.tasks import extract_code

# What a policy stuck in a repetition loop writes until max_tokens: 100k characters of one token.
DEGENERATE = {
    "svg_opens": "<svg>" * 20000,
    "fenced_svg_opens": "```svg\n" + "<svg>" * 20000,
    "table_opens": "<table>" * 15000,
    "fences": "```" * 35000,
    "fence_langs": "```x" * 25000,
}


@pytest.mark.parametrize("task", ["chart", "table", "svg"])
@pytest.mark.parametrize("shape", sorted(DEGENERATE))
def test_extraction_is_linear_on_degenerate_responses(task, shape):
    start = time.perf_counter()
    extract_code(task, DEGENERATE[shape])
    assert time.perf_counter() - start < 1.0  # was quadratic: 10-15 s for the svg shapes, ~2 s for the rest


@pytest.mark.parametrize("task, response, expected", [
    ("svg", f"```svg\n{GOOD_SVG}\n```", GOOD_SVG),
    ("svg", f"text <svg><svg a='1'> {GOOD_SVG} tail", f"<svg><svg a='1'> {GOOD_SVG}"),
    ("svg", "```xml\n<svg viewBox='0 0 1 1'><rect/>", "<svg viewBox='0 0 1 1'><rect/>"),  # cut off: kept
    ("svg", "```\n<svgfoo></svg>\n```\n<svg></svg >", "<svg></svg >"),
    ("table", f"```html\n{GOOD_TABLE_HTML}\n```", GOOD_TABLE_HTML),
    ("table", "<table><tr><td>1</td></tr></table> and <table></table>!",
     "<table><tr><td>1</td></tr></table> and <table></table>"),  # greedy: the last closing tag
    ("table", "<table></table><table>", "<table></table>"),
    ("table", "```\n<table>\n```", None),
    ("chart", f"```python  # plot\n{GOOD_CHART}```\n```\nnot code\n```", GOOD_CHART.strip("\n")),
    ("chart", f"``` py\n{GOOD_CHART}", GOOD_CHART.strip("\n")),  # a truncated fence counts to the end
])
def test_extraction_keeps_its_choices(task, response, expected):
    assert extract_code(task, response) == expected
