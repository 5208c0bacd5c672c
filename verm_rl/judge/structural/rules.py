"""The stated rules of the structural critic: which difference is which category, at which severity.

The error injector uses the same functions to label what it injects, so labels and critic agree
by construction and the agreement check measures the critic's extraction, not two rule books.

Severity scale (as Visual-ERM): 1 minor, 2 medium, 3 severe.
- data values, per series: largest relative change |new − old| / |old| ≥ 0.5 → 3, ≥ 0.2 → 2,
  ≥ 0.02 → 1; pie slices by the largest change of a slice's share: ≥ 0.10 → 3, ≥ 0.04 → 2, ≥ 0.005 → 1.
- colours: CIEDE2000 between optimally assigned colours: ΔE > 25 → 2, ΔE > 10 → 1.
- text: titles, suptitle and legend entries 2; axis labels, tick labels, annotations and table/SVG
  text cells 1 when the edit is small (normalised edit similarity ≥ 0.5), else 2.
- structure: number of subplots 3, chart type 3, number of series 2, subplot layout 2, legend or
  colorbar present/absent 2; an SVG element missing, extra or drawn as another kind 2.
- style details (line style, marker, legend position, grid, font size, stroke width) 1; a fill or
  stroke present on one side only 2.
- chart axes: a different scale 2, a range moved by more than 2 % of its span 2; image data shape 2.
- SVG shapes: largest outline displacement / canvas ≥ 0.10 → 3, ≥ 0.03 → 2, ≥ 0.005 → 1.
- tables: a numeric cell 2; one row or column more or fewer 2, several 3; merged cells 2; header rows 1.

Every severity and threshold of the critic is a constant here; the comparers (chart, svg, table,
visual) and the error injector (``verm_rl.data.inject``) read them, neither writes its own.
"""

from __future__ import annotations

import difflib
from functools import lru_cache

import numpy as np

DATA_REL_THRESHOLDS = ((0.5, 3), (0.2, 2), (0.02, 1))
PIE_SHARE_THRESHOLDS = ((0.10, 3), (0.04, 2), (0.005, 1))
COLOR_THRESHOLDS = ((25.0, 2), (10.0, 1))
TEXT_SEVERITY = {"title": 2, "suptitle": 2, "legend": 2, "xlabel": 1, "ylabel": 1, "ticks": 1, "annotation": 1,
                 "cell": 1, "text": 1}
STRUCTURE_SEVERITY = {"subplots": 3, "chart_type": 3, "series": 2, "layout": 2, "legend": 2, "colorbar": 2}
STYLE_DETAIL = 1
STYLE_SEVERITY = {"detail": STYLE_DETAIL, "presence": 2}  # presence: a fill/stroke/colour on one side only
BIG_TEXT_EDIT = 0.5  # normalised edit similarity below this: a big edit, severity at least BIG_TEXT_EDIT_SEVERITY
BIG_TEXT_EDIT_SEVERITY = 2
LENGTH_CHANGE_SEVERITY = 2  # data series (or pie) with a different number of values
# charts
DATA_SEVERITY = {"axis_scale": 2, "axis_range": 2, "image": 2}
AXIS_RANGE_TOLERANCE = 0.02  # an axis limit moved by more than this share of the span: a range change
LAYOUT_TOLERANCE = 0.05  # axes moved by more than this share of the figure: a different layout
FONT_SIZE_TOLERANCE = 0.5  # points
# SVG
SHAPE_THRESHOLDS = ((0.10, 3), (0.03, 2), (0.005, 1))
SAME_OUTLINE = 0.2  # outlines closer than this (canvas percent, Hausdorff) are one shape drawn two ways
SVG_STRUCTURE_SEVERITY = 2  # an element missing, extra, or drawn as another kind of outline
VERTEX_COUNT_SEVERITY = 2  # outlines with different vertex counts compared point by point
REDRAWN_OUTLINE_MIN_SEVERITY = 1  # an outline written with other vertices that traces another curve
STROKE_WIDTH_TOLERANCE = 0.25  # user units after resolution
# tables
TABLE_SEVERITY = {"numeric_cell": 2, "spans": 2, "header_rows": 1, "one_row_or_column": 2, "rows_or_columns": 3}
# visual equivalence (renders compared before any structure)
LEVEL_TOLERANCE = 16  # channel difference (0–255) that counts as a changed pixel
NEAR_FRACTION = 0.001  # at most 0.1 % of the pixels changed: near-identical


def _bucket(value: float, thresholds: tuple[tuple[float, int], ...]) -> int:
    for limit, severity in thresholds:
        if value >= limit:
            return severity
    return 0


def shape_severity(old: list[float], new: list[float], size: float) -> int:
    """Severity of an outline change: the largest point displacement over ``size``."""
    if len(old) != len(new):
        return VERTEX_COUNT_SEVERITY
    if not old:
        return 0
    return _bucket(max(abs(a - b) for a, b in zip(old, new)) / max(size, 1e-9), SHAPE_THRESHOLDS)


def count_severity(diff: int) -> int:
    """Severity of a table with ``diff`` more (or fewer) rows or columns."""
    return TABLE_SEVERITY["one_row_or_column"] if abs(diff) == 1 else TABLE_SEVERITY["rows_or_columns"]


def relative_change(old: list[float], new: list[float]) -> float:
    """Largest |new − old| / |old| over aligned values (inf when the lengths differ)."""
    if len(old) != len(new):
        return float("inf")
    if not old:
        return 0.0
    a, b = np.asarray(old, float), np.asarray(new, float)
    scale = np.maximum(np.abs(a), 1e-9)
    return float(np.max(np.abs(b - a) / scale))


def data_severity(old: list[float], new: list[float]) -> int:
    change = relative_change(old, new)
    return LENGTH_CHANGE_SEVERITY if change == float("inf") else _bucket(change, DATA_REL_THRESHOLDS)


def pie_severity(old: list[float], new: list[float]) -> int:
    if len(old) != len(new):
        return LENGTH_CHANGE_SEVERITY
    a, b = np.asarray(old, float), np.asarray(new, float)
    a, b = a / max(a.sum(), 1e-9), b / max(b.sum(), 1e-9)
    return _bucket(float(np.max(np.abs(a - b))) if len(a) else 0.0, PIE_SHARE_THRESHOLDS)


@lru_cache(maxsize=4096)
def delta_e(hex_a: str, hex_b: str) -> float:
    """CIEDE2000 colour difference of two '#rrggbb' colours (scikit-image)."""
    from skimage.color import deltaE_ciede2000, rgb2lab

    def lab(h: str) -> np.ndarray:
        rgb = np.array([[[int(h[i:i + 2], 16) / 255 for i in (1, 3, 5)]]])
        return rgb2lab(rgb)[0, 0]

    return float(deltaE_ciede2000(lab(hex_a), lab(hex_b)))


def seen_color(hex_color: str, alpha: float = 1.0) -> str:
    """'#rrggbb' drawn at ``alpha`` over white, as the critic compares colours (what is seen)."""
    a = min(max(float(alpha), 0.0), 1.0)
    return "#" + "".join(f"{round(int(hex_color[i:i + 2], 16) * a + 255 * (1 - a)):02x}" for i in (1, 3, 5))


def color_severity(hex_a: str | None, hex_b: str | None) -> int:
    if not hex_a or not hex_b:
        return 0
    return _bucket(delta_e(hex_a.lower(), hex_b.lower()), COLOR_THRESHOLDS)


def match_colors(ref: list[str | None], cand: list[str | None]) -> list[tuple[int, int, float]]:
    """One-to-one matching of colours, (i, j, ΔE) pairs: identical colours pair up first, the rest
    are assigned to minimise the total CIEDE2000 difference (Hungarian algorithm, scipy)."""
    from scipy.optimize import linear_sum_assignment

    ri = [i for i, c in enumerate(ref) if c]
    ci = [j for j, c in enumerate(cand) if c]
    pairs: list[tuple[int, int, float]] = []
    for i in list(ri):
        same = next((j for j in ci if cand[j].lower() == ref[i].lower()), None)
        if same is not None:
            pairs.append((i, same, 0.0))
            ri.remove(i)
            ci.remove(same)
    if ri and ci:
        cost = np.array([[delta_e(ref[i].lower(), cand[j].lower()) for j in ci] for i in ri])
        rows, cols = linear_sum_assignment(cost)
        pairs += [(ri[r], ci[c], float(cost[r, c])) for r, c in zip(rows, cols)]
    return pairs


def normalise_text(text: str) -> str:
    return " ".join(text.replace("\u2212", "-").split())


def text_severity(field: str, old: str, new: str) -> int:
    """0 when equal after whitespace normalisation; else the field's severity, 2 for big edits."""
    a, b = normalise_text(old), normalise_text(new)
    if a == b:
        return 0
    base = TEXT_SEVERITY.get(field, 1)
    similarity = difflib.SequenceMatcher(None, a, b).ratio()
    return max(base, BIG_TEXT_EDIT_SEVERITY) if similarity < BIG_TEXT_EDIT else base


def is_numeric(text: str) -> bool:
    t = normalise_text(text).replace(",", "").replace("%", "").replace("$", "").strip()
    try:
        float(t)
        return True
    except ValueError:
        return False
