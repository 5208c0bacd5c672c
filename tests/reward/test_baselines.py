"""Baseline rewards with worked numbers: pixel L2, SSIM, TEDS/TEDS-S, DINOv2 tiling and scoring."""

from __future__ import annotations

import asyncio
import io

import pytest
from PIL import Image

from verm_rl.judge import Judgement, JudgeRequest
from verm_rl.judge.similarity import SimilarityJudge
from verm_rl.render import RenderResult
from verm_rl.reward import SeverityRewardConfig, score_batch
from verm_rl.similarity import pixel_l2_similarity, ssim_similarity, teds
from verm_rl.similarity.dino import dynamic_tiles

OK = RenderResult(ok=True, png=b"png")


def png(color, size=(64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def test_pixel_l2_worked_numbers():
    assert pixel_l2_similarity(png("white"), png("white")) == 1.0
    assert pixel_l2_similarity(png("white"), png("black")) == 0.0
    # gray 128: (1 - 128/255)^2 = 0.2480 -> 0.7520; the candidate is resized to the reference first
    assert pixel_l2_similarity(png("white"), png((128, 128, 128), (10, 10))) == pytest.approx(0.75200, abs=1e-4)


def test_ssim_identical_and_different():
    img = Image.new("RGB", (64, 48), "white")
    img.paste((0, 0, 0), (10, 10, 40, 30))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    assert ssim_similarity(buf.getvalue(), buf.getvalue()) == pytest.approx(1.0)
    assert 0.0 <= ssim_similarity(buf.getvalue(), png("white")) < 0.9


TABLE = "<table><tr><td>a</td><td>b</td></tr><tr><td>1</td><td>2</td></tr></table>"  # 6 elements below <table>


@pytest.mark.parametrize("candidate,full,structure", [
    (TABLE, 1.0, 1.0),
    (TABLE.replace(">b<", ">c<"), 1 - 1 / 6, 1.0),  # one cell renamed at cost NED("b","c") = 1
    (TABLE.replace(">ab<", ">ac<").replace(">a<", ">ab<"), 1 - 0.5 / 6, 1.0),  # NED("a","ab") = 1/2
    ("<table><tr><td>a</td><td>b</td></tr></table>", 1 - 3 / 6, 1 - 3 / 6),  # a row (tr + 2 td) deleted
    ('<table><tr><td colspan="2">a</td></tr><tr><td>1</td><td>2</td></tr></table>', 1 - 2 / 6, 1 - 2 / 6),
    ("| a | b |\n|---|---|\n| 1 | 2 |", 1.0, 1.0),  # markdown of the same table
])
def test_teds_hand_computed(candidate, full, structure):
    assert teds(TABLE, candidate) == pytest.approx(full)
    assert teds(TABLE, candidate, structure_only=True) == pytest.approx(structure)


def test_dynamic_tiling_like_internvl():
    assert len(dynamic_tiles(Image.new("RGB", (336, 336)))) == 1  # 1x1: no thumbnail
    tiles = dynamic_tiles(Image.new("RGB", (896, 448)))
    assert len(tiles) == 3 and all(t.size == (448, 448) for t in tiles)  # 2x1 + thumbnail
    assert len(dynamic_tiles(Image.new("RGB", (640, 480)))) <= 13


def test_dino_scorer_on_a_tiny_random_dinov2(tmp_path):
    """Proves the code path (a random DINOv2 proves nothing about similarity)."""
    from verm_rl.similarity.dino import DinoScorer, build_tiny_dinov2

    scorer = DinoScorer(build_tiny_dinov2(str(tmp_path / "dino")))
    same, other = scorer.similarities([(png("white", (640, 480)), png("white", (640, 480))),
                                       (png("white", (640, 480)), png("red", (200, 100)))])
    assert same == pytest.approx(1.0, abs=1e-5) and 0.0 <= other < 1.0


def test_similarity_reward_composition():
    sim = Judgement(task="chart", similarity=0.8)
    fail = RenderResult.failure("syntax", "x")
    vinci = SeverityRewardConfig(w_render=0.0, w_verm=0.9, w_format=0.1)
    out = score_batch([("chart", OK, sim), ("chart", fail, None), ("chart", OK, sim)], vinci, [True, True, False])
    assert [round(b.total, 4) for b in out] == [0.82, 0.1, 0.72]  # 0.9*visual + 0.1*format
    plus = score_batch([("chart", OK, sim), ("chart", fail, None)])
    assert [round(b.total, 4) for b in plus] == [1.8, 0.0]  # render_success + visual
    assert plus[0].status == "ok" and plus[0].severity == 0


def test_similarity_judge_backends():
    t = JudgeRequest("table", png("white"), png("white"), TABLE, TABLE.replace(">b<", ">c<"))
    out = asyncio.run(SimilarityJudge("teds").judge([t, JudgeRequest("chart", png("white"), png("white"))]))
    assert out[0].similarity == pytest.approx(5 / 6) and out[1].status == "judge_failed"
    [s] = asyncio.run(SimilarityJudge("ssim").judge([JudgeRequest("svg", png("white"), png("white"))]))
    assert s.similarity == pytest.approx(1.0)
    with pytest.raises(ValueError):
        SimilarityJudge("clip")
