"""The critic judges what is seen, not how it is written (issue #11): the cited defects, SVG
resolution, chart tracing by what is drawn, and the pixel check that comes first."""

from __future__ import annotations

import asyncio
import io

import pytest
from PIL import Image

from verm_rl.judge import JudgeRequest
from verm_rl.judge.structural import StructuralJudge, compare_sources
from verm_rl.judge.structural.svg import compare_svgs, parse_svg
from verm_rl.judge.structural.visual import visual_match


def _svg(body: str, extra: str = "") -> str:
    return f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100" {extra}>{body}</svg>'


def _chart(renderer, a: str, b: str) -> tuple[list, bool]:
    ra, rb = renderer.render("chart", a, trace=True), renderer.render("chart", b, trace=True)
    assert ra.ok and rb.ok, (ra.message, rb.message)
    return compare_sources("chart", a, b, ra.meta["trace"], rb.meta["trace"]), ra.png == rb.png


# ------------------------------------------------------------------------- the defects the issue cites

BARS_ONE_CALL = """import matplotlib.pyplot as plt
fig, ax = plt.subplots(figsize=(5, 3))
ax.bar(['A', 'B', 'C'], [3, 5, 2], color='#1f77b4', label='Sales')
ax.legend()
"""
BARS_PER_CALL = """import matplotlib.pyplot as plt
fig, ax = plt.subplots(figsize=(5, 3))
ax.bar('A', 3, color='#1f77b4', label='Sales')
ax.bar('B', 5, color='#1f77b4')
ax.bar('C', 2, color='#1f77b4')
ax.legend()
"""


def test_bars_one_call_per_bar_is_the_same_chart(renderer):
    errors, identical = _chart(renderer, BARS_ONE_CALL, BARS_PER_CALL)
    assert identical  # the premise: the two programs draw the same pixels
    assert errors == []  # before: data_error + structure_error
    # and a real change on top of the rewrite is still seen, exactly once
    errors, _ = _chart(renderer, BARS_ONE_CALL, BARS_PER_CALL.replace("ax.bar('B', 5,", "ax.bar('B', 9,"))
    assert [(e.category, e.severity) for e in errors] == [("data_error", 3)]


def _svg_pair_identical(renderer, a: str, b: str) -> bool:
    return renderer.render("svg", a).png == renderer.render("svg", b).png


def test_svg_group_translate_is_the_same_picture(renderer):
    a = _svg('<rect x="30" y="20" width="20" height="10" fill="#1f77b4"/>')
    b = _svg('<g transform="translate(30,20)"><rect x="0" y="0" width="20" height="10" fill="#1f77b4"/></g>')
    assert _svg_pair_identical(renderer, a, b)
    assert compare_svgs(parse_svg(a), parse_svg(b)) == []  # before: shape_error


def test_svg_style_attribute_is_the_same_as_presentation_attributes(renderer):
    a = _svg('<circle cx="50" cy="50" r="20" fill="#ff7f0e" stroke="#000000" stroke-width="2"/>'
             '<text x="10" y="90" font-size="14" fill="#333333">Hi</text>')
    b = _svg('<circle cx="50" cy="50" r="20" style="fill:#ff7f0e;stroke:#000000;stroke-width:2"/>'
             '<text x="10" y="90" style="font-size:14px;fill:#333333">Hi</text>')
    assert _svg_pair_identical(renderer, a, b)
    assert compare_svgs(parse_svg(a), parse_svg(b)) == []  # before: shape_error


# ------------------------------------------------------------------------------------ SVG resolution

RECT = _svg('<rect x="20" y="30" width="40" height="20" fill="#2ca02c" stroke="#000000" stroke-width="2"/>')

SVG_EQUIVALENT = {
    "nested transforms": _svg('<g transform="translate(10,10)"><g transform="scale(2)">'
                              '<rect x="5" y="10" width="20" height="10" fill="#2ca02c" stroke="#000" '
                              'stroke-width="1"/></g></g>'),
    "matrix": _svg('<g transform="matrix(2 0 0 2 20 30)"><rect width="20" height="10" fill="#2ca02c" '
                   'stroke="black" stroke-width="1"/></g>'),
    "rotate": _svg('<g transform="rotate(180 40 40)"><rect x="20" y="30" width="40" height="20" fill="#2ca02c" '
                   'stroke="#000000" stroke-width="2"/></g>'),
    "style attribute": _svg('<rect x="20" y="30" width="40" height="20" style="fill: #2ca02c; stroke:#000000;'
                            'stroke-width:2px"/>'),
    "style block": _svg('<style>.box { fill: #2ca02c; stroke: black } #b { stroke-width: 2 }</style>'
                        '<rect id="b" class="box" x="20" y="30" width="40" height="20"/>'),
    "inherited": _svg('<g fill="#2ca02c" stroke="#000000"><g stroke-width="2">'
                      '<rect x="20" y="30" width="40" height="20"/></g></g>'),
    "use": _svg('<defs><rect id="r" width="40" height="20" fill="#2ca02c" stroke="#000000" stroke-width="2"/></defs>'
                '<use href="#r" x="20" y="30"/>'),
    "units": '<svg xmlns="http://www.w3.org/2000/svg" width="100px" height="100px">'
             '<rect x="20px" y="30" width="30pt" height="20px" fill="#2ca02c" stroke="#000000" stroke-width="1.5pt"/>'
             '</svg>',
    "viewBox scale": '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 200 200">'
                     '<rect x="40" y="60" width="80" height="40" fill="#2ca02c" stroke="#000000" stroke-width="4"/></svg>',
    "rect as path": _svg('<path d="M20 30 H60 V50 H20 Z" fill="#2ca02c" stroke="#000000" stroke-width="2"/>'),
    "path from another corner": _svg('<path d="M60 50 L20 50 L20 30 L60 30 Z" fill="#2ca02c" stroke="#000000" '
                                     'stroke-width="2"/>'),
    "polygon": _svg('<polygon points="20,30 60,30 60,50 20,50" fill="rgb(44, 160, 44)" stroke="black" '
                    'stroke-width="2"/>'),
}


@pytest.mark.parametrize("name", sorted(SVG_EQUIVALENT))
def test_svg_resolution_equivalents(renderer, name):
    # the premise: cairosvg draws the same picture (identical, or only antialiasing levels apart)
    match = visual_match(renderer.render("svg", RECT).png, renderer.render("svg", SVG_EQUIVALENT[name]).png)
    assert match.same_size and match.changed_fraction == 0.0
    assert compare_svgs(parse_svg(RECT), parse_svg(SVG_EQUIVALENT[name])) == []


def test_svg_resolution_keeps_real_differences():
    moved = SVG_EQUIVALENT["nested transforms"].replace("translate(10,10)", "translate(30,10)")
    assert [(e.category, e.severity) for e in compare_svgs(parse_svg(RECT), parse_svg(moved))] == [("shape_error", 3)]
    recoloured = SVG_EQUIVALENT["style block"].replace("fill: #2ca02c", "fill: #d62728")
    assert [e.category for e in compare_svgs(parse_svg(RECT), parse_svg(recoloured))] == ["style_error"]
    thicker = SVG_EQUIVALENT["inherited"].replace('stroke-width="2"', 'stroke-width="5"')
    assert [(e.category, e.severity) for e in compare_svgs(parse_svg(RECT), parse_svg(thicker))] == [("style_error", 1)]
    # a scale stretches the stroke too: same rect outline, stroke drawn twice as wide
    scaled = SVG_EQUIVALENT["matrix"].replace('stroke-width="1"', 'stroke-width="2"')
    assert [(e.category, e.severity) for e in compare_svgs(parse_svg(RECT), parse_svg(scaled))] == [("style_error", 1)]


def test_svg_seen_colours_and_invisible_elements():
    faded = _svg('<rect x="20" y="30" width="40" height="20" fill="#2ca02c" opacity="0.3" stroke="#000000" '
                 'stroke-width="2"/>')
    assert {e.category for e in compare_svgs(parse_svg(RECT), parse_svg(faded))} == {"style_error"}
    hidden = RECT.replace("</svg>", '<g display="none"><circle cx="5" cy="5" r="3"/></g>'
                          '<rect x="1" y="1" width="5" height="5" fill="none"/></svg>')
    assert compare_svgs(parse_svg(RECT), parse_svg(hidden)) == []


def test_svg_images_placed_by_their_frame():
    img = '<image href="data:image/png;base64,AAAA" x="{x}" width="10" height="20"/>'
    a = _svg('<g transform="translate(5,5)">' + img.format(x=2) + "</g>")
    assert compare_svgs(parse_svg(a), parse_svg(_svg(img.format(x=7).replace("<image", '<image y="5"')))) == []
    moved = parse_svg(_svg(img.format(x=30)))
    assert [(e.category, e.location) for e in compare_svgs(parse_svg(a), moved)] == [("shape_error", "<image> 1")]


def test_svg_tspans_read_as_one_text():
    a = _svg('<text x="10" y="50" font-size="12">Hello world</text>')
    b = _svg('<text x="10" y="50" font-size="12">Hello <tspan>world</tspan></text>')
    assert compare_svgs(parse_svg(a), parse_svg(b)) == []


# --------------------------------------------------------------------------- charts by what is drawn

LINES = """import matplotlib.pyplot as plt
fig, ax = plt.subplots(figsize=(5, 3))
ax.plot([1, 2, 3], [1, 4, 9], color='#1f77b4', marker='o')
ax.plot([1, 2, 3], [9, 1, 5], color='#d62728', linestyle='--')
ax.scatter([1, 2, 3], [5, 5, 6], color='#2ca02c', alpha=0.5)
ax.set_title('Growth')
"""
LINES_REWRITTEN = """import matplotlib.pyplot as plt
import numpy as np
plt.figure(figsize=(5, 3))
plt.title('Growth')
plt.plot(np.array([1, 2, 3]), np.array([1, 4, 9]), 'o-', c='C0')
plt.plot([1, 2, 3], [9, 1, 5], ls='--', color='tab:red')
for x, y in zip([1, 2, 3], [5, 5, 6]):
    plt.scatter(x, y, c='#2CA02C', alpha=0.5)
"""


def test_chart_rewritten_with_other_api_names_cycles_and_loops(renderer):
    errors, identical = _chart(renderer, LINES, LINES_REWRITTEN)
    assert identical and errors == []
    # alpha is part of the colour seen: the same colour at another alpha is a colour error
    errors, _ = _chart(renderer, LINES, LINES_REWRITTEN.replace("alpha=0.5", "alpha=0.1"))
    assert [e.category for e in errors] == ["style_error"]


def test_chart_series_order_does_not_matter_without_a_legend(renderer):
    swapped = LINES.replace("ax.plot([1, 2, 3], [1, 4, 9], color='#1f77b4', marker='o')\n", "") \
        .replace("ax.scatter", "ax.plot([1, 2, 3], [1, 4, 9], color='#1f77b4', marker='o')\nax.scatter")
    errors, _ = _chart(renderer, LINES, swapped)
    assert errors == []


def test_bars_coloured_one_by_one(renderer):
    listed = ("import matplotlib.pyplot as plt\nfig, ax = plt.subplots(figsize=(5, 3))\n"
              "ax.bar(['A', 'B', 'C'], [3, 5, 2], color=['#1f77b4', '#d62728', '#1f77b4'])\n")
    looped = ("import matplotlib.pyplot as plt\nfig, ax = plt.subplots(figsize=(5, 3))\n"
              "for k, v, c in [('A', 3, 'tab:blue'), ('B', 5, 'tab:red'), ('C', 2, 'tab:blue')]:\n"
              "    ax.bar(k, v, color=c)\n")
    errors, identical = _chart(renderer, listed, looped)
    assert identical and errors == []
    # the highlighted bar drawn in the common colour: one colour error, though the colour set only shrank
    errors, _ = _chart(renderer, listed, looped.replace("('B', 5, 'tab:red')", "('B', 5, 'tab:blue')"))
    assert [(e.category, e.severity) for e in errors] == [("style_error", 2)]


def test_hand_placed_axes_compared_by_position(renderer):
    placed = ("import matplotlib.pyplot as plt\nfig = plt.figure(figsize=(5, 3))\n"
              "ax = fig.add_axes([0.1, 0.15, 0.8, 0.75])\nax.plot([1, 2, 3], [2, 1, 3], color='#1f77b4')\n")
    same = placed.replace("ax = fig.add_axes([0.1, 0.15, 0.8, 0.75])\nax.plot(",
                          "axis = fig.add_axes((0.1, 0.15, 0.8, 0.75))\naxis.plot(")
    errors, identical = _chart(renderer, placed, same)
    assert identical and errors == []
    errors, _ = _chart(renderer, placed, placed.replace("[0.1, 0.15, 0.8, 0.75]", "[0.4, 0.15, 0.5, 0.75]"))
    assert [(e.category, e.severity) for e in errors] == [("structure_error", 2)]


# ----------------------------------------------------------------------------------- pixels first

def _png(color: tuple[int, int, int], size=(40, 30), dot: bool = False) -> bytes:
    img = Image.new("RGB", size, (255, 255, 255))
    if dot:
        img.putpixel((3, 3), color)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def test_visual_match_levels():
    white = _png((0, 0, 0))
    assert visual_match(white, white).identical
    near = visual_match(_png((0, 0, 0), size=(100, 100)), _png((0, 0, 0), size=(100, 100), dot=True))
    assert not near.identical and near.near and near.note().startswith("near_identical")
    assert not visual_match(white, _png((0, 0, 0), size=(41, 30))).same_size
    assert visual_match(white, None) is None and visual_match(white, b"not a png") is None


def test_judge_reports_nothing_for_identical_pixels_and_notes_near_identical(renderer):
    a = _svg('<rect x="20" y="30" width="40" height="5" fill="#2ca02c"/>')
    written_otherwise = _svg('<g fill="#2ca02c"><path d="M20 30h40v5h-40z"/></g>')
    moved = a.replace('x="20"', 'x="20.1"')  # a sub-pixel nudge: near-identical, still compared
    png = {s: renderer.render("svg", s).png for s in (a, written_otherwise, moved)}
    judge = StructuralJudge()
    out = asyncio.run(judge.judge([JudgeRequest("svg", png[a], png[written_otherwise], a, written_otherwise),
                                   JudgeRequest("svg", png[a], png[moved], a, moved)]))
    assert out[0].errors == [] and out[0].notes == ["pixel_identical"]
    assert out[1].status == "ok" and out[1].notes and out[1].notes[0].startswith("near_identical")
