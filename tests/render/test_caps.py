"""Degenerate outputs and wall clocks: every cap and every task's timeout gives a typed result,
early, and leaves the worker able to render the next good input."""

from __future__ import annotations

import time

import pytest

from tests.render.programs import GOOD_CHART, GOOD_SVG, GOOD_TABLE_HTML

SVG_OPEN = "<svg xmlns='http://www.w3.org/2000/svg' width='100' height='100'>"


def _big_html_table(rows: int, cols: int) -> str:
    cells = "".join(f"<td>c{j}</td>" for j in range(cols))
    return "<table>" + f"<tr>{cells}</tr>" * rows + "</table>"


@pytest.mark.parametrize("task,source,cap", [
    ("table", _big_html_table(5_000, 1), "max_table_cells"),
    ("table", "| a | b | c | d |\n|---|---|---|---|\n" + "| x | y | z | w |\n" * 600, "max_table_cells"),
    ("table", "<table><tr><td>" + "word " * 30_000 + "</td></tr></table>", "max_text_chars"),
    ("svg", SVG_OPEN + "<g/>" * 25_000 + "</svg>", "max_svg_elements"),
    ("svg", SVG_OPEN + "<g>" * 80 + "<rect width='9' height='9'/>" + "</g>" * 80 + "</svg>", "max_svg_depth"),
    ("svg", SVG_OPEN + "<text x='1' y='9'>" + "ab " * 40_000 + "</text></svg>", "max_text_chars"),
    ("chart", "import matplotlib.pyplot as plt\nplt.figure(figsize=(300, 300))\nplt.plot([1])\n", "figure would be"),
    ("chart", "x = 1\n" * 100_000, "source longer"),
])
def test_each_cap_is_a_typed_too_large(renderer, task, source, cap):
    renderer.render(task, {"chart": GOOD_CHART, "table": GOOD_TABLE_HTML, "svg": GOOD_SVG}[task])  # warm
    start = time.monotonic()
    res = renderer.render(task, source)
    assert res.error_kind == "too_large" and cap in res.message, (res.error_kind, res.message)
    assert time.monotonic() - start < 3, "a cap must answer early"


def test_caps_are_configurable(renderer):
    table = _big_html_table(30, 3)
    assert renderer.render("table", table, max_table_cells=50).error_kind == "too_large"
    assert renderer.render("table", table).ok
    svg = SVG_OPEN + "<g><g><g><rect width='9' height='9'/></g></g></g></svg>"
    assert renderer.render("svg", svg, max_svg_depth=3).error_kind == "too_large"
    assert renderer.render("svg", svg).ok


@pytest.mark.parametrize("task,source,opts,good", [
    ("chart", "import time\ntime.sleep(60)\n", {"timeout_s": 1.0}, GOOD_CHART),
    ("table", _big_html_table(1_500, 8), {"timeout_s": 1.0, "max_table_cells": 100_000}, GOOD_TABLE_HTML),
    ("svg", SVG_OPEN + "".join(f"<circle cx='{i % 97}' cy='{i % 89}' r='{i % 40 + 5}' fill-opacity='0.3' "
                               f"stroke='black' stroke-width='3'/>" for i in range(4_000)) + "</svg>",
     {"timeout_s": 0.05, "svg_width": 3000, "svg_height": 3000}, GOOD_SVG),
])
def test_wall_clock_per_task(renderer, task, source, opts, good):
    worker = renderer.worker(task)
    restarts = worker.restarts
    start = time.monotonic()
    res = renderer.render(task, source, **opts)
    elapsed = time.monotonic() - start
    assert res.error_kind == "timeout", (res.error_kind, res.message)
    assert elapsed < opts["timeout_s"] + 2.5, elapsed  # the whole render, not just a page load
    assert worker.restarts == restarts and worker.alive()
    assert renderer.render(task, good).ok


def test_svg_server_is_reused_and_recycled():
    """One sandboxed SVG child serves many renders and is replaced every ``recycle_every``."""
    from verm_rl.render.fsview import FsView
    from verm_rl.render.options import RenderOptions
    from verm_rl.render.protocol import RenderRequest
    from verm_rl.render.renderers import renderer_for
    from verm_rl.render.svg import render_svg
    from verm_rl.render.svg_server import SvgServer

    render_svg(GOOD_SVG)  # warm this process as the worker does (cairo is loaded before the fork)
    request = RenderRequest("svg", GOOD_SVG, RenderOptions().resolved("svg"), renderer_for("svg"))
    server = SvgServer(recycle_every=3, view=FsView.for_python())
    try:
        results = [server.render(request) for _ in range(7)]
    finally:
        server.stop()
    assert all(r.ok for r in results), [r.message for r in results]
    metas = [r.meta["svg_server"] for r in results]
    assert [m["served"] for m in metas] == [1, 2, 3, 1, 2, 3, 1]
    assert [m["starts"] for m in metas] == [1, 1, 1, 2, 2, 2, 3]
    assert "audit_hook" in results[0].meta["layers"]
