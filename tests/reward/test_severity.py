"""The Visual-ERM reward with worked numbers."""

from __future__ import annotations

import math

import pytest

from verm_rl.judge import JudgedError, Judgement, failed_judgement
from verm_rl.render import RenderResult
from verm_rl.reward import SeverityRewardConfig, score_batch, severity_reward, visual_erm_reward

OK = RenderResult(ok=True, png=b"png")


def judged(task: str, *severities: int, category: str = "data_error") -> Judgement:
    return Judgement(task=task, errors=[JudgedError(category, s) for s in severities])


def test_severity_reward_clips():
    assert severity_reward(0, 50) == 1.0
    assert severity_reward(10, 50) == pytest.approx(0.8)
    assert severity_reward(75, 50) == 0.0


def test_fixed_norm_released_constant():
    b = visual_erm_reward(OK, judged("chart", 3, 3, 2, 2), "chart")  # S = 10
    assert (b.render, b.verm, b.total, b.severity, b.norm) == (1.0, pytest.approx(0.8), pytest.approx(1.8), 10, 50.0)
    assert b.status == "ok" and b.severity_by_category == {"data_error": 10}
    assert visual_erm_reward(OK, judged("svg", *[3] * 20), "svg").total == pytest.approx(1.0)  # S = 60 > 50


def test_batch_max_is_per_task():
    cfg = SeverityRewardConfig(norm="batch_max")
    out = score_batch([
        ("chart", OK, judged("chart", 2, 2)), ("chart", OK, judged("chart", 3, 3, 2)), ("chart", OK, judged("chart")),
        ("table", OK, judged("table", 1, category="text_error")),
    ], cfg)
    assert [round(b.verm, 4) for b in out] == [0.5, 0.0, 1.0, 0.0]  # chart max 8; table max 1
    assert out[0].norm == pytest.approx(8.0) and out[3].norm == pytest.approx(1.0)
    assert [round(b.total, 4) for b in out] == [1.5, 1.0, 2.0, 1.0]


def test_per_task_norm_and_weights():
    cfg = SeverityRewardConfig(per_task_norm={"table": 10.0}, w_render=0.5, w_verm=2.0)
    out = score_batch([("table", OK, judged("table", 3, 2, category="numeric_error")),
                       ("chart", OK, judged("chart", 3, 2))], cfg)
    assert out[0].verm == pytest.approx(0.5) and out[0].total == pytest.approx(0.5 + 1.0)
    assert out[1].verm == pytest.approx(0.9) and out[1].total == pytest.approx(0.5 + 1.8)


def test_numeric_norm_from_string():
    assert SeverityRewardConfig(norm="36").norm == 36.0
    with pytest.raises(ValueError, match="reward norm"):
        SeverityRewardConfig(norm="biggest")


@pytest.mark.parametrize("render,status", [
    (RenderResult.failure("no_code", "none"), "no_code"),
    (RenderResult.failure("timeout", "slow"), "render_failed"),
    (RenderResult.failure("blank", "white"), "blank"),
])
def test_failures_get_zero(render, status):
    b = visual_erm_reward(render, None, "chart")
    assert (b.total, b.render, b.verm, b.status) == (0.0, 0.0, 0.0, status)
    assert b.render_error == render.error_kind


def test_parse_failure_falls_back_to_batch_mean_of_same_task():
    garbage = Judgement(task="chart", status="parse_failed", raw="???")
    out = score_batch([("chart", OK, judged("chart", 5, 5)), ("chart", OK, judged("chart", 10, 10)),
                       ("chart", OK, garbage), ("svg", OK, judged("svg", 25, category="shape_error"))])
    assert out[2].status == "parse_failed" and out[2].fallback_used
    assert out[2].verm == pytest.approx((0.8 + 0.6) / 2) and out[2].total == pytest.approx(1.7)
    assert out[3].verm == pytest.approx(0.5)  # svg is not mixed into chart's mean


def test_parse_failure_without_peers_and_fixed_fallback():
    garbage = Judgement(task="table", status="parse_failed")
    assert visual_erm_reward(OK, garbage, "table").total == pytest.approx(1.5)
    cfg = SeverityRewardConfig(parse_fallback=0.25)
    assert visual_erm_reward(OK, garbage, "table", cfg).total == pytest.approx(1.25)


def test_judge_failure_is_counted_and_rewarded():
    b = visual_erm_reward(OK, failed_judgement("chart", "judge_failed", "endpoint down"), "chart")
    assert b.status == "judge_failed" and b.fallback_used and b.total == pytest.approx(1.5)
    b = visual_erm_reward(OK, None, "chart")
    assert b.status == "judge_failed" and not math.isnan(b.verm)


def test_flat_breakdown_has_every_category():
    from verm_rl.reward import ScoredSample, sample_detail

    judgement = judged("svg", 2, category="style_error")
    flat = sample_detail(ScoredSample(visual_erm_reward(OK, judgement, "svg"), OK, judgement))
    assert flat["sev_style_error"] == 2 and flat["n_style_error"] == 1
    assert {"sev_shape_error", "sev_structure_error", "sev_text_symbol_error", "sev_other"} <= flat.keys()
    assert flat["total"] == pytest.approx(1.96)
