"""Baselines through the same pipeline and fields as Visual-ERM (Ray pool; DINO on a judge actor)."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from reward_workers.factory import build_pipeline
from tests.render.programs import GOOD_CHART, GOOD_SVG, GOOD_TABLE_HTML
from verm_rl.reward import ScoreItem


def items():
    return [ScoreItem("chart", f"```python\n{GOOD_CHART}\n```", reference_source=GOOD_CHART),
            ScoreItem("svg", f"```svg\n{GOOD_SVG}\n```", reference_source=GOOD_SVG),
            ScoreItem("table", f"```html\n{GOOD_TABLE_HTML.replace('91', '19')}\n```", reference_source=GOOD_TABLE_HTML),
            ScoreItem("chart", "no code", reference_source=GOOD_CHART)]


@pytest.mark.parametrize("reward", ["ssim", "teds", "render_only"])
def test_baseline_rewards(ray_cluster, reward):
    pipe = build_pipeline({"render": {"pool_name": f"b_{uuid.uuid4().hex[:6]}", "pool_size": 1,
                                      "num_cpus_per_actor": 0}, "reward": {"name": reward}})
    out = asyncio.run(pipe.score(items()))
    totals = [s.reward.total for s in out.samples]
    assert totals[3] == 0.0 and out.samples[3].reward.status == "no_code"
    if reward == "ssim":
        assert totals[0] == pytest.approx(2.0) and totals[1] == pytest.approx(2.0) and 1.0 < totals[2] < 2.0
    elif reward == "teds":
        # "91" -> "19" in two td cells (Lev 2/2 and 2/8) over the 8 elements below <table> (PubTabNet TEDS)
        assert totals[2] == pytest.approx(1.0 + 1 - (1 + 2 / 8) / 8)
        assert out.samples[0].reward.status == "judge_failed"  # TEDS is for tables: counted, fallback reward
    else:
        assert totals[:3] == [1.0, 1.0, 1.0]
    pipe.backend.shutdown()


def test_dino_on_a_judge_actor(ray_cluster, tmp_path):
    from verm_rl.similarity.dino import build_tiny_dinov2

    path = build_tiny_dinov2(str(tmp_path / "dino"))
    pipe = build_pipeline({
        "render": {"pool_name": f"d_{uuid.uuid4().hex[:6]}", "pool_size": 1, "num_cpus_per_actor": 0},
        "reward": {"name": "dino", "w_render": 0.0, "w_verm": 0.9, "w_format": 0.1,
                   "dino": {"model_path": path, "name": f"dino_{uuid.uuid4().hex[:6]}", "num_actors": 1,
                            "num_gpus": 1, "num_cpus": 0}}})  # no verm.cluster here: the count is explicit
    out = asyncio.run(pipe.score(items()))
    totals = [s.reward.total for s in out.samples]
    assert totals[0] == pytest.approx(1.0, abs=1e-4)  # identical render: 0.9 * 1 + 0.1 * format
    assert totals[3] == 0.0  # no code: no format either
    assert all(s.judgement.similarity is not None for s in out.samples[:3])
    pipe.judge.shutdown()
    pipe.backend.shutdown()


def test_dedup_key_includes_programs_for_judges_that_read_them(ray_cluster):
    """Two tables that render pixel-identically (an explicit <tbody>) but differ as markup: TEDS reads the
    markup, so each gets its own verdict; an image judge (SSIM) still judges the shared pair once."""
    ref = "<table><tr><td>a</td><td>1</td></tr><tr><td>b</td><td>2</td></tr></table>"
    with_tbody = ref.replace("<table>", "<table><tbody>").replace("</table>", "</tbody></table>")
    batch = [ScoreItem("table", f"```html\n{ref}\n```", reference_source=ref),
             ScoreItem("table", f"```html\n{with_tbody}\n```", reference_source=ref)]
    results = {}
    for reward in ("teds", "ssim"):
        pipe = build_pipeline({"render": {"pool_name": f"k_{uuid.uuid4().hex[:6]}", "pool_size": 1,
                                          "num_cpus_per_actor": 0}, "reward": {"name": reward}})
        out = asyncio.run(pipe.score(batch))
        assert out.samples[0].render.png == out.samples[1].render.png  # same pixels
        results[reward] = out
        pipe.backend.shutdown()
    teds = results["teds"].samples
    assert teds[0].reward.total == pytest.approx(2.0) and teds[1].reward.total < 2.0  # tbody is a node in TEDS
    assert not teds[1].dedup_hit
    assert results["ssim"].samples[1].dedup_hit  # pixels alone: judged once
