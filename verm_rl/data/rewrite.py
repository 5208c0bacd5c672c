"""Metamorphic rewrites: the same picture written another way.

Each rewrite changes how a reference is *written* (API style, loops, colour spelling, call order,
variable names, keyword styles; SVG attributes vs CSS, group transforms, ``<use>``; markdown
spacing, HTML vs markdown, HTML sections and character references) and is meant to render
pixel-identically. They test that a judge charges
for what is seen, not for coding style: a critic must report nothing on a verified-identical pair.
Callers verify identity by rendering both (``benchmarks/critic_equivalence.py``); a rewrite that
happens to change a pixel is dropped there, not trusted.

``rewrite(task, source, kind, seed)`` returns the new source or raises ``NotApplicable``. Chart
rewrites (AST edits) live here, SVG ones in ``rewrite_svg``, table ones in ``rewrite_table``.
"""

from __future__ import annotations

import ast
import random
import re
from collections.abc import Callable
from dataclasses import dataclass

from verm_rl.data.inject import NotApplicable
from verm_rl.data.rewrite_base import edit_rewrite
from verm_rl.data.rewrite_svg import SVG_REWRITES
from verm_rl.data.rewrite_table import TABLE_REWRITES

PLOT_METHODS = {"plot", "bar", "barh", "scatter", "pie", "fill_between"}
TEXT_METHODS = {"set_title", "set_xlabel", "set_ylabel", "grid"}
PYPLOT_NAMES = {"set_title": "title", "set_xlabel": "xlabel", "set_ylabel": "ylabel", "set_xticks": "xticks",
                "set_yticks": "yticks"}


@dataclass(frozen=True)
class Rewrite:
    """A rewritten source and which rewrite made it."""

    task: str
    kind: str
    source: str


# ---------------------------------------------------------------------------------------------- charts

def _method_calls(tree: ast.AST) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)]


def _expr_call(stmt: ast.stmt) -> ast.Call | None:
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call) and isinstance(stmt.value.func, ast.Attribute):
        return stmt.value
    return None


def _target(call: ast.Call) -> str:
    return ast.unparse(call.func.value)


def _kw(call: ast.Call, name: str) -> ast.keyword | None:
    return next((k for k in call.keywords if k.arg == name), None)


def _parse(source: str) -> ast.Module:
    try:
        return ast.parse(source)
    except SyntaxError as e:
        raise NotApplicable(f"not Python: {e}") from None


def _unparse(tree: ast.Module) -> str:
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


chart_edit = edit_rewrite(_parse, _unparse)  # @chart_edit(why_not): edit(tree, rng) -> changed


def _ensure_numpy(tree: ast.Module) -> None:
    if not any(isinstance(n, ast.Import) and any(a.name == "numpy" for a in n.names) for n in tree.body):
        tree.body.insert(0, ast.parse("import numpy as np").body[0])


@chart_edit("not a single-axes program written with plt.subplots")
def chart_pyplot_api(tree: ast.Module, rng: random.Random) -> bool:
    """``fig, ax = plt.subplots(...)`` + ``ax.method`` → ``plt.figure(...)`` + pyplot functions."""
    setup = next((s for s in tree.body if isinstance(s, ast.Assign) and isinstance(s.value, ast.Call)
                  and ast.unparse(s.value.func) == "plt.subplots" and not s.value.args
                  and ast.unparse(s.targets[0]) in ("fig, ax", "(fig, ax)")), None)
    if setup is None:
        return False
    uses = {_target(c) for c in _method_calls(tree)}
    if "fig" in uses:
        raise NotApplicable("the figure object is used")
    setup.targets = [ast.Name("fig", ast.Store())]
    setup.value.func = ast.parse("plt.figure", mode="eval").body
    for call in _method_calls(tree):
        if _target(call) == "ax":
            call.func = ast.Attribute(ast.Name("plt", ast.Load()), PYPLOT_NAMES.get(call.func.attr, call.func.attr),
                                      ast.Load())
    if any(isinstance(n, ast.Name) and n.id == "ax" for n in ast.walk(tree)):
        raise NotApplicable("the axes object is used otherwise")
    return True


@chart_edit("no plt.subplots(rows, cols) call")
def chart_add_subplot(tree: ast.Module, rng: random.Random) -> bool:
    """``plt.subplots(r, c)`` → ``plt.figure`` + one ``fig.add_subplot(r, c, i)`` per panel."""
    for stmt in tree.body:
        if (isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Call)
                and ast.unparse(stmt.value.func) == "plt.subplots" and len(stmt.value.args) == 2
                and all(isinstance(a, ast.Constant) for a in stmt.value.args)
                and isinstance(stmt.targets[0], ast.Tuple) and len(stmt.targets[0].elts) == 2):
            rows, cols = (a.value for a in stmt.value.args)
            fig, axes = (ast.unparse(e) for e in stmt.targets[0].elts)
            figsize = ", ".join(ast.unparse(k) for k in stmt.value.keywords)
            shape = f"({rows}, {cols})" if rows > 1 and cols > 1 else "(-1,)"
            panels = f"[{fig}.add_subplot({rows}, {cols}, k + 1) for k in range({rows * cols})]"
            new = ast.parse(f"{fig} = plt.figure({figsize})\n"
                            f"{axes} = np.array({panels}, dtype=object).reshape{shape}").body
            i = tree.body.index(stmt)
            tree.body[i:i + 1] = new
            _ensure_numpy(tree)
            return True
    return False


@chart_edit("no fig/ax/axes variables")
def chart_rename(tree: ast.Module, rng: random.Random) -> bool:
    """Other variable names for the figure and axes."""
    names = {"fig": rng.choice(["figure", "f", "canvas"]), "ax": rng.choice(["a", "panel", "axis0"]),
             "axes": rng.choice(["grid", "panels", "axs"])}
    hit = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in names:
            node.id, hit = names[node.id], True
    return hit


def _color_spellings(value: str) -> list[ast.expr]:
    """Other spellings of one colour: a name (CSS or tableau), its cycle reference, upper-case hex,
    an RGB tuple of floats."""
    from matplotlib import colors as mcolors
    from matplotlib import rcParamsDefault

    low = value.lower()
    if not re.fullmatch(r"#[0-9a-f]{6}", low):
        return []
    out: list[ast.expr] = [ast.Constant(value.upper()),
                           ast.parse(repr(tuple(int(low[i:i + 2], 16) / 255 for i in (1, 3, 5))), mode="eval").body]
    for table in (mcolors.TABLEAU_COLORS, mcolors.CSS4_COLORS):
        out += [ast.Constant(name) for name, hexv in table.items() if hexv.lower() == low]
    cycle = [mcolors.to_hex(c) for c in rcParamsDefault["axes.prop_cycle"].by_key().get("color", [])]
    if low in cycle:
        out.append(ast.Constant(f"C{cycle.index(low)}"))
    return out


@chart_edit("no literal hex colour")
def chart_color_spelling(tree: ast.Module, rng: random.Random) -> bool:
    """Every literal hex colour spelled another way (name, cycle reference, upper case, RGB tuple)."""
    changed = False
    for call in _method_calls(tree):
        for kw in call.keywords:
            if kw.arg == "color" and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
                options = _color_spellings(kw.value.value)
                if options:
                    kw.value, changed = rng.choice(options), True
            elif kw.arg == "colors" and isinstance(kw.value, ast.List):
                for i, e in enumerate(kw.value.elts):
                    if isinstance(e, ast.Constant) and isinstance(e.value, str) and _color_spellings(e.value):
                        kw.value.elts[i], changed = rng.choice(_color_spellings(e.value)), True
    return changed


_FMT_MARKERS = set("o.,v^<>1234sp*hH+xXDd|_")
_FMT_STYLES = ("--", "-.", "-", ":")


@chart_edit("no plot call with a marker or line style keyword")
def chart_format_string(tree: ast.Module, rng: random.Random) -> bool:
    """``plot(x, y, marker='o', linestyle='--')`` → ``plot(x, y, 'o--')`` (format string)."""
    changed = False
    for call in _method_calls(tree):
        if call.func.attr != "plot" or len(call.args) != 2:
            continue
        marker, style = _kw(call, "marker"), _kw(call, "linestyle")
        fmt = ""
        for kw, allowed in ((marker, _FMT_MARKERS), (style, _FMT_STYLES)):
            if kw is not None and isinstance(kw.value, ast.Constant) and kw.value.value in allowed:
                fmt += kw.value.value
                call.keywords.remove(kw)
        if fmt:
            call.args.append(ast.Constant(fmt))
            changed = True
    return changed


_ALIASES = {"plot": {"color": "c", "linestyle": "ls", "linewidth": "lw"}, "bar": {"color": "facecolor"},
            "barh": {"color": "facecolor"}, "scatter": {"color": "c"}}


@chart_edit("no aliasable keyword")
def chart_keyword_aliases(tree: ast.Module, rng: random.Random) -> bool:
    """Keyword aliases (``c``, ``ls``, ``lw``, ``facecolor``) and keywords passed as ``**dict(...)``."""
    changed = False
    for call in _method_calls(tree):
        aliases = _ALIASES.get(call.func.attr, {})
        for kw in call.keywords:
            if kw.arg in aliases:
                kw.arg, changed = aliases[kw.arg], True
        if call.func.attr in PLOT_METHODS and call.keywords and rng.random() < 0.5:
            call.keywords = [ast.keyword(None, ast.Call(ast.Name("dict", ast.Load()), [], call.keywords))]
            changed = True
    return changed


@chart_edit("no numeric list literal")
def chart_numpy_data(tree: ast.Module, rng: random.Random) -> bool:
    """List literals of data → ``np.array([...])`` (vectorised data)."""
    changed = False
    for call in _method_calls(tree):
        if call.func.attr in PLOT_METHODS - {"pie"}:
            for i, arg in enumerate(call.args):
                if isinstance(arg, ast.List) and arg.elts and all(
                        isinstance(e, ast.Constant) and isinstance(e.value, (int, float)) for e in arg.elts):
                    call.args[i] = ast.Call(ast.parse("np.array", mode="eval").body, [arg], [])
                    changed = True
    if not changed:
        return False
    _ensure_numpy(tree)
    return True


def _loop_over_items(call: ast.Call, names: tuple[str, str]) -> ast.For:
    """``for i, (a, b) in enumerate(zip(args0, args1)): <call with a, b; label only on the first>``."""
    body = ast.Call(call.func, [ast.Name(names[0], ast.Load()), ast.Name(names[1], ast.Load())], [])
    for kw in call.keywords:
        if kw.arg == "label":
            value = ast.IfExp(ast.Compare(ast.Name("i", ast.Load()), [ast.Eq()], [ast.Constant(0)]), kw.value,
                              ast.Constant(None))
            body.keywords.append(ast.keyword("label", value))
        else:
            body.keywords.append(kw)
    target = ast.Tuple([ast.Name("i", ast.Store()), ast.Tuple([ast.Name(n, ast.Store()) for n in names],
                                                              ast.Store())], ast.Store())
    it = ast.Call(ast.Name("enumerate", ast.Load()), [ast.Call(ast.Name("zip", ast.Load()), call.args[:2], [])], [])
    return ast.For(target, it, [ast.Expr(body)], [])


def _loop_rewrite(tree: ast.Module, methods: set[str], names: tuple[str, str]) -> bool:
    changed = False
    for stmt in list(tree.body):
        call = _expr_call(stmt)
        if call is not None and call.func.attr in methods and len(call.args) == 2 and all(
                isinstance(a, ast.List) for a in call.args) and not any(k.arg is None for k in call.keywords):
            tree.body[tree.body.index(stmt)] = _loop_over_items(call, names)
            changed = True
    return changed


@chart_edit("no bar/barh call with literal data")
def chart_bar_loop(tree: ast.Module, rng: random.Random) -> bool:
    """One ``bar``/``barh`` call for all bars → one call per bar in a loop."""
    return _loop_rewrite(tree, {"bar", "barh"}, ("cat", "val"))


@chart_edit("no scatter call with literal data")
def chart_scatter_loop(tree: ast.Module, rng: random.Random) -> bool:
    """One ``scatter`` call for all points → one call per point in a loop."""
    return _loop_rewrite(tree, {"scatter"}, ("px", "py"))


@chart_edit("no two consecutive plot calls on one axes")
def chart_series_loop(tree: ast.Module, rng: random.Random) -> bool:
    """Consecutive ``plot`` calls on one axes → one loop over a list of (x, y, style) series."""
    body = tree.body
    for i in range(len(body) - 1):
        run = []
        for stmt in body[i:]:
            call = _expr_call(stmt)
            if (call is None or call.func.attr != "plot" or len(call.args) != 2
                    or (run and _target(call) != _target(_expr_call(run[0])))
                    or any(k.arg is None for k in call.keywords)):
                break
            run.append(stmt)
        if len(run) >= 2:
            calls = [_expr_call(s) for s in run]
            series = ast.List([ast.Tuple([c.args[0], c.args[1], ast.Dict([ast.Constant(k.arg) for k in c.keywords],
                                                                          [k.value for k in c.keywords])], ast.Load())
                               for c in calls], ast.Load())
            loop = ast.parse(f"for xs, ys, style in SERIES:\n    {_target(calls[0])}.plot(xs, ys, **style)").body[0]
            loop.iter = series
            body[i:i + len(run)] = [loop]
            return True
    return False


@chart_edit("no text call to move")
def chart_call_order(tree: ast.Module, rng: random.Random) -> bool:
    """Titles, axis labels and grids set before the data is drawn, in another order."""
    body = tree.body
    moved = False
    for target in dict.fromkeys(_target(_expr_call(s)) for s in body if _expr_call(s)):
        texts = [s for s in body if _expr_call(s) and _target(_expr_call(s)) == target
                 and _expr_call(s).func.attr in TEXT_METHODS]
        first_plot = next((s for s in body if _expr_call(s) and _target(_expr_call(s)) == target
                           and _expr_call(s).func.attr in PLOT_METHODS), None)
        if len(texts) < 1 or first_plot is None:
            continue
        for s in texts:
            body.remove(s)
        rng.shuffle(texts)
        at = body.index(first_plot)
        body[at:at] = texts
        moved = True
    return moved


@chart_edit("fewer than two plain text setters on any axes")
def chart_axes_set(tree: ast.Module, rng: random.Random) -> bool:
    """``set_title``/``set_xlabel``/``set_ylabel`` of one axes merged into one ``ax.set(...)``."""
    names = {"set_title": "title", "set_xlabel": "xlabel", "set_ylabel": "ylabel"}
    changed = False
    for target in dict.fromkeys(_target(_expr_call(s)) for s in tree.body if _expr_call(s)):
        stmts = [s for s in tree.body if _expr_call(s) and _target(_expr_call(s)) == target
                 and _expr_call(s).func.attr in names and len(_expr_call(s).args) == 1
                 and not _expr_call(s).keywords]
        if len(stmts) < 2:
            continue
        call = ast.Call(ast.Attribute(_expr_call(stmts[0]).func.value, "set", ast.Load()), [],
                        [ast.keyword(names[_expr_call(s).func.attr], _expr_call(s).args[0]) for s in stmts])
        at = tree.body.index(stmts[-1])
        tree.body[at] = ast.Expr(call)
        for s in stmts[:-1]:
            tree.body.remove(s)
        changed = True
    return changed


@chart_edit("no pie percentages or tick labels")
def chart_text_formatting(tree: ast.Module, rng: random.Random) -> bool:
    """Pie percentages by a function instead of a %-format; tick labels set in a separate call."""
    changed = False
    for call in _method_calls(tree):
        pct = _kw(call, "autopct")
        if call.func.attr == "pie" and pct is not None and isinstance(pct.value, ast.Constant):
            m = re.fullmatch(r"%1?\.(\d)f%%", str(pct.value.value))
            if m:
                pct.value = ast.parse(f"lambda p: f'{{p:.{m.group(1)}f}}%'", mode="eval").body
                changed = True
    for stmt in list(tree.body):
        call = _expr_call(stmt)
        if call is not None and call.func.attr in ("set_xticks", "set_yticks") and len(call.args) == 2:
            setter = call.func.attr[:-1] + "labels"  # set_xticks -> set_xticklabels
            labels = ast.Expr(ast.Call(ast.Attribute(call.func.value, setter, ast.Load()),
                                       [call.args[1]], []))
            call.args = call.args[:1]
            tree.body.insert(tree.body.index(stmt) + 1, labels)
            changed = True
    return changed


CHART_REWRITES: dict[str, Callable[[str, random.Random], str]] = {
    "pyplot_api": chart_pyplot_api, "add_subplot": chart_add_subplot, "rename": chart_rename,
    "color_spelling": chart_color_spelling, "format_string": chart_format_string,
    "keyword_aliases": chart_keyword_aliases, "numpy_data": chart_numpy_data, "bar_loop": chart_bar_loop,
    "scatter_loop": chart_scatter_loop, "series_loop": chart_series_loop, "call_order": chart_call_order,
    "axes_set": chart_axes_set, "text_formatting": chart_text_formatting,
}


def rewrites_for(task: str) -> dict[str, Callable[[str, random.Random], str]]:
    """The task's rewrites by kind (``TaskSpec.rewrites``; empty when it has none)."""
    from verm_rl.tasks import get_task

    spec = get_task(task)
    return spec.resolve("rewrites") if spec.rewrites is not None else {}


def rewrite(task: str, source: str, kind: str, seed: int = 0) -> str:
    """``source`` rewritten by ``kind`` (seeded); raises ``NotApplicable`` when it does not apply."""
    kinds = rewrites_for(task)
    if kind not in kinds:
        raise KeyError(f"no {task} rewrite {kind!r}; the {task} rewrites are {sorted(kinds)}")
    fn = kinds[kind]
    out = fn(source, random.Random(f"{seed}:{task}:{kind}"))
    if out.strip() == source.strip():
        raise NotApplicable("the rewrite changed nothing")
    return out


def rewrites_of(task: str, source: str, seed: int = 0, kinds: list[str] | None = None) -> list[Rewrite]:
    """Every applicable rewrite of ``source`` (one per kind)."""
    out = []
    for kind in kinds or rewrites_for(task):
        try:
            out.append(Rewrite(task, kind, rewrite(task, source, kind, seed)))
        except NotApplicable:
            continue
    return out


__all__ = ["CHART_REWRITES", "Rewrite", "SVG_REWRITES", "TABLE_REWRITES", "rewrite", "rewrites_for", "rewrites_of"]
