"""One rule book: the structural critic's comparers and the error injector take every severity from
``verm_rl.judge.structural.rules`` (no integer literal as the severity of an error they build), and
both read the same constants (changing one changes what both say)."""

from __future__ import annotations

import ast
import random
from pathlib import Path

import pytest

from verm_rl.data.inject import perturbations_for
from verm_rl.judge.structural import rules
from verm_rl.judge.structural.table import compare_tables, parse_table

REPO = Path(__file__).resolve().parents[2]
FILES = sorted([*(REPO / "verm_rl/judge/structural").glob("*.py"), *(REPO / "verm_rl/data/inject").glob("*.py")])
BUILDERS = {"_err", "error", "JudgedError"}


@pytest.mark.parametrize("path", [p for p in FILES if p.name != "rules.py"], ids=lambda p: p.name)
def test_no_severity_literals_outside_the_rule_book(path):
    literals = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) in BUILDERS:
            severity = node.args[1] if len(node.args) > 1 else next(
                (k.value for k in node.keywords if k.arg == "severity"), None)
            if isinstance(severity, ast.Constant) or (isinstance(severity, ast.BoolOp) and any(
                    isinstance(v, ast.Constant) for v in severity.values)):
                literals.append(f"line {node.lineno}: {ast.unparse(node)[:80]}")
    assert not literals, literals


TABLE = ("<table><tr><th>k</th><th>v</th><th>w</th></tr><tr><td>a</td><td>1</td><td>x</td></tr>"
         "<tr><td>b</td><td>2</td><td>y</td></tr><tr><td>c</td><td>3</td><td>z</td></tr></table>")


def test_critic_and_injector_follow_the_same_constant(monkeypatch):
    """Raise the severity of one missing row in the rule book: the injector labels the dropped row
    with it, and the critic finds it in the dropped-row table."""
    monkeypatch.setitem(rules.TABLE_SEVERITY, "one_row_or_column", 3)
    p = perturbations_for("table")["drop_row"](TABLE, random.Random(0))
    assert [e.severity for e in p.errors] == [3]
    found = compare_tables(parse_table(TABLE), parse_table(p.source))
    assert [e.severity for e in found if e.category == "layout_error"] == [3]
