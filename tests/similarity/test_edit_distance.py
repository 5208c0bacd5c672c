"""TEDS's cell distance is rapidfuzz's Levenshtein normalised by the longer sequence, as PubTabNet's
scorer defines it: checked against a plain dynamic-programming Levenshtein on hand pairs."""

from __future__ import annotations

import pytest

from verm_rl.similarity.teds import normalized_token_distance, teds


def reference_levenshtein(a, b) -> int:
    """Insert = delete = substitute = 1, the textbook recurrence."""
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


PAIRS = [("", ""), ("", "abc"), ("kitten", "sitting"), ("flaw", "lawn"), ("12.5", "12.50"), ("Total", "total"),
         ("α β γ", "α γ"), (["<b>", "1", "2", "</b>"], ["1", "2"]), (["<i>", "x", "</i>"], ["<b>", "x", "</b>"]),
         ("intention", "execution"), ("a" * 50, "b" * 50)]


@pytest.mark.parametrize(("a", "b"), PAIRS)
def test_normalised_distance_equals_the_reference_recurrence(a, b):
    longest = max(len(a), len(b))
    expected = reference_levenshtein(a, b) / longest if longest else 0.0
    assert normalized_token_distance(a, b) == pytest.approx(expected, abs=1e-12)
    assert normalized_token_distance(list(a), list(b)) == pytest.approx(expected, abs=1e-12)  # tokens too


def test_one_cell_edit_moves_teds_by_its_share():
    ref = "<table><tr><td>kitten</td><td>b</td></tr></table>"
    cand = "<table><tr><td>sitting</td><td>b</td></tr></table>"
    # n = 3 nodes below <table> (tr, td, td); one cell renamed at cost 3/7
    assert teds(ref, cand) == pytest.approx(1 - (3 / 7) / 3)
    assert teds(ref, cand, structure_only=True) == 1.0
