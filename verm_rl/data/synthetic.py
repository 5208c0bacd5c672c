"""Seeded synthetic references: matplotlib chart programs, tables (HTML and markdown) and SVGs.

No data set can be downloaded on a CPU box, so tests, the CPU main job and the structural-critic
data all come from here. Programs are written with literal data so that error injection can edit
them at the AST level.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

WORDS = ["Revenue", "Growth", "Users", "Latency", "Accuracy", "Sales", "Costs", "Traffic", "Energy", "Yield",
         "Rainfall", "Output", "Demand", "Budget", "Score", "Volume", "Signal", "Profit", "Index", "Load"]
UNITS = ["(M$)", "(%)", "(ms)", "(kWh)", "(units)", "(k)", "(mm)", "(pts)"]
CATEGORIES = ["North", "South", "East", "West", "Alpha", "Beta", "Gamma", "Delta", "Q1", "Q2", "Q3", "Q4",
              "Mon", "Tue", "Wed", "Thu", "Fri", "Apples", "Pears", "Plums"]
SERIES = ["Model A", "Model B", "Baseline", "Ours", "Control", "Treatment", "2023", "2024", "Train", "Test"]
COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
          "#17becf", "#003f5c", "#ffa600"]
LEGEND_LOCS = ["upper left", "upper right", "lower left", "lower right", "center left", "upper center"]
MARKERS = ["o", "s", "^", "D", "x", "*"]
LINESTYLES = ["-", "--", "-.", ":"]


@dataclass(frozen=True)
class Reference:
    """One synthetic reference: a task, its source program/markup and a stable id."""

    id: str
    task: str
    source: str
    kind: str


def _values(rng: random.Random, n: int, low: float = 5, high: float = 100, decimals: int = 1) -> list[float]:
    return [round(rng.uniform(low, high), decimals) for _ in range(n)]


def _title(rng: random.Random) -> str:
    return f"{rng.choice(WORDS)} by {rng.choice(['region', 'quarter', 'month', 'group', 'day', 'team'])}"


def _axes_block(rng: random.Random, ax: str, kind: str) -> list[str]:
    """Code that draws one chart of ``kind`` on axes variable ``ax``."""
    lines: list[str] = []
    n = rng.randint(4, 7)
    cats = rng.sample(CATEGORIES, n)
    n_series = rng.randint(1, 3) if kind in ("line", "bar_grouped", "scatter") else 1
    names = rng.sample(SERIES, n_series)
    colors = rng.sample(COLORS, max(n_series, n))
    if kind == "line":
        x = list(range(1, n + 1))
        for i in range(n_series):
            lines.append(f"{ax}.plot({x}, {_values(rng, n)}, color={colors[i]!r}, marker={rng.choice(MARKERS)!r}, "
                         f"linestyle={rng.choice(LINESTYLES)!r}, label={names[i]!r})")
    elif kind == "bar":
        lines.append(f"{ax}.bar({cats}, {_values(rng, n)}, color={colors[0]!r}, label={names[0]!r})")
    elif kind == "barh":
        lines.append(f"{ax}.barh({cats}, {_values(rng, n)}, color={colors[0]!r}, label={names[0]!r})")
    elif kind == "bar_grouped":
        width = round(0.8 / n_series, 2)
        for i in range(n_series):
            xs = [round(j + (i - (n_series - 1) / 2) * width, 3) for j in range(n)]
            lines.append(f"{ax}.bar({xs}, {_values(rng, n)}, width={width}, color={colors[i]!r}, label={names[i]!r})")
        lines.append(f"{ax}.set_xticks({list(range(n))}, {cats})")
    elif kind == "scatter":
        for i in range(n_series):
            m = rng.randint(6, 12)
            lines.append(f"{ax}.scatter({_values(rng, m, 0, 10, 2)}, {_values(rng, m, 0, 10, 2)}, "
                         f"color={colors[i]!r}, marker={rng.choice(MARKERS)!r}, label={names[i]!r})")
    elif kind == "pie":
        k = min(rng.randint(3, 5), n)
        lines.append(f"{ax}.pie({_values(rng, k, 5, 40, 0)}, labels={cats[:k]}, colors={colors[:k]}, "
                     f"autopct='%1.0f%%', startangle={rng.choice([0, 90, 140])})")
    elif kind == "area":
        x = list(range(1, n + 1))
        lines.append(f"{ax}.fill_between({x}, {_values(rng, n)}, color={colors[0]!r}, alpha=0.4, label={names[0]!r})")
        lines.append(f"{ax}.plot({x}, {_values(rng, n)}, color={colors[1]!r}, label={names[1 % len(names)]!r})"
                     if n_series > 1 else f"{ax}.plot({x}, {_values(rng, n)}, color={colors[1]!r}, label='trend')")
    if kind != "pie":
        lines.append(f"{ax}.set_xlabel({rng.choice(['Category', 'Time', 'Group', 'Step', 'Month'])!r})")
        lines.append(f"{ax}.set_ylabel({(rng.choice(WORDS) + ' ' + rng.choice(UNITS))!r})")
        lines.append(f"{ax}.legend(loc={rng.choice(LEGEND_LOCS)!r})")
        if rng.random() < 0.4:
            lines.append(f"{ax}.grid(True, linestyle='--', alpha=0.5)")
    lines.append(f"{ax}.set_title({_title(rng)!r})")
    return lines


CHART_KINDS = ("line", "bar", "barh", "bar_grouped", "scatter", "pie", "area")


def chart_program(rng: random.Random) -> tuple[str, str]:
    """A matplotlib program and a short description of its layout."""
    layout = rng.choice([(1, 1)] * 4 + [(1, 2), (2, 1), (2, 2)])
    rows, cols = layout
    w, h = rng.choice([(6, 4), (7, 4.5), (8, 5), (6.4, 4.8)]) if layout == (1, 1) else (4 * cols + 1, 3 * rows + 1)
    code = ["import matplotlib.pyplot as plt", ""]
    kinds = []
    if layout == (1, 1):
        kind = rng.choice(CHART_KINDS)
        kinds.append(kind)
        code.append(f"fig, ax = plt.subplots(figsize=({w}, {h}))")
        code += _axes_block(rng, "ax", kind)
    else:
        code.append(f"fig, axes = plt.subplots({rows}, {cols}, figsize=({w}, {h}))")
        for i in range(rows * cols):
            kind = rng.choice(CHART_KINDS)
            kinds.append(kind)
            ax = f"axes[{i}]" if rows == 1 or cols == 1 else f"axes[{i // cols}, {i % cols}]"
            code += _axes_block(rng, ax, kind)
        if rng.random() < 0.5:
            code.append(f"fig.suptitle({('Overview of ' + rng.choice(WORDS).lower())!r})")
    code += ["plt.tight_layout()", "plt.savefig('chart.png')", ""]
    return "\n".join(code), f"{rows}x{cols}:{'+'.join(kinds)}"


def table_markup(rng: random.Random) -> tuple[str, str]:
    """An HTML table (sometimes with a spanning header) or a markdown table."""
    n_rows, n_cols = rng.randint(3, 7), rng.randint(3, 5)
    header = ["Name"] + rng.sample(WORDS, n_cols - 1)
    rows = []
    for _ in range(n_rows):
        row = [rng.choice(CATEGORIES) + (f" {rng.randint(1, 9)}" if rng.random() < 0.3 else "")]
        for _ in range(n_cols - 1):
            row.append(f"{rng.uniform(0, 1000):.{rng.choice([0, 1, 2])}f}" if rng.random() < 0.8
                       else rng.choice(["n/a", "yes", "no", "high", "low"]))
        rows.append(row)
    if rng.random() < 0.35:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * n_cols) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines), f"markdown {n_rows}x{n_cols}"
    html = ["<table>"]
    if rng.random() < 0.5 and n_cols >= 3:
        group = rng.choice(["Metrics", "Results", "Scores"])
        html.append(f'<tr><th rowspan="2">{header[0]}</th><th colspan="{n_cols - 1}">{group}</th></tr>')
        html.append("<tr>" + "".join(f"<th>{h}</th>" for h in header[1:]) + "</tr>")
        kind = f"html-spans {n_rows}x{n_cols}"
    else:
        html.append("<tr>" + "".join(f"<th>{h}</th>" for h in header) + "</tr>")
        kind = f"html {n_rows}x{n_cols}"
    for r in rows:
        html.append("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>")
    html.append("</table>")
    return "\n".join(html), kind


def svg_markup(rng: random.Random) -> tuple[str, str]:
    """An icon-like SVG of a few shapes in a 100×100 viewBox."""
    parts = [f'<rect x="0" y="0" width="100" height="100" fill="{rng.choice(["#ffffff", "#f4f1de", "#eef6fb"])}"/>']
    kinds = []
    for _ in range(rng.randint(3, 6)):
        kind = rng.choice(["rect", "circle", "ellipse", "line", "polygon", "path", "text"])
        kinds.append(kind)
        c, s = rng.choice(COLORS), rng.choice(COLORS)
        x, y = rng.randint(10, 70), rng.randint(10, 70)
        if kind == "rect":
            parts.append(f'<rect x="{x}" y="{y}" width="{rng.randint(10, 30)}" height="{rng.randint(10, 30)}" '
                         f'rx="{rng.randint(0, 5)}" fill="{c}"/>')
        elif kind == "circle":
            parts.append(f'<circle cx="{x + 10}" cy="{y + 10}" r="{rng.randint(5, 15)}" fill="{c}" stroke="{s}" '
                         f'stroke-width="{rng.randint(1, 3)}"/>')
        elif kind == "ellipse":
            parts.append(f'<ellipse cx="{x + 10}" cy="{y + 10}" rx="{rng.randint(6, 18)}" ry="{rng.randint(4, 12)}" '
                         f'fill="{c}"/>')
        elif kind == "line":
            parts.append(f'<line x1="{x}" y1="{y}" x2="{rng.randint(20, 95)}" y2="{rng.randint(20, 95)}" '
                         f'stroke="{s}" stroke-width="{rng.randint(2, 5)}" stroke-linecap="round"/>')
        elif kind == "polygon":
            pts = " ".join(f"{x + dx},{y + dy}" for dx, dy in [(0, 20), (10, 0), (20, 20)])
            parts.append(f'<polygon points="{pts}" fill="{c}"/>')
        elif kind == "path":
            parts.append(f'<path d="M{x} {y} Q{x + 15} {y - 10} {x + 30} {y} T{x + 60} {y}" fill="none" '
                         f'stroke="{s}" stroke-width="3"/>')
        else:
            parts.append(f'<text x="{x}" y="{y + 20}" font-size="{rng.randint(10, 16)}" font-family="sans-serif" '
                         f'fill="{c}">{rng.choice(["OK", "A", "42", "Go", "Hi", "+1", "$"])}</text>')
    body = "\n  ".join(parts)
    return f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100">\n  {body}\n</svg>', "+".join(kinds)


def generate_references(n: int, seed: int = 0, tasks: tuple[str, ...] | None = None) -> list[Reference]:
    """``n`` references cycling over ``tasks`` (default: every task with a synthetic generator,
    ``TaskSpec.synthetic``), reproducible from ``seed``."""
    from verm_rl.tasks import get_task, task_names

    tasks = tuple(tasks or task_names("synthetic"))
    generators = {t: get_task(t).resolve("synthetic") for t in tasks}
    out = []
    for i in range(n):
        task = tasks[i % len(tasks)]
        rng = random.Random(f"{seed}:{i}:{task}")
        source, kind = generators[task](rng)
        out.append(Reference(id=f"{task}-{seed}-{i:05d}", task=task, source=source, kind=kind))
    return out
