"""Chart perturbations at the AST level: a data value, a dropped series, a swapped chart type, a
colour, a title/label/tick/legend text, the legend position, the subplot layout. Labels come from
the structural critic's rules (``verm_rl.judge.structural.rules``)."""

from __future__ import annotations

import ast
import random
from collections.abc import Callable

from verm_rl.data.inject.base import COLOR_MARGIN, COLOR_POOL, WORD_SWAPS, Injector, NotApplicable, Perturbation, error
from verm_rl.judge.schema import JudgedError
from verm_rl.judge.structural import rules

PLOT_CALLS = {"plot", "bar", "barh", "scatter", "pie", "fill_between"}
LEGEND_LOCS = ["upper left", "upper right", "lower left", "lower right", "center left", "upper center",
               "lower center", "center right"]


def _calls(tree: ast.AST) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)]


def _target(call: ast.Call) -> str:
    return ast.unparse(call.func.value)


def _plot_calls(tree: ast.AST) -> list[ast.Call]:
    return [c for c in _calls(tree) if c.func.attr in PLOT_CALLS]


def _kw(call: ast.Call, name: str) -> ast.keyword | None:
    return next((k for k in call.keywords if k.arg == name), None)


def _numbers(node: ast.AST) -> list[ast.Constant] | None:
    if isinstance(node, ast.List) and node.elts and all(
            isinstance(e, ast.Constant) and isinstance(e.value, (int, float)) and not isinstance(e.value, bool)
            for e in node.elts):
        return node.elts
    return None


def _axes_loc(tree: ast.Module, target: str) -> str:
    """'subplot k' for the axes variable ``target``, in the order axes are first drawn on."""
    order: list[str] = []
    for c in _calls(tree):
        if c.func.attr in PLOT_CALLS | {"set_title"} and _target(c) not in order:
            order.append(_target(c))
    return f"subplot {order.index(target) + 1}" if target in order else "figure"


def _value_node(call: ast.Call) -> ast.AST | None:
    if call.func.attr == "pie":
        return call.args[0] if call.args else None
    if call.func.attr == "fill_between":
        return call.args[1] if len(call.args) > 1 else None
    return call.args[1] if len(call.args) > 1 else None


def _chart_data_value(tree: ast.Module, rng: random.Random) -> list[JudgedError]:
    candidates = [(c, _numbers(_value_node(c))) for c in _plot_calls(tree)]
    candidates = [(c, nums) for c, nums in candidates if nums and any(abs(n.value) > 1e-6 for n in nums)]
    if not candidates:
        raise NotApplicable("no literal data")
    call, nums = rng.choice(candidates)
    old = [float(n.value) for n in nums]
    idx = rng.choice([i for i, v in enumerate(old) if abs(v) > 1e-6])
    for _ in range(20):
        change = rng.uniform(0.25, 0.45) if rng.random() < 0.5 else rng.uniform(0.6, 0.9)
        new_value = round(old[idx] * (1 + change if rng.random() < 0.5 else 1 - change), 2)
        new = old.copy()
        new[idx] = new_value
        sev = rules.pie_severity(old, new) if call.func.attr == "pie" else rules.data_severity(old, new)
        if sev >= 2 or (call.func.attr == "pie" and sev >= 1):
            break
    else:
        raise NotApplicable("change too small to see")
    nums[idx].value = new_value
    where = _axes_loc(tree, _target(call))
    what = "slice sizes" if call.func.attr == "pie" else f"{call.func.attr} values"
    return [error("data", sev, where, f"{what}: {old[idx]:g} changed to {new_value:g}")]


def _statement_of(tree: ast.Module, call: ast.Call) -> ast.stmt | None:
    for stmt in tree.body:
        if isinstance(stmt, ast.Expr) and stmt.value is call:
            return stmt
    return None


def _chart_drop_series(tree: ast.Module, rng: random.Random) -> list[JudgedError]:
    by_axes: dict[str, list[ast.Call]] = {}
    for c in _plot_calls(tree):
        if c.func.attr != "pie":
            by_axes.setdefault(_target(c), []).append(c)
    options = [(t, cs) for t, cs in by_axes.items() if len(cs) >= 2 and len({c.func.attr for c in cs}) == 1]
    if not options:
        raise NotApplicable("no subplot with two series of one kind")
    target, calls = rng.choice(options)
    call = rng.choice(calls)
    stmt = _statement_of(tree, call)
    if stmt is None:
        raise NotApplicable("series not drawn by a plain statement")
    where = _axes_loc(tree, target)
    tree.body.remove(stmt)
    return [error("structure", rules.STRUCTURE_SEVERITY["series"], where, "a data series is missing")]


_SWAPS = {"plot": "scatter", "scatter": "plot", "bar": "plot"}


def _chart_swap_type(tree: ast.Module, rng: random.Random) -> list[JudgedError]:
    by_axes: dict[str, list[ast.Call]] = {}
    for c in _plot_calls(tree):
        by_axes.setdefault(_target(c), []).append(c)
    options = [cs[0] for cs in by_axes.values() if len(cs) == 1 and cs[0].func.attr in _SWAPS and len(cs[0].args) >= 2]
    if not options:
        raise NotApplicable("no single-series subplot to swap")
    call = rng.choice(options)
    old = call.func.attr
    call.func.attr = _SWAPS[old]
    call.keywords = [k for k in call.keywords if k.arg in ("color", "label")]
    return [error("structure", rules.STRUCTURE_SEVERITY["chart_type"], _axes_loc(tree, _target(call)),
                 f"{old} chart drawn as {_SWAPS[old]}")]


def _chart_color(tree: ast.Module, rng: random.Random) -> list[JudgedError]:
    options = [(c, k) for c in _plot_calls(tree) for k in c.keywords
               if k.arg == "color" and isinstance(k.value, ast.Constant) and isinstance(k.value.value, str)]
    if not options:
        raise NotApplicable("no literal colour")
    call, kw = rng.choice(options)
    old = kw.value.value.lower()
    used = {k.value.value.lower() for c in _plot_calls(tree) for k in c.keywords
            if k.arg == "color" and isinstance(k.value, ast.Constant) and isinstance(k.value.value, str)}
    distinct = rules.COLOR_THRESHOLDS[0][0] + COLOR_MARGIN
    choices = [c for c in COLOR_POOL if c not in used and old.startswith("#")
               and all(rules.delta_e(c, u) > distinct for u in used if u.startswith("#"))]
    if not choices:
        raise NotApplicable("no distinct colour left")
    new = rng.choice(choices)
    kw.value.value = new
    where = _axes_loc(tree, _target(call))
    alpha = _kw(call, "alpha")
    a = float(alpha.value.value) if alpha is not None and isinstance(alpha.value, ast.Constant) else 1.0
    sev = rules.color_severity(rules.seen_color(old, a), rules.seen_color(new, a))  # compared as seen
    if not sev:
        raise NotApplicable("colour change too faint to see")
    return [error("style", sev, where, f"colour {old} changed to {new}")]


def _edit_text(text: str, rng: random.Random) -> str:
    words = text.split()
    if len(words) >= 2 and rng.random() < 0.5:
        words.pop(rng.randrange(len(words)))
    else:
        words[rng.randrange(len(words))] = rng.choice(WORD_SWAPS)
    new = " ".join(words)
    return new if new != text else text + " (edited)"


def _chart_text(tree: ast.Module, rng: random.Random) -> list[JudgedError]:
    fields = {"set_title": "title", "suptitle": "suptitle", "set_xlabel": "xlabel", "set_ylabel": "ylabel"}
    options = [c for c in _calls(tree) if c.func.attr in fields and c.args and isinstance(c.args[0], ast.Constant)
               and isinstance(c.args[0].value, str) and c.args[0].value.strip()]
    if not options:
        raise NotApplicable("no literal text")
    call = rng.choice(options)
    old = call.args[0].value
    new = _edit_text(old, rng)
    call.args[0].value = new
    field_name = fields[call.func.attr]
    where = "figure title" if field_name == "suptitle" else _axes_loc(tree, _target(call))
    return [error("text", rules.text_severity(field_name, old, new), where, f"{field_name} '{old}' reads '{new}'")]


def _chart_legend_label(tree: ast.Module, rng: random.Random) -> list[JudgedError]:
    options = [(c, k) for c in _plot_calls(tree) for k in c.keywords
               if k.arg == "label" and isinstance(k.value, ast.Constant) and isinstance(k.value.value, str)]
    legends = {_target(c) for c in _calls(tree) if c.func.attr == "legend"}
    options = [(c, k) for c, k in options if _target(c) in legends]
    if not options:
        raise NotApplicable("no labelled series with a legend")
    call, kw = rng.choice(options)
    old = kw.value.value
    kw.value.value = _edit_text(old, rng) if " " in old else rng.choice(WORD_SWAPS)
    sev = max(rules.text_severity("legend", old, kw.value.value), rules.TEXT_SEVERITY["legend"])
    where = _axes_loc(tree, _target(call)) + ", legend"
    return [error("text", sev, where, f"legend entry '{old}' reads '{kw.value.value}'")]


def _chart_ticks(tree: ast.Module, rng: random.Random) -> list[JudgedError]:
    options = []
    for c in _calls(tree):
        if c.func.attr in ("bar", "barh") and c.args and isinstance(c.args[0], ast.List):
            strings = [e for e in c.args[0].elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
            if strings and len(strings) == len(c.args[0].elts):
                options.append((c, strings))
        if c.func.attr in ("set_xticks", "set_yticks") and len(c.args) >= 2 and isinstance(c.args[1], ast.List):
            strings = [e for e in c.args[1].elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
            if strings:
                options.append((c, strings))
    if not options:
        raise NotApplicable("no categorical tick labels")
    call, strings = rng.choice(options)
    node = rng.choice(strings)
    existing = {s.value for s in strings}
    new = next((w for w in rng.sample(WORD_SWAPS, len(WORD_SWAPS)) if w not in existing), None)
    if new is None:
        raise NotApplicable("no replacement label")
    old, node.value = node.value, new
    where = _axes_loc(tree, _target(call))
    return [error("text", rules.TEXT_SEVERITY["ticks"], where, f"tick label '{old}' reads '{new}'")]


def _chart_legend_loc(tree: ast.Module, rng: random.Random) -> list[JudgedError]:
    options = [(c, _kw(c, "loc")) for c in _calls(tree) if c.func.attr == "legend" and _kw(c, "loc")]
    options = [(c, k) for c, k in options if isinstance(k.value, ast.Constant) and isinstance(k.value.value, str)]
    if not options:
        raise NotApplicable("no legend position")
    call, kw = rng.choice(options)
    old = kw.value.value
    kw.value.value = rng.choice([loc for loc in LEGEND_LOCS if loc != old])
    return [error("style", rules.STYLE_DETAIL, _axes_loc(tree, _target(call)) + ", legend",
                 f"legend moved from {old} to {kw.value.value}")]


def _chart_layout(tree: ast.Module, rng: random.Random) -> list[JudgedError]:
    for c in _calls(tree):
        if c.func.attr == "subplots" and len(c.args) >= 2 and all(isinstance(a, ast.Constant) for a in c.args[:2]):
            rows, cols = c.args[0].value, c.args[1].value
            if sorted((rows, cols)) == [1, 2] or sorted((rows, cols)) == [1, 3]:
                c.args[0].value, c.args[1].value = cols, rows
                return [error("structure", rules.STRUCTURE_SEVERITY["layout"], "figure",
                             f"subplots arranged {cols}x{rows} instead of {rows}x{cols}")]
    raise NotApplicable("no 1xN layout")


CHART_PERTURBATIONS: dict[str, Callable[[ast.Module, random.Random], list[JudgedError]]] = {
    "data_value": _chart_data_value, "drop_series": _chart_drop_series, "swap_type": _chart_swap_type,
    "color": _chart_color, "text": _chart_text, "legend_label": _chart_legend_label, "ticks": _chart_ticks,
    "legend_loc": _chart_legend_loc, "layout": _chart_layout,
}


def perturb_chart(source: str, kind: str, rng: random.Random) -> Perturbation:
    tree = ast.parse(source)
    errors = CHART_PERTURBATIONS[kind](tree, rng)
    return Perturbation(kind, ast.unparse(tree) + "\n", errors)


def apply_kinds(source: str, kinds: list[str], rng: random.Random) -> tuple[str, list[JudgedError]]:
    """``kinds`` one after another on one syntax tree: (program, errors)."""
    tree = ast.parse(source)
    errors: list[JudgedError] = []
    for kind in kinds:
        errors += CHART_PERTURBATIONS[kind](tree, rng)
    return ast.unparse(tree) + "\n", errors


def conflict(keys: list[str], errors: list[JudgedError]) -> str | None:
    """Why these errors cannot be injected together: a structure change (series dropped, type
    swapped) re-attributes what else changed in its subplot."""
    structural = {k for k, e in zip(keys, errors) if e.category == "structure_error"}
    if any(k in structural for k, e in zip(keys, errors) if e.category != "structure_error"):
        return "a structure change and another error in one subplot"
    return None


# the category each kind produces (a multi-error perturbation mixes different categories)
CATEGORY = {"data_value": "data", "drop_series": "structure", "swap_type": "structure", "layout": "structure",
            "color": "style", "legend_loc": "style", "text": "text", "legend_label": "text", "ticks": "text"}
PERTURBATIONS = CHART_PERTURBATIONS  # kind -> perturbation, the name every injector module shares
perturb = perturb_chart
FIRST: set[str] = set()  # kinds applied first / last in a multi-error perturbation
LAST: set[str] = set()


INJECTOR = Injector(PERTURBATIONS, CATEGORY, perturb, apply_kinds, conflict, frozenset(FIRST), frozenset(LAST))
