"""The structural critic, rule by rule: pairs of programs that differ in exactly one way."""

from __future__ import annotations

import asyncio

import pytest

from verm_rl.judge import JudgeRequest
from verm_rl.judge.structural import StructuralJudge, compare_sources
from verm_rl.judge.structural.svg import compare_svgs, parse_svg
from verm_rl.judge.structural.table import compare_tables, parse_table

BASE = """import matplotlib.pyplot as plt
fig, ax = plt.subplots(figsize=(6, 4))
ax.bar(['A', 'B', 'C', 'D'], [10, 20, 30, 40], color='#1f77b4', label='Sales')
ax.plot([0, 1, 2, 3], [12, 18, 33, 38], color='#d62728', linestyle='-', marker='o', label='Trend')
ax.set_title('Revenue by region')
ax.set_xlabel('Region')
ax.set_ylabel('Revenue (M$)')
ax.legend(loc='upper left')
"""

CHART_RULES = [
    ("identical", BASE, []),
    ("data value", BASE.replace("[10, 20, 30, 40]", "[10, 20, 30, 70]"), [("data_error", 3)]),
    ("small data value", BASE.replace("[10, 20, 30, 40]", "[10, 20, 30, 48]"), [("data_error", 2)]),
    ("dropped series", BASE.replace("ax.plot([0, 1, 2, 3], [12, 18, 33, 38], color='#d62728', linestyle='-', "
                                    "marker='o', label='Trend')\n", ""), [("structure_error", 2)]),
    ("chart type", BASE.replace("ax.bar(", "ax.scatter(").replace(", label='Sales')", ")"),
     [("structure_error", 3)]),
    ("colour", BASE.replace("'#1f77b4'", "'#2ca02c'"), [("style_error", 2)]),
    ("title", BASE.replace("Revenue by region", "Profit by region"), [("text_error", 2)]),
    ("axis label", BASE.replace("'Region'", "'Regions'"), [("text_error", 1)]),
    ("tick label", BASE.replace("'D']", "'E']"), [("text_error", 1)]),
    ("legend entry", BASE.replace("label='Sales'", "label='Income'"), [("text_error", 2)]),
    ("legend position", BASE.replace("upper left", "lower right"), [("style_error", 1)]),
    ("line style", BASE.replace("linestyle='-'", "linestyle='--'"), [("style_error", 1)]),
    ("grid", BASE + "ax.grid(True)\n", [("style_error", 1)]),
    ("axis range", BASE + "ax.set_ylim(0, 100)\n", [("data_error", 2)]),
    ("extra subplot", BASE.replace("plt.subplots(figsize=(6, 4))", "plt.subplots(1, 2, figsize=(6, 4))")
     .replace("fig, ax =", "fig, axs =").replace("\nax.", "\naxs[0].").replace("\nax.", "\naxs[0]."),
     [("structure_error", 3)]),
    ("title font size", BASE.replace("'Revenue by region')", "'Revenue by region', fontsize=20)"),
     [("style_error", 1)]),
]


def _fix_extra_subplot(src: str) -> str:
    return src.replace("\nax.", "\naxs[0].")


@pytest.mark.parametrize("name,candidate,expected", CHART_RULES, ids=[r[0] for r in CHART_RULES])
def test_chart_rule(renderer, name, candidate, expected):
    candidate = _fix_extra_subplot(candidate) if name == "extra subplot" else candidate
    ref = renderer.render("chart", BASE, trace=True)
    cand = renderer.render("chart", candidate, trace=True)
    assert ref.ok and cand.ok, cand.message
    errors = compare_sources("chart", BASE, candidate, ref.meta["trace"], cand.meta["trace"])
    assert sorted((e.category, e.severity) for e in errors) == sorted(expected), [e.description for e in errors]


def test_chart_layout_swap(renderer):
    two = """import matplotlib.pyplot as plt
fig, axes = plt.subplots(1, 2, figsize=(8, 4))
axes[0].plot([1, 2, 3], [3, 1, 2], color='#1f77b4')
axes[1].bar(['a', 'b'], [1, 2], color='#ff7f0e')
"""
    a, b = renderer.render("chart", two, trace=True), renderer.render("chart", two.replace("(1, 2,", "(2, 1,"), trace=True)
    errors = compare_sources("chart", "", "", a.meta["trace"], b.meta["trace"])
    assert [(e.category, e.severity) for e in errors] == [("structure_error", 2)]


def test_chart_pie_and_colour_set_matching(renderer):
    pie = "import matplotlib.pyplot as plt\nplt.pie([10, 20, 30], colors=['#1f77b4', '#ff7f0e', '#2ca02c'])\n"
    a = renderer.render("chart", pie, trace=True).meta["trace"]
    changed = renderer.render("chart", pie.replace("[10, 20, 30]", "[10, 20, 60]"), trace=True).meta["trace"]
    assert [(e.category, e.severity) for e in compare_sources("chart", "", "", a, changed)] == [("data_error", 3)]
    # colours are compared as an optimally assigned set (as ChartMimic's colour score): a permutation of
    # the same colours is not a colour error, a new colour is
    swapped = renderer.render("chart", pie.replace("'#1f77b4', '#ff7f0e'", "'#ff7f0e', '#1f77b4'"), trace=True)
    assert compare_sources("chart", "", "", a, swapped.meta["trace"]) == []
    new = renderer.render("chart", pie.replace("'#2ca02c'", "'#000000'"), trace=True).meta["trace"]
    assert [(e.category, e.severity) for e in compare_sources("chart", "", "", a, new)] == [("style_error", 2)]


TABLE = ('<table><tr><th rowspan="2">Name</th><th colspan="2">Scores</th></tr><tr><th>Math</th><th>Art</th></tr>'
         "<tr><td>Ada</td><td>91</td><td>high</td></tr><tr><td>Bob</td><td>78.5</td><td>low</td></tr>"
         "<tr><td>Cy</td><td>66</td><td>mid</td></tr></table>")

TABLE_RULES = [
    ("identical", TABLE, []),
    ("markdown of the same grid is equal", None, None),
    ("numeric cell", TABLE.replace("78.5", "87.5"), [("numeric_error", 2)]),
    ("text cell", TABLE.replace(">high<", ">higher<"), [("text_error", 1)]),
    ("text cell rewritten", TABLE.replace(">Bob<", ">Zanzibar<"), [("text_error", 2)]),
    ("dropped row", TABLE.replace("<tr><td>Bob</td><td>78.5</td><td>low</td></tr>", ""), [("layout_error", 2)]),
    ("two rows dropped", TABLE.replace("<tr><td>Bob</td><td>78.5</td><td>low</td></tr>", "")
     .replace("<tr><td>Cy</td><td>66</td><td>mid</td></tr>", ""), [("layout_error", 3)]),
    ("split span", TABLE.replace('<th colspan="2">Scores</th>', "<th>Scores</th><th>Scores</th>"),
     [("layout_error", 2)]),
    ("header row as data", TABLE.replace("<th>Math</th><th>Art</th>", "<td>Math</td><td>Art</td>"),
     [("layout_error", 1)]),
]


@pytest.mark.parametrize("name,candidate,expected", TABLE_RULES, ids=[r[0] for r in TABLE_RULES])
def test_table_rule(name, candidate, expected):
    if candidate is None:
        md = "| Name | Score |\n|---|---|\n| Ada | 91 |"
        html = "<table><tr><th>Name</th><th>Score</th></tr><tr><td>Ada</td><td>91</td></tr></table>"
        assert compare_tables(parse_table(md), parse_table(html)) == []
        return
    errors = compare_tables(parse_table(TABLE), parse_table(candidate))
    assert sorted((e.category, e.severity) for e in errors) == sorted(expected), [e.description for e in errors]


def test_table_grid_expands_spans():
    grid = parse_table(TABLE)
    assert grid.shape == (5, 3) and grid.header_rows == 2
    assert grid.spans == {(0, 0, 2, 1), (0, 1, 1, 2)}
    assert grid.cells[1] == ["Name", "Math", "Art"] and (1, 0) in grid.covered


SVG = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100"><rect x="10" y="10" width="30" height="20" '
       'fill="#1f77b4"/><circle cx="60" cy="60" r="15" fill="#ff7f0e" stroke="#000000" stroke-width="2"/>'
       '<text x="20" y="90" font-size="12">OK</text></svg>')

SVG_RULES = [
    ("identical", SVG, []),
    ("moved shape", SVG.replace('cx="60"', 'cx="80"'), [("shape_error", 3)]),
    ("nudged shape", SVG.replace('cx="60"', 'cx="64"'), [("shape_error", 2)]),
    ("fill colour", SVG.replace('fill="#ff7f0e"', 'fill="#2ca02c"'), [("style_error", 2)]),
    ("stroke width", SVG.replace('stroke-width="2"', 'stroke-width="4"'), [("style_error", 1)]),
    ("missing element", SVG.replace('<rect x="10" y="10" width="30" height="20" fill="#1f77b4"/>', ""),
     [("structure_error", 2)]),
    ("small text edit", SVG.replace(">OK<", ">NO<"), [("text_symbol_error", 1)]),
    ("text rewritten", SVG.replace(">OK<", ">Hi<"), [("text_symbol_error", 2)]),
    # a circle drawn as an equal-radii ellipse renders identically: not an error (issue #11)
    ("circle as ellipse", SVG.replace('<circle cx="60" cy="60" r="15"', '<ellipse cx="60" cy="60" rx="15" ry="15"'),
     []),
    ("shape swapped", SVG.replace('<circle cx="60" cy="60" r="15"', '<rect x="45" y="45" width="30" height="30"'),
     [("structure_error", 2)]),
]


@pytest.mark.parametrize("name,candidate,expected", SVG_RULES, ids=[r[0] for r in SVG_RULES])
def test_svg_rule(name, candidate, expected):
    errors = compare_svgs(parse_svg(SVG), parse_svg(candidate))
    assert sorted((e.category, e.severity) for e in errors) == sorted(expected), [e.description for e in errors]


def test_structural_judge_backend(renderer):
    judge = StructuralJudge()
    png = renderer.render("svg", SVG).png

    def pair(task, ref, cand):  # the judge looks at the renders first (identical renders: no errors)
        return JudgeRequest(task, renderer.render(task, ref).png, renderer.render(task, cand).png, ref, cand)

    reqs = [pair("svg", SVG, SVG.replace(">OK<", ">NO<")),
            pair("chart", BASE, BASE.replace("Revenue by region", "Profit by region")),
            pair("table", TABLE, TABLE.replace("78.5", "87.5")),
            JudgeRequest("svg", png, png),  # no programs: cannot judge
            JudgeRequest("chart", renderer.render("chart", BASE).png, png, BASE, "raise SystemExit(3)")]
    out = asyncio.run(judge.judge(reqs))
    asyncio.run(judge.close())
    assert [j.status for j in out] == ["ok", "ok", "ok", "judge_failed", "judge_failed"]
    assert [e.category for e in out[0].errors] == ["text_symbol_error"]
    assert out[1].errors[0].category == "text_error" and out[2].errors[0].category == "numeric_error"
    assert '"text_symbol_error_count": 1' in out[0].raw
