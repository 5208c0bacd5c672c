"""Probes of the structural critic with charts, tables and SVGs its other tests never drew.

Each probe is a reference program, rewrites of it that render pixel-identically (renames, reordered
independent calls, other spellings of a colour, ``plt.`` vs ``ax.``, attribute order, attribute vs
``style``) and visible changes. The critic itself is asked (``compare_sources`` without the pixel
short-cut, so the structural comparison is what is tested): a rewrite gets no error, a change gets one
of the expected category. Renders are real (the sandboxed renderer); the pixel facts are asserted too.
Defects these probes found (fixed): legend title, colorbar label, ``step(where=)`` and a coloured
``<tspan>`` unseen; gradient fills unseen (a gradient-only shape was not even an element).
"""

from __future__ import annotations

import asyncio

import pytest

from verm_rl.judge import JudgeRequest
from verm_rl.judge.structural import StructuralJudge, compare_sources

H = "import matplotlib\nimport matplotlib.pyplot as plt\nimport numpy as np\n"
PROBES: list[tuple[str, str, str, list[str], list[tuple[str, str, str]]]] = []


def add(name: str, task: str, ref: str, same: list[str], changed: list[tuple[str, str, str]]) -> None:
    for s in same:
        assert s != ref, name
    for _, c, _ in changed:
        assert c != ref, name
    PROBES.append((name, task, ref, same, changed))


# 1 stacked bars
r = H + """fig, ax = plt.subplots(figsize=(6, 4))
q = ['Q1', 'Q2', 'Q3', 'Q4']
a = [5, 7, 3, 6]
b = [2, 3, 4, 1]
ax.bar(q, a, color='red', label='North')
ax.bar(q, b, bottom=a, color='#1f77b4', label='South')
ax.set_title('Stacked sales')
ax.legend(loc='upper right')
"""
add("stacked_bars", "chart", r,
    [r.replace("color='red'", "color='#ff0000'").replace("q = ", "quarters = ").replace("(q,", "(quarters,"),
     r.replace("color='red'", "color=(1, 0, 0)")],
    [("value", r.replace("[2, 3, 4, 1]", "[2, 3, 9, 1]"), "data"),
     ("legend text", r.replace("'South'", "'West'"), "text"),
     ("colour", r.replace("'#1f77b4'", "'green'"), "style"),
     ("missing series", r.replace("ax.bar(q, b, bottom=a, color='#1f77b4', label='South')\n", ""), "structure")])

# 2 grouped bars
r = H + """x = np.arange(3)
w = 0.35
fig, ax = plt.subplots()
ax.bar(x - w/2, [20, 34, 30], w, label='Men', color='tab:blue')
ax.bar(x + w/2, [25, 32, 34], w, label='Women', color='tab:orange')
ax.set_xticks(x)
ax.set_xticklabels(['G1', 'G2', 'G3'])
ax.legend()
"""
add("grouped_bars", "chart", r,
    [r.replace("color='tab:blue'", "color='#1f77b4'").replace("color='tab:orange'", "color='C1'"),
     r.replace("ax.set_xticks(x)\nax.set_xticklabels(['G1', 'G2', 'G3'])", "ax.set_xticks(x, ['G1', 'G2', 'G3'])")],
    [("value", r.replace("[25, 32, 34]", "[25, 12, 34]"), "data"),
     ("tick", r.replace("'G3'", "'G4'"), "text")])

# 3 horizontal bars
r = H + """plt.figure(figsize=(5, 4))
plt.barh(['apples', 'pears', 'plums'], [3, 8, 5], color='seagreen')
plt.xlabel('kg')
plt.title('Fruit')
"""
add("barh", "chart", r,
    [r.replace("plt.figure(figsize=(5, 4))\nplt.barh", "fig, ax = plt.subplots(figsize=(5, 4))\nax.barh")
      .replace("plt.xlabel", "ax.set_xlabel").replace("plt.title", "ax.set_title"),
     r.replace("plt.xlabel('kg')\nplt.title('Fruit')", "plt.title('Fruit')\nplt.xlabel('kg')")],
    [("value", r.replace("[3, 8, 5]", "[3, 8, 1]"), "data"),
     ("label", r.replace("'kg'", "'tons'"), "text"),
     ("colour", r.replace("seagreen", "purple"), "style")])

# 4 pie with labels/autopct
r = H + """fig, ax = plt.subplots()
ax.pie([40, 30, 20, 10], labels=['A', 'B', 'C', 'D'], autopct='%1.1f%%', colors=['#e41a1c', '#377eb8', '#4daf4a', '#984ea3'], startangle=90)
ax.set_title('Share')
"""
add("pie", "chart", r,
    [r.replace("[40, 30, 20, 10]", "[0.4, 0.3, 0.2, 0.1]")],
    [("value", r.replace("[40, 30, 20, 10]", "[40, 30, 10, 20]"), "data"),
     ("label", r.replace("'D']", "'Other']"), "text"),
     ("autopct", r.replace("'%1.1f%%'", "'%1.0f%%'"), "text")])

# 5 scatter colormap + colorbar
r = H + """rng = np.random.default_rng(0)
x = rng.random(30)
y = rng.random(30)
fig, ax = plt.subplots()
sc = ax.scatter(x, y, c=y, cmap='viridis', s=40)
fig.colorbar(sc, ax=ax, label='depth')
ax.set_xlabel('x')
"""
add("scatter_cmap", "chart", r,
    [r.replace("sc = ax.scatter", "points = ax.scatter").replace("colorbar(sc", "colorbar(points"),
     r.replace("cmap='viridis'", "cmap=matplotlib.colormaps['viridis']")],
    [("cmap", r.replace("'viridis'", "'plasma'"), "style"),
     ("colorbar label", r.replace("'depth'", "'height'"), "text"),
     ("data", r.replace("y = rng.random(30)", "y = rng.random(30) * 3"), "data")])

# 6 errorbar
r = H + """x = [1, 2, 3, 4]
y = [2.0, 3.5, 3.0, 4.2]
plt.errorbar(x, y, yerr=[0.2, 0.3, 0.2, 0.4], fmt='o-', color='k', capsize=3, label='run')
plt.legend(loc='lower right')
"""
add("errorbar", "chart", r,
    [r.replace("color='k'", "color='black'"), r.replace("color='k'", "color=(0, 0, 0)")],
    [("value", r.replace("4.2]", "6.2]"), "data"),
     ("legend loc", r.replace("lower right", "upper left"), "style")])

# 7 fill_between
r = H + """x = np.linspace(0, 10, 50)
fig, ax = plt.subplots()
ax.plot(x, np.sin(x), color='navy')
ax.fill_between(x, np.sin(x) - 0.2, np.sin(x) + 0.2, color='navy', alpha=0.3)
ax.set_ylabel('signal')
"""
add("fill_between", "chart", r,
    [r.replace("'navy'", "'#000080'")],
    [("band", r.replace("- 0.2", "- 0.6").replace("+ 0.2", "+ 0.6"), "data"),
     ("missing band", r.replace("ax.fill_between(x, np.sin(x) - 0.2, np.sin(x) + 0.2, color='navy', alpha=0.3)\n", ""), "structure")])

# 8 twin axes
r = H + """fig, ax1 = plt.subplots()
ax1.plot([1, 2, 3], [10, 20, 15], color='tab:red')
ax1.set_ylabel('temp', color='tab:red')
ax2 = ax1.twinx()
ax2.plot([1, 2, 3], [0.1, 0.4, 0.3], color='tab:blue')
ax2.set_ylabel('rain')
"""
add("twinx", "chart", r,
    [r.replace("ax1", "left").replace("ax2", "right")],
    [("twin value", r.replace("[0.1, 0.4, 0.3]", "[0.1, 0.9, 0.3]"), "data"),
     ("twin label", r.replace("'rain'", "'snow'"), "text")])

# 9 subplots grid
r = H + """fig, axs = plt.subplots(2, 2, figsize=(6, 6))
axs[0, 0].plot([1, 2, 3], [1, 4, 9])
axs[0, 1].bar(['a', 'b'], [3, 5])
axs[1, 0].scatter([1, 2, 3], [3, 2, 1])
axs[1, 1].hist([1, 2, 2, 3, 3, 3], bins=3)
axs[0, 0].set_title('line')
fig.tight_layout()
"""
add("subplot_grid", "chart", r,
    [r.replace("axs[1, 0].scatter([1, 2, 3], [3, 2, 1])\naxs[1, 1].hist", "axs[1, 1].hist").replace("bins=3)\n", "bins=3)\naxs[1, 0].scatter([1, 2, 3], [3, 2, 1])\n", 1)],
    [("value in cell 4", r.replace("[1, 2, 2, 3, 3, 3]", "[1, 1, 2, 3, 3, 3]"), "data"),
     ("swap cells", r.replace("axs[1, 0].scatter", "axs[1, 1].scatterX").replace("axs[1, 1].hist", "axs[1, 0].hist").replace("scatterX", "scatter"), "structure")])

# 10 log scale
r = H + """plt.plot([1, 10, 100, 1000], [1, 100, 10000, 1e6], 'g-')
plt.yscale('log')
plt.grid(True, which='both')
"""
add("logscale", "chart", r,
    [r.replace("'g-'", "color='g', linestyle='-'"), r.replace("'g-'", "color='green'")],
    [("linear", r.replace("plt.yscale('log')\n", ""), "data"),
     ("value", r.replace("1e6]", "1e8]"), "data")])

# 11 annotations
r = H + """fig, ax = plt.subplots()
ax.plot([0, 1, 2, 3], [0, 1, 4, 9])
ax.annotate('peak', xy=(3, 9), xytext=(1.5, 7), arrowprops=dict(arrowstyle='->'))
ax.text(0.2, 6, 'note', fontsize=12)
"""
add("annotate", "chart", r,
    [r.replace("arrowprops=dict(arrowstyle='->')", "arrowprops={'arrowstyle': '->'}")],
    [("annotation text", r.replace("'peak'", "'max'"), "text"),
     ("text", r.replace("'note'", "'nota'"), "text"),
     ("missing text", r.replace("ax.text(0.2, 6, 'note', fontsize=12)\n", ""), "text")])

# 12 legend outside
r = H + """fig, ax = plt.subplots(figsize=(7, 4))
ax.plot([1, 2, 3], [1, 2, 3], label='up')
ax.plot([1, 2, 3], [3, 2, 1], label='down')
ax.legend(loc='center left', bbox_to_anchor=(1, 0.5), title='dir')
fig.tight_layout()
"""
add("legend_outside", "chart", r,
    [r.replace("loc='center left', bbox_to_anchor=(1, 0.5), title='dir'", "title='dir', bbox_to_anchor=(1, 0.5), loc='center left'")],
    [("legend title", r.replace("title='dir'", "title='way'"), "text"),
     ("legend place", r.replace("loc='center left', bbox_to_anchor=(1, 0.5), ", "loc='lower center', "), "style"),
     ("missing legend entry", r.replace(", label='down'", ""), "text")])

# 13 dates on x
r = H + """import datetime as dt
days = [dt.date(2024, 1, d) for d in (1, 2, 3, 4, 5)]
fig, ax = plt.subplots()
ax.plot(days, [3, 5, 2, 6, 4], marker='s')
fig.autofmt_xdate()
"""
add("dates", "chart", r,
    [r.replace("[dt.date(2024, 1, d) for d in (1, 2, 3, 4, 5)]", "[dt.datetime(2024, 1, d) for d in range(1, 6)]")],
    [("value", r.replace("[3, 5, 2, 6, 4]", "[3, 5, 2, 9, 4]"), "data"),
     ("month", r.replace("2024, 1, d", "2024, 2, d"), "data|text")])

# 14 hist
r = H + """rng = np.random.default_rng(1)
data = rng.normal(0, 1, 500)
plt.hist(data, bins=20, color='orange', edgecolor='black')
plt.title('Distribution')
"""
add("hist", "chart", r,
    [r.replace("color='orange'", "color='#ffa500'").replace("edgecolor='black'", "edgecolor='k'")],
    [("bins", r.replace("bins=20", "bins=10"), "data|structure"),
     ("colour", r.replace("'orange'", "'blue'"), "style")])

# 15 boxplot
r = H + """fig, ax = plt.subplots()
ax.boxplot([[1, 2, 3, 4, 10], [2, 3, 4, 5, 6]], tick_labels=['a', 'b'])
ax.set_title('Box')
"""
add("boxplot", "chart", r,
    [r.replace("[2, 3, 4, 5, 6]", "[6, 5, 4, 3, 2]")],
    [("median", r.replace("[2, 3, 4, 5, 6]", "[2, 3, 8, 9, 10]"), "data"),
     ("label", r.replace("'b']", "'c']"), "text")])

# 16 step
r = H + """plt.step([1, 2, 3, 4], [1, 3, 2, 4], where='mid', color='purple', label='s')
plt.legend()
"""
add("step", "chart", r,
    [r.replace("color='purple'", "color='#800080'"),
     r.replace("plt.step([1, 2, 3, 4], [1, 3, 2, 4], where='mid',", "plt.plot([1, 2, 3, 4], [1, 3, 2, 4], drawstyle='steps-mid',")],
    [("where", r.replace("'mid'", "'post'"), "data|style"),
     ("value", r.replace("[1, 3, 2, 4]", "[1, 3, 2, 8]"), "data")])

# 17 polar
r = H + """theta = np.linspace(0, 2 * np.pi, 40)
fig = plt.figure()
ax = fig.add_subplot(projection='polar')
ax.plot(theta, 1 + np.cos(theta), color='crimson')
ax.set_title('Cardioid')
"""
add("polar", "chart", r,
    [r.replace("fig = plt.figure()\nax = fig.add_subplot(projection='polar')", "fig, ax = plt.subplots(subplot_kw={'projection': 'polar'})")],
    [("shape", r.replace("1 + np.cos(theta)", "1 + 0.5 * np.cos(theta)"), "data"),
     ("cartesian", r.replace("projection='polar'", "projection=None"), "structure|data")])

# tables
T = """<table>
<thead><tr><th rowspan="2">Model</th><th colspan="2">Accuracy</th></tr>
<tr><th>Dev</th><th>Test</th></tr></thead>
<tbody><tr><td>A</td><td>81.2</td><td>80.1</td></tr>
<tr><td>B</td><td>84.0</td><td>83.3</td></tr></tbody>
</table>"""
add("html_spans", "table", T,
    [T.replace('<th rowspan="2">', '<th  rowspan = "2" >').replace("\n", ""),
     T.replace('<th colspan="2">', "<th colspan='2' class='x'>")],
    [("cell", T.replace("83.3", "88.3"), "numeric"),
     ("header", T.replace(">Dev<", ">Val<"), "text"),
     ("row", T.replace("<tr><td>B</td><td>84.0</td><td>83.3</td></tr>", ""), "layout"),
     ("span", T.replace('colspan="2"', 'colspan="1"').replace("<tr><th>Dev</th>", "<tr><th>Dev</th><th></th>"), "layout")])
M = """| Item | Qty | Price |
|:-----|:---:|------:|
| pen  |  2  |  1.50 |
| book |  1  | 12.00 |
"""
add("markdown_align", "table", M,
    [M.replace("|:-----|:---:|------:|", "| :--- | :-: | ---: |").replace("|  2  |", "| 2 |")],
    [("cell", M.replace("12.00", "14.00"), "numeric"),
     ("text", M.replace("book", "books"), "text"),
     ("row", M.replace("| pen  |  2  |  1.50 |\n", ""), "layout")])

# svg
S = """<svg xmlns="http://www.w3.org/2000/svg" width="200" height="120" viewBox="0 0 200 120">
<defs><linearGradient id="g" x1="0" x2="1"><stop offset="0" stop-color="#ff0000"/><stop offset="1" stop-color="#0000ff"/></linearGradient></defs>
<g transform="translate(10,10)">
<rect x="0" y="0" width="80" height="40" fill="url(#g)"/>
<g transform="scale(2)"><circle cx="60" cy="15" r="10" fill="green"/></g>
<path d="M0 60 L80 60 L40 100 Z" fill="orange" stroke="black" stroke-width="2"/>
<text x="100" y="90" font-size="14" fill="black">Hi <tspan fill="red">there</tspan></text>
</g>
</svg>"""
add("svg_mix", "svg", S,
    [S.replace('fill="green"', 'style="fill:green"'),
     S.replace('fill="orange" stroke="black" stroke-width="2"', 'stroke-width="2" stroke="#000" fill="#ffa500"'),
     S.replace('<g transform="scale(2)"><circle cx="60" cy="15" r="10" fill="green"/></g>', '<circle cx="120" cy="30" r="20" fill="green"/>')],
    [("tspan text", S.replace(">there<", ">world<"), "text_symbol"),
     ("tspan colour", S.replace('tspan fill="red"', 'tspan fill="blue"'), "style"),
     ("gradient", S.replace('stop-color="#0000ff"', 'stop-color="#00ff00"'), "style"),
     ("shape moved", S.replace("L40 100 Z", "L40 110 Z"), "shape"),
     ("missing circle", S.replace('<circle cx="60" cy="15" r="10" fill="green"/>', ""), "structure")])

# a gradient-only shape (no stroke) is drawn: it must be an element (it was skipped as "unpainted")
add("svg_gradient_only", "svg", S,
    [S.replace('<stop offset="0" stop-color="#ff0000"/>', '<stop offset="0" style="stop-color:red"/>'),
     S.replace('<linearGradient id="g" x1="0" x2="1"><stop offset="0" stop-color="#ff0000"/><stop offset="1" '
               'stop-color="#0000ff"/></linearGradient>',
               '<linearGradient id="base"><stop offset="0" stop-color="#ff0000"/><stop offset="1" '
               'stop-color="#0000ff"/></linearGradient><linearGradient id="g" x1="0" x2="1" href="#base"/>')],
    [("gradient rect missing", S.replace('<rect x="0" y="0" width="80" height="40" fill="url(#g)"/>', ""),
      "structure")])
add("svg_text_pieces", "svg", S,
    [S.replace('<text x="100" y="90" font-size="14" fill="black">Hi <tspan fill="red">there</tspan></text>',
               '<text x="100" y="90" font-size="14" fill="black">Hi <tspan style="fill: #f00">there</tspan></text>')],
    [("piece colour dropped", S.replace('<tspan fill="red">there</tspan>', "there"), "style")])

# second batch: CSS classes, entities, pipe-less markdown, shared axes, stackplot
S2 = '''<svg xmlns="http://www.w3.org/2000/svg" width="120" height="80"><style>.hl{fill:red}</style>
<text x="5" y="40" font-size="14" fill="black">Hi <tspan class="hl">there</tspan></text>
<rect x="60" y="10" width="40" height="30" fill="rgb(0,128,0)" fill-opacity="0.5"/>
<g transform="rotate(90 100 60)"><rect x="90" y="50" width="20" height="10" fill="#00f"/></g>
</svg>'''
add("svg_class", "svg", S2,
    [S2.replace('<tspan class="hl">', '<tspan fill="red">'),
     S2.replace('fill="rgb(0,128,0)" fill-opacity="0.5"', 'fill="green" style="fill-opacity:0.5"')],
    [("rect colour", S2.replace('fill="#00f"', 'fill="#0f0"'), "style")])
T2 = "<table><tr><th>Name</th><th>R&amp;D</th></tr><tr><td>Ann</td><td>1.5</td></tr></table>"
add("html_entities", "table", T2,
    [T2.replace("R&amp;D", "R&#38;D").replace("<td>Ann</td>", "<td> Ann </td>"),
     T2.replace("<table>", "<table>\n  ").replace("</tr>", "</tr>\n")],
    [("entity", T2.replace("R&amp;D", "R&amp;E"), "text")])
M2 = "Name | Qty\n--- | ---\npen | 2\ncup | 3\n"
add("md_no_pipes", "table", M2,
    ["| Name | Qty |\n| --- | --- |\n| pen | 2 |\n| cup | 3 |\n"],
    [("cell", M2.replace("| 3", "| 4"), "numeric")])
C = H + """fig, (a1, a2) = plt.subplots(1, 2, figsize=(8, 3), sharey=True)
a1.plot([1, 2, 3], [1, 2, 3], 'r--', label='x')
a2.plot([1, 2, 3], [3, 2, 1], color='blue', ls=':', label='y')
a1.legend(loc=2)
a2.legend(loc='upper left')
fig.suptitle('Pair')
"""
add("sharey_pair", "chart", C,
    [C.replace("a1.legend(loc=2)", "a1.legend(loc='upper left')").replace("'r--'", "color='red', linestyle='dashed'"),
     C.replace("ls=':'", "linestyle='dotted'")],
    [("suptitle", C.replace("'Pair'", "'Pairs'"), "text"),
     ("linestyle", C.replace("ls=':'", "ls='-.'"), "style")])
C2 = H + """fig, ax = plt.subplots()
ax.stackplot([1, 2, 3], [1, 2, 3], [2, 2, 2], labels=['a', 'b'], colors=['#aa0000', '#0000aa'])
ax.axhline(2.5, color='gray')
ax.legend(loc='upper left')
"""
add("stackplot", "chart", C2,
    [C2.replace("'#aa0000'", "(0xaa/255, 0, 0)")],
    [("layer", C2.replace("[2, 2, 2]", "[2, 4, 2]"), "data"),
     ("hline", C2.replace("axhline(2.5", "axhline(3.5"), "data")])
# third batch: a figure-level legend (was untraced), span, rotated ticks, per-bar labels, spines
C3 = H + """fig, ax = plt.subplots()
ax.plot([1, 2, 3], [1, 2, 3], label='alpha')
ax.plot([1, 2, 3], [2, 2, 2], label='beta')
fig.legend(loc='lower center', ncol=2)
ax.axvspan(1.5, 2.0, color='yellow', alpha=0.3)
ax.set_xticks([1, 2, 3])
ax.set_xticklabels(['one', 'two', 'three'], rotation=45)
"""
add("fig_legend", "chart", C3, [C3.replace("color='yellow'", "color='#ffff00'")],
    [("fig legend text", C3.replace("'beta'", "'gamma'"), "text"),
     ("fig legend loc", C3.replace("'lower center'", "'upper right'"), "style")])
C4 = H + """fig, ax = plt.subplots()
ax.bar(['a', 'b', 'c'], [3, 1, 2], color=['red', 'green', 'blue'])
for i, v in enumerate([3, 1, 2]):
    ax.text(i, v + 0.1, str(v), ha='center')
ax.spines['top'].set_visible(False)
"""
add("bar_labels", "chart", C4, [C4.replace("['red', 'green', 'blue']", "['#ff0000', '#008000', '#0000ff']")],
    [("label", C4.replace("str(v)", "str(v * 10)"), "text"),
     ("one bar colour", C4.replace("'green', 'blue'", "'green', 'orange'"), "style")])

CASES_SAME = [(n, t, r, i, s) for n, t, r, same, _ in PROBES for i, s in enumerate(same)]
CASES_CHANGED = [(n, t, r, cn, c, want) for n, t, r, _, changed in PROBES for cn, c, want in changed]
_RENDERS: dict[tuple[str, str], object] = {}


def _render(renderer, task: str, source: str):
    key = (task, source)
    if key not in _RENDERS:
        result = renderer.render(task, source, trace=task == "chart")
        assert result.ok, f"{result.error_kind}: {result.message}"
        _RENDERS[key] = result
    return _RENDERS[key]


def _compare(renderer, task: str, ref: str, cand: str):
    a, b = _render(renderer, task, ref), _render(renderer, task, cand)
    errors = compare_sources(task, ref, cand, a.meta.get("trace"), b.meta.get("trace"))
    return a.png == b.png, errors


@pytest.mark.parametrize("name,task,ref,i,same", CASES_SAME, ids=[f"{c[0]}-{c[3]}" for c in CASES_SAME])
def test_pixel_identical_rewrite_has_no_error(renderer, name, task, ref, i, same):
    identical, errors = _compare(renderer, task, ref, same)
    assert identical, "the probe is not a pixel-identical rewrite"
    assert errors == [], [(e.category, e.description) for e in errors]


@pytest.mark.parametrize("name,task,ref,change,cand,want", CASES_CHANGED,
                         ids=[f"{c[0]}-{c[3]}" for c in CASES_CHANGED])
def test_visible_change_is_reported(renderer, name, task, ref, change, cand, want):
    identical, errors = _compare(renderer, task, ref, cand)
    assert not identical, "the probe's change is not visible"
    categories = {e.category.removesuffix("_error") for e in errors}
    assert categories & set(want.split("|")), [(e.category, e.description) for e in errors]


def test_colormap_change_is_one_error(renderer):
    """A colormap is one cause: it was one style error per point (23 errors, severity 40 of norm 50)."""
    ref = next(p for p in PROBES if p[0] == "scatter_cmap")[2]
    _, errors = _compare(renderer, "chart", ref, ref.replace("'viridis'", "'plasma'"))
    assert [(e.category, e.severity) for e in errors] == [("style_error", 2)], [e.description for e in errors]
    _, errors = _compare(renderer, "chart", ref, ref.replace("s=40)", "s=40, vmin=0, vmax=3)"))
    assert [e.category for e in errors] == ["style_error"], [e.description for e in errors]
    # the same colours given point by point (no colormap on one side) are compared point by point: equal
    plain = ref.replace("fig.colorbar(sc, ax=ax, label='depth')\n", "")  # a colorbar needs the mapping
    explicit = plain.replace("c=y, cmap='viridis'", "color=matplotlib.colormaps['viridis'](plt.Normalize()(y))")
    identical, errors = _compare(renderer, "chart", plain, explicit)
    assert identical and errors == [], [e.description for e in errors]


@pytest.mark.xfail(strict=True, reason="one moved errorbar point is reported on the data line and on both cap "
                                       "lines (3 data errors, severity 7): caps would need tracing as part of "
                                       "their errorbar container (chart_trace), too large for this round")
def test_errorbar_value_is_one_error(renderer):
    ref = next(p for p in PROBES if p[0] == "errorbar")[2]
    _, errors = _compare(renderer, "chart", ref, ref.replace("4.2]", "6.2]"))
    assert len(errors) == 1, [e.description for e in errors]


def test_suptitle_change_is_one_error(renderer):
    """The suptitle is also one of the figure's texts: it was reported twice (title and figure texts)."""
    ref = next(p for p in PROBES if p[0] == "sharey_pair")[2]
    _, errors = _compare(renderer, "chart", ref, ref.replace("'Pair'", "'Pairs'"))
    assert [(e.category, e.severity) for e in errors] == [("text_error", 2)], [e.description for e in errors]


@pytest.mark.xfail(strict=True, reason="a <tspan> coloured through a <style> class rule is unknown to the piece "
                                       "colours (only fill attributes and inline style are read), so a change "
                                       "of that rule's colour is not seen")
def test_class_styled_tspan_colour_change(renderer):
    ref = next(p for p in PROBES if p[0] == "svg_class")[2]
    identical, errors = _compare(renderer, "svg", ref, ref.replace(".hl{fill:red}", ".hl{fill:blue}"))
    assert not identical and errors


UNSEEN = [("axvspan width", "fig_legend", ("1.5, 2.0", "1.5, 2.5")),
          ("tick label rotation", "fig_legend", ("rotation=45", "rotation=0")),
          ("spine shown", "bar_labels", ("ax.spines['top'].set_visible(False)\n", ""))]


@pytest.mark.xfail(strict=True, reason="not traced yet: other patches are only counted (an axvspan's extent is not "
                                       "compared), tick label rotation and spine visibility are not in the trace")
@pytest.mark.parametrize("change,probe,edit", UNSEEN, ids=[u[0] for u in UNSEEN])
def test_visible_changes_not_seen_yet(renderer, change, probe, edit):
    ref = next(p for p in PROBES if p[0] == probe)[2]
    identical, errors = _compare(renderer, "chart", ref, ref.replace(*edit))
    assert not identical and errors


HOSTILE = [
    ("table", '<table><tr><td colspan="abc">a</td><td rowspan="0">b</td></tr></table>'),
    ("table", '<table><tr><td colspan="99999">a</td></tr></table>'),
    ("table", "no table here"),
    ("table", "| a |\n|---|\n| b | c | d |"),
    ("svg", '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="5" height="5" '
            'fill="url(#nowhere)"/><linearGradient id="loop" href="#loop"/><rect width="2" height="2" '
            'fill="url(#loop)"/></svg>'),
    ("svg", '<svg xmlns="http://www.w3.org/2000/svg" width="0" height="0" viewBox="0 0 0 0"><rect width="5" '
            'height="5" transform="scale(0)"/></svg>'),
    ("svg", '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><text x="1" y="5"><tspan fill="">a'
            '</tspan><tspan style="fill:">b</tspan></text><path d="M 0 0 Z"/></svg>'),
    ("chart", "import matplotlib.pyplot as plt\nplt.plot([1, 2], [float('nan'), float('inf')])\n"
              "plt.legend(title='t')\n"),
    ("chart", "import matplotlib.pyplot as plt\nfig = plt.figure()\n"
              "fig.add_axes([0, 0, 1, 1], projection='3d').plot([1, 2], [1, 2], [1, 2])\n"),
    ("chart", "import matplotlib.pyplot as plt\nimport numpy as np\nplt.imshow(np.zeros((3, 3)))\n"
              "plt.colorbar(orientation='horizontal', label='')\n"),
    ("chart", "import matplotlib.pyplot as plt\nplt.table(cellText=[['a']])\nplt.axis('off')\n"),
    ("chart", "raise SystemExit(3)\n"),
]
HOSTILE_REFS = {"table": "<table><tr><td>a</td><td>b</td></tr></table>",
                "svg": '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="5" height="5" '
                       'fill="red"/></svg>',
                "chart": "import matplotlib.pyplot as plt\nplt.plot([1, 2], [3, 4])\n"}


def test_hostile_candidates_end_as_typed_statuses(renderer):
    """Odd but renderable (or unrenderable) candidates: every one gets a judgement with a status, none raises."""
    requests = []
    for task, cand in HOSTILE:
        ref = HOSTILE_REFS[task]
        cand_png = renderer.render(task, cand).png
        requests.append(JudgeRequest(task, _render(renderer, task, ref).png, cand_png, ref, cand))
    judge = StructuralJudge()
    try:
        judgements = asyncio.run(judge.judge(requests))
    finally:
        asyncio.run(judge.close())
    assert len(judgements) == len(HOSTILE)
    for (task, cand), j in zip(HOSTILE, judgements):
        assert j.status in ("ok", "judge_failed"), (task, cand, j.status)
        if j.status == "ok" and "pixel_identical" not in j.notes:
            assert j.errors, (task, cand)  # each differs visibly from its reference
    assert judgements[-1].status == "judge_failed"  # the program that cannot be traced


def test_many_text_tags_in_comments_parse_linearly():
    """Thousands of '<text' in comments: the tspan-piece pass scanned to the end from each (28 s for
    this SVG, quadratic), and a '<tspan' in a comment ate the comment's end (ParseError on a valid SVG).
    Equal drawings, so no error."""
    commented = HOSTILE_REFS["svg"].replace("</svg>", "<!--<text>-->" * 20000 + "<!--" + "<tspan" * 20000 + "-->"
                                            + "</svg>")
    assert compare_sources("svg", HOSTILE_REFS["svg"], commented) == []


def test_end_to_end_judge_on_probe_changes(renderer):
    """Through StructuralJudge (pixels first, then structure): rewrites note pixel identity, changes get errors."""
    picked = [p for p in PROBES if p[0] in ("legend_outside", "step", "svg_mix", "html_spans")]
    requests, expect = [], []
    for _, task, ref, same, changed in picked:
        for cand, want in [(same[0], None)] + [(c, w) for _, c, w in changed]:
            requests.append(JudgeRequest(task, _render(renderer, task, ref).png, _render(renderer, task, cand).png,
                                         ref, cand))
            expect.append(want)
    judge = StructuralJudge()
    try:
        judgements = asyncio.run(judge.judge(requests))
    finally:
        asyncio.run(judge.close())
    for want, j in zip(expect, judgements):
        assert j.status == "ok"
        if want is None:
            assert j.errors == [] and "pixel_identical" in j.notes
        else:
            assert {e.category.removesuffix("_error") for e in j.errors} & set(want.split("|"))
