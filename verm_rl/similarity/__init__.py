"""Similarity metrics shared by the judges and the rewards: SSIM and pixel L2 of two renders
(``image``), TEDS / TEDS-S of two tables (``teds``), DINOv2 tiled CLS similarity (``dino``).

This package imports nothing else from ``verm_rl``, so ``judge`` (the similarity judges, the
structural critic's markdown conversion) and ``reward`` can both depend on it without a cycle.
"""

from verm_rl.similarity.image import pixel_l2_similarity, ssim_similarity
from verm_rl.similarity.teds import teds, teds_html

__all__ = ["pixel_l2_similarity", "ssim_similarity", "teds", "teds_html"]
