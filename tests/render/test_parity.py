"""Our sandboxed renders against a plain re-implementation of the released render procedure
(benchmarks/render_parity.py): same image size and SSIM ≥ 0.99 on synthetic programs of each task."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import render_parity as rp  # noqa: E402

pytestmark = pytest.mark.slow  # a cold interpreter per released chart render

N_PER_TASK = 10


@pytest.fixture(scope="module")
def parity_result(renderer):
    from verm_rl.render.table import find_chromium

    chromium = find_chromium()
    if chromium is None:
        pytest.skip("no Chromium")
    tables = rp.PlaywrightTables(chromium)
    try:
        return rp.parity(renderer, N_PER_TASK, seed=7, tables=tables, timeout_s=120)  # slack for a busy machine
    finally:
        tables.close()


@pytest.mark.parametrize("task", ["chart", "table", "svg"])
def test_renders_match_the_released_procedure(parity_result, task):
    summary = parity_result[task]
    assert summary["n"] == N_PER_TASK
    bad = [r for r in summary["rows"] if not r.get("same_size") or r["ssim"] < 0.99]
    assert not bad, bad
    assert summary["ssim_min"] >= 0.99


def test_program_savefig_dpi_and_bbox_are_ignored_as_released(renderer, tmp_path):
    """A program's own savefig(dpi=300, bbox_inches='tight') is dropped by both procedures."""
    source = rp.EDGE_CASES["own savefig with dpi=300 and bbox_inches='tight'"]
    theirs = rp.released_chart(source, str(tmp_path), timeout_s=120)
    mine = renderer.render("chart", source, timeout_s=120)
    assert theirs and mine.ok
    result = rp.compare(mine.png, theirs)
    assert result["same_size"] and tuple(result["size"]) == (500, 300) and result["ssim"] >= 0.99


def test_table_page_is_the_released_one():
    """CSS on td only, no DOCTYPE (quirks mode as released), the 3600x2400 canvas."""
    from verm_rl.render.table import CANVAS, PAGE_TEMPLATE, table_to_html

    page = table_to_html("<table><tr><th>a</th></tr><tr><td>1</td></tr></table>")
    assert CANVAS == (3600, 2400) and not page.lstrip().lower().startswith("<!doctype")
    assert "td { border: 1px solid #333; padding: 6px 10px; }" in page and "th" not in PAGE_TEMPLATE.split("<body>")[0]


@pytest.mark.parametrize("case", ["figure dpi set by the program (dpi=150)", "two figures, the first one saved"])
def test_released_chart_output_matches_the_released_procedure(renderer, tmp_path, case):
    """``dpi="figure", chart_output="released"``: the figure current at the end, at its own dpi."""
    source = rp.EDGE_CASES[case]
    theirs = rp.released_chart(source, str(tmp_path), timeout_s=120)
    mine = renderer.render("chart", source, timeout_s=120, dpi="figure", chart_output="released")
    ours_default = renderer.render("chart", source, timeout_s=120)
    assert theirs and mine.ok and ours_default.ok
    result = rp.compare(mine.png, theirs)
    assert result["same_size"] and result["ssim"] >= 0.99
    assert not rp.compare(ours_default.png, theirs)["same_size"]  # the default differs on purpose


def test_released_chart_output_renders_a_closed_figure_blank(renderer):
    """Released: savefig is deleted, then ``plt.close()`` leaves nothing, so the appended savefig writes
    a white page (reward 0); ours by default saves the figure the program asked for."""
    source = rp.EDGE_CASES["savefig then plt.close()"]
    released = renderer.render("chart", source, timeout_s=120, dpi="figure", chart_output="released")
    assert not released.ok and released.error_kind == "blank"
    assert renderer.render("chart", source, timeout_s=120).ok
