"""Normalised edit distance, as OmniDocBench defines it for tables (evaluation.md §3.3):

    d(pred, gt) = Lev(pred, gt) / max(|pred|, |gt|)

character-level Levenshtein (insert = delete = substitute = 1) over the full strings — for tables the
normalised HTML, tags included. 0 when both strings are empty.
"""

from __future__ import annotations


def levenshtein(a: str, b: str) -> int:
    from rapidfuzz.distance import Levenshtein

    return int(Levenshtein.distance(a, b))


def normalized_edit_distance(pred: str, gt: str) -> float:
    longest = max(len(pred), len(gt))
    return levenshtein(pred, gt) / longest if longest else 0.0
