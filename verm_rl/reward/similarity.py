"""Image and table similarity baselines for ablations: SSIM, pixel L2, TEDS / TEDS-S.

Each returns a similarity in [0, 1] (1 = identical); the reward uses it in place of the
Visual-ERM severity term, with the same render-success term and the same logged fields.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
from PIL import Image


def _gray_pair(ref_png: bytes, cand_png: bytes, max_side: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Both images in grayscale at the reference's size (capped at ``max_side``), as floats in [0, 1]."""
    with Image.open(io.BytesIO(ref_png)) as ref, Image.open(io.BytesIO(cand_png)) as cand:
        ref = ref.convert("L")
        if max(ref.size) > max_side:
            ref.thumbnail((max_side, max_side), Image.Resampling.BICUBIC)
        cand = cand.convert("L").resize(ref.size, Image.Resampling.BICUBIC)
        return np.asarray(ref, dtype=np.float64) / 255, np.asarray(cand, dtype=np.float64) / 255


def ssim_similarity(ref_png: bytes, cand_png: bytes) -> float:
    """SSIM (scikit-image, window ≤ 7 as UniSVG's evaluation) of the two renders, clipped to [0, 1]."""
    from skimage.metrics import structural_similarity

    a, b = _gray_pair(ref_png, cand_png)
    win = min(7, min(a.shape) - (1 - min(a.shape) % 2))
    if win < 3:
        return float(np.allclose(a, b))
    return float(max(0.0, structural_similarity(a, b, data_range=1.0, win_size=win)))


def pixel_l2_similarity(ref_png: bytes, cand_png: bytes) -> float:
    """1 − mean squared pixel difference (grayscale, [0, 1] scale)."""
    a, b = _gray_pair(ref_png, cand_png)
    return float(1.0 - np.mean((a - b) ** 2))


# ---------------------------------------------------------------------------------------------- TEDS

@dataclass
class TableNode:
    tag: str
    colspan: int = 1
    rowspan: int = 1
    content: str = ""
    children: list[TableNode] = field(default_factory=list)


def table_tree(source: str) -> TableNode:
    """The first table of ``source`` (HTML or markdown) as a tree table → tr → td (thead/tbody flattened)."""
    from verm_rl.judge.structural.table import _TableParser, to_html

    parser = _TableParser()
    parser.feed(to_html(source))
    parser.close()
    root = TableNode("table")
    for row in parser.rows:
        tr = TableNode("tr")
        for text, rs, cs, _ in row:
            tr.children.append(TableNode("td", colspan=cs, rowspan=rs, content=text))
        root.children.append(tr)
    return root


def _count(node: TableNode) -> int:
    return 1 + sum(_count(c) for c in node.children)


def _normalized_edit_distance(a: str, b: str) -> float:
    """Character Levenshtein distance normalised by the longer string (as the TEDS paper)."""
    if a == b:
        return 0.0
    m, n = len(a), len(b)
    prev = list(range(n + 1))
    for i in range(1, m + 1):
        cur = [i] + [0] * n
        for j in range(1, n + 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1]))
        prev = cur
    return prev[n] / max(m, n)


def teds(reference: str, candidate: str, structure_only: bool = False) -> float:
    """TEDS = 1 − TED(T_ref, T_cand) / max(|T_ref|, |T_cand|), with the APTED tree edit distance.

    Insert/delete cost 1; renaming costs 1 between different tags or spans, else (for cells) the
    normalised edit distance of their contents (0 for TEDS-S, which ignores content).
    """
    from apted import APTED, Config

    class TedsConfig(Config):
        def rename(self, a: TableNode, b: TableNode) -> float:
            if a.tag != b.tag or a.colspan != b.colspan or a.rowspan != b.rowspan:
                return 1.0
            if a.tag == "td" and not structure_only:
                return _normalized_edit_distance(a.content, b.content)
            return 0.0

        def children(self, node: TableNode) -> list[TableNode]:
            return node.children

    ref, cand = table_tree(reference), table_tree(candidate)
    distance = APTED(ref, cand, TedsConfig()).compute_edit_distance()
    return float(1.0 - distance / max(_count(ref), _count(cand)))
