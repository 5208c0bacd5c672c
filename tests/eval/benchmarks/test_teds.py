"""TEDS / TEDS-S against values worked out by hand from PubTabNet's definition (evaluation.md §6).

TEDS = 1 − APTED / n with n = elements below <table> (root excluded, inline tags in cells included).
The base table below has n = 6 (2 tr + 4 td).
"""

from __future__ import annotations

import pytest

from verm_rl.similarity.teds import teds, teds_html

T = "<table><tr><td>a</td><td>b</td></tr><tr><td>1</td><td>2</td></tr></table>"


def doc(table: str) -> str:
    return f"<html><body>{table}</body></html>"


@pytest.mark.parametrize("pred,full,structure", [
    (T, 1.0, 1.0),
    (T.replace(">b<", ">c<"), 1 - 1 / 6, 1.0),  # one cell renamed: Lev([b],[c]) / 1 = 1
    (T.replace(">a<", ">ab<"), 1 - 0.5 / 6, 1.0),  # [a,b] vs [a]: 1/2
    (T.replace(">a<", "> a<"), 1 - 0.5 / 6, 1.0),  # whitespace is a token
    (T.replace(">a<", ">A<"), 1 - 1 / 6, 1.0),  # no lowercasing
    ("<table><tr><td>a</td><td>b</td></tr></table>", 1 - 3 / 6, 1 - 3 / 6),  # tr + 2 td deleted
    ('<table><tr><td colspan="2">a</td></tr><tr><td>1</td><td>2</td></tr></table>', 1 - 2 / 6, 1 - 2 / 6),
    # inline tag: n = 7 (the <b> counts in the denominator only); content [<b>,1,</b>] vs [1] -> 2/3
    (T.replace(">1<", "><b>1</b><"), 1 - (2 / 3) / 7, 1 - 0 / 7),
    # thead is a node: one insertion, n = 7
    ("<table><thead><tr><td>a</td><td>b</td></tr></thead><tr><td>1</td><td>2</td></tr></table>", 1 - 1 / 7, 1 - 1 / 7),
    (T.replace("<td>a</td>", "<th>a</th>"), 1 - 1 / 6, 1 - 1 / 6),  # th is another tag: rename costs 1
    ("<table><tr><td>a<td>b<tr><td>1<td>2</table>", 1.0, 1.0),  # lxml closes the cells and rows
    ('<table><tr><td rowspan="1">a</td><td>b</td></tr><tr><td>1</td><td>2</td></tr></table>', 1.0, 1.0),
])
def test_teds_worked_numbers(pred, full, structure):
    assert teds_html(doc(pred), doc(T)) == pytest.approx(full)
    assert teds_html(doc(pred), doc(T), structure_only=True) == pytest.approx(structure)


def test_cell_tokens_with_inline_tags_and_tails():
    # [<b>,1,2,</b>,%] vs [1,2,%]: Lev = 2, max len 5 -> 0.4; n = max(3, 2) = 3 -> 1 - 0.4/3
    a = doc("<table><tr><td><b>12</b>%</td></tr></table>")
    b = doc("<table><tr><td>12%</td></tr></table>")
    assert teds_html(a, b) == pytest.approx(1 - 0.4 / 3)


def test_official_edge_cases():
    assert teds_html(T, T) == 0.0  # no html/body wrapper: no body/table, the official scorer gives 0
    assert teds_html("", doc(T)) == 0.0 and teds_html(doc(T), "   ") == 0.0
    assert teds_html(doc("<table></table>"), doc("<table></table>")) == 0.0  # n = 0
    assert teds_html(doc("<table><tr><td></td></tr></table>"), doc("<table><tr><td></td></tr></table>")) == 1.0
    with pytest.raises(ValueError):
        teds_html(doc('<table><tr><td colspan="x">a</td></tr></table>'), doc(T))


def test_reward_entry_point_wraps_fragments_and_markdown():
    assert teds(T, T) == 1.0
    assert teds(T, "| a | b |\n|---|---|\n| 1 | 2 |") == 1.0
    assert teds(T, T.replace(">b<", ">c<")) == pytest.approx(5 / 6)
    assert teds(T, "no table here") == 0.0
