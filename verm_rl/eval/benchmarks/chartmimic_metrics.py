"""ChartMimic low-level metrics from two probe reports (``chartmimic_trace``), evaluation.md §2.3–2.4.

Each metric is an F1 between the generated (gen) and ground-truth (gold) logs, 0 when either log is
empty:

- text: multiset exact string matching (case and whitespace count); P = n/|gen|, R = n/|gold|.
- layout: multiset exact matching of the per-axes gridspec dicts.
- chart type: call counts per plotting function; m = Σ_t min(g_t, r_t), P = m/Σg, R = m/Σr.
- colour: the (function, colour) set; more than 10 entries → greedy filter keeping an entry only if its
  similarity to every kept one is ≤ 0.7; entries grouped by function; within a group the best one-to-one
  assignment of the shorter list into the longer maximises Σ sim; S = Σ over groups; P = S/|gen|,
  R = S/|gold|. sim(hex, hex) = max(0, 1 − ΔE₀₀/100) with sRGB(0–255) → Lab as ``colormath`` does it
  (its sRGB matrix, D65, 2°), CIEDE2000 (k_L = k_C = k_H = 1); two colormap names: 1 if equal else 0;
  mixed: 0.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

# colormath's sRGB → XYZ matrix and the D65 (2°) white point
_RGB_TO_XYZ = np.array([[0.412424, 0.357579, 0.180464], [0.212656, 0.715158, 0.0721856],
                        [0.0193324, 0.119193, 0.950444]])
_D65 = np.array([0.95047, 1.0, 1.08883])
_EPS, _KAPPA = 216 / 24389, 24389 / 27


def f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r > 0 else 0.0


def prf(n: float, n_gen: int, n_gold: int) -> dict[str, float]:
    if n_gen == 0 or n_gold == 0:
        return {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    p, r = n / n_gen, n / n_gold
    return {"precision": p, "recall": r, "f1": f1(p, r)}


def multiset_f1(gen: list, gold: list) -> dict[str, float]:
    """Text and layout: each gold entry matches an equal, not yet used gen entry."""
    key = repr
    left = Counter(key(g) for g in gen)
    n = 0
    for g in gold:
        if left[key(g)] > 0:
            left[key(g)] -= 1
            n += 1
    return prf(n, len(gen), len(gold))


def chart_type_f1(gen: dict[str, int], gold: dict[str, int]) -> dict[str, float]:
    m = sum(min(gen.get(k, 0), v) for k, v in gold.items())
    return prf(m, sum(gen.values()), sum(gold.values()))


def hex_to_lab(color: str) -> np.ndarray:
    rgb = np.array([int(color[i:i + 2], 16) for i in (1, 3, 5)], dtype=float) / 255.0
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = _RGB_TO_XYZ @ linear / _D65
    f = np.where(xyz > _EPS, np.cbrt(xyz), (_KAPPA * xyz + 16) / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def ciede2000(lab1: np.ndarray, lab2: np.ndarray) -> float:
    from skimage.color import deltaE_ciede2000

    return float(deltaE_ciede2000(lab1, lab2))


def color_similarity(c1: str, c2: str) -> float:
    if c1.startswith("#") and c2.startswith("#"):
        return max(0.0, 1.0 - ciede2000(hex_to_lab(c1), hex_to_lab(c2)) / 100.0)
    if not c1.startswith("#") and not c2.startswith("#"):
        return 1.0 if c1 == c2 else 0.0
    return 0.0


def _split(entry: str) -> tuple[str, str]:
    key, _, color = entry.rpartition("--")
    return key, color


def filter_colors(entries: list[str]) -> list[str]:
    """Over 10 entries: keep one only if no kept entry is more similar than 0.7 (function ignored).
    The official runs in set order (hash-seed dependent); we run in sorted order to be reproducible."""
    if len(entries) <= 10:
        return list(entries)
    kept: list[str] = []
    for entry in sorted(entries):
        if all(color_similarity(_split(entry)[1], _split(k)[1]) <= 0.7 for k in kept):
            kept.append(entry)
    return kept


def best_assignment(a: list[str], b: list[str]) -> float:
    """Max Σ sim over one-to-one pairings of the shorter list into the longer (the optimum the
    official's brute force over permutations finds, computed by the Hungarian method)."""
    if not a or not b:
        return 0.0
    from scipy.optimize import linear_sum_assignment

    sim = np.array([[color_similarity(x, y) for y in b] for x in a])
    rows, cols = linear_sum_assignment(sim, maximize=True)
    return float(sim[rows, cols].sum())


def color_f1(gen: list[str], gold: list[str]) -> dict[str, float]:
    gen, gold = filter_colors(sorted(set(gen))), filter_colors(sorted(set(gold)))
    if not gen or not gold:
        return prf(0, 0, 0)
    groups: dict[str, tuple[list[str], list[str]]] = {}
    for side, entries in ((0, gen), (1, gold)):
        for entry in entries:
            key, color = _split(entry)
            groups.setdefault(key, ([], []))[side].append(color)
    total = sum(best_assignment(g, r) for g, r in groups.values())
    return prf(total, len(gen), len(gold))


def low_level_scores(gen: dict | None, gold: dict | None) -> dict[str, float]:
    """F1 of text, layout, type and colour (0 each when either program never produced its log)."""
    if not gen or not gold:
        return {"text": 0.0, "layout": 0.0, "type": 0.0, "color": 0.0}
    return {"text": multiset_f1(gen.get("texts", []), gold.get("texts", []))["f1"],
            "layout": multiset_f1(gen.get("layout", []), gold.get("layout", []))["f1"],
            "type": chart_type_f1(gen.get("types", {}), gold.get("types", {}))["f1"],
            "color": color_f1(gen.get("colors", []), gold.get("colors", []))["f1"]}
