"""RewardPipeline end to end: real render pool, real HTTP judge server / tiny-model judge actors."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from reward_workers import RenderPool
from tests.render.programs import GOOD_CHART, GOOD_SVG, GOOD_TABLE_HTML
from verm_rl.judge.http import HttpJudge
from verm_rl.reward import RewardPipeline, ScoreItem, SeverityRewardConfig

WRONG_CHART = GOOD_CHART.replace("[3, 1, 4, 1, 5]", "[3, 1, 4, 1, 9]")


def severity_from_images(body):
    """A scripted judge: no errors when both images are identical, one severe data error otherwise."""
    parts = body["messages"][-1]["content"]
    same = parts[0]["image_url"]["url"] == parts[1]["image_url"]["url"]
    errors = [] if same else [{"category": "data_error", "severity": 3, "location": "bar 5", "description": "9 vs 5"}]
    return 200, json.dumps({"errors": errors})


@pytest.fixture
def pool(ray_cluster):
    p = RenderPool(name=f"pipe_{uuid.uuid4().hex[:6]}", size=2, num_cpus=0)
    yield p
    p.shutdown()


def fence(code: str, lang: str = "python") -> str:
    return f"Here is the code:\n```{lang}\n{code}\n```"


def test_pipeline_scores_correct_wrong_and_broken(pool, scripted_server):
    server = scripted_server(severity_from_images)
    pipe = RewardPipeline(pool, HttpJudge(endpoints=[server.url]), SeverityRewardConfig(norm="fixed", fixed_norm=10))
    items = [
        ScoreItem("chart", fence(GOOD_CHART), reference_source=GOOD_CHART),
        ScoreItem("chart", fence(WRONG_CHART), reference_source=GOOD_CHART),
        ScoreItem("chart", "I can't do that.", reference_source=GOOD_CHART),
        ScoreItem("chart", fence("import matplotlib.pyplot as plt\nplt.plot(undefined)"), reference_source=GOOD_CHART),
        ScoreItem("svg", fence(GOOD_SVG, "svg"), reference_source=GOOD_SVG),
        ScoreItem("table", fence(GOOD_TABLE_HTML, "html"), reference_source=GOOD_TABLE_HTML),
        ScoreItem("chart", fence(GOOD_CHART), reference_source=GOOD_CHART),  # duplicate of the first
    ]
    result = asyncio.run(pipe.score(items))
    totals = [round(s.reward.total, 3) for s in result.samples]
    assert totals == [2.0, 1.7, 0.0, 0.0, 2.0, 2.0, 2.0]
    assert [s.reward.status for s in result.samples] == ["ok", "ok", "no_code", "render_failed", "ok", "ok", "ok"]
    assert result.samples[1].reward.severity_by_category == {"data_error": 3}
    assert result.samples[6].dedup_hit and not result.samples[0].dedup_hit
    assert len(server.requests) == 4  # 5 judgeable samples, one duplicate
    m = {k.removeprefix("verm/all/"): v for k, v in result.metrics.items()}
    assert m["render_rate"] == pytest.approx(5 / 7) and m["dedup_rate"] == pytest.approx(1 / 7)
    assert m["status/no_code"] == pytest.approx(1 / 7) and m["render_error/runtime"] == pytest.approx(1 / 7)
    assert m["judge_latency/p95"] >= m["judge_latency/p50"] > 0
    assert m["parse_failure_rate"] == 0 and m["judge_failure_rate"] == 0
    assert result.metrics["verm/chart/samples"] == 5 and result.seconds > 0


def test_reference_png_given_directly_and_reference_failure(pool, scripted_server):
    server = scripted_server(severity_from_images)
    pipe = RewardPipeline(pool, HttpJudge(endpoints=[server.url]))
    ref = pool.render_sync("svg", GOOD_SVG).png
    result = asyncio.run(pipe.score([
        ScoreItem("svg", GOOD_SVG, reference_png=ref),
        ScoreItem("svg", GOOD_SVG, reference_source="<svg broken"),
        ScoreItem("svg", GOOD_SVG),
    ]))
    assert result.samples[0].reward.total == pytest.approx(2.0)
    assert [s.reward.status for s in result.samples[1:]] == ["judge_failed", "judge_failed"]
    assert "reference render failed: syntax" in result.samples[1].judgement.raw
    assert all(s.reward.total == pytest.approx(2.0) for s in result.samples[1:])  # fallback: batch mean 1.0
    assert result.metrics["verm/all/judge_failure_rate"] == pytest.approx(2 / 3)


def test_unreachable_judge_still_gives_every_sample_a_reward(pool):
    pipe = RewardPipeline(pool, HttpJudge(endpoints=["127.0.0.1:9"], retries=1, backoff_s=0.01, connect_timeout_s=1))
    result = asyncio.run(pipe.score([ScoreItem("chart", fence(GOOD_CHART), reference_source=GOOD_CHART),
                                     ScoreItem("chart", "no code here", reference_source=GOOD_CHART)]))
    assert [s.reward.status for s in result.samples] == ["judge_failed", "no_code"]
    assert [s.reward.total for s in result.samples] == [pytest.approx(1.5), 0.0]
    assert result.metrics["verm/all/judge_failure_rate"] == 0.5


def test_score_one_batches_concurrent_callers(pool, scripted_server):
    server = scripted_server(severity_from_images)
    pipe = RewardPipeline(pool, HttpJudge(endpoints=[server.url]), batch_window_ms=300)

    async def go():
        items = [ScoreItem("chart", fence(GOOD_CHART), reference_source=GOOD_CHART) for _ in range(4)]
        return await asyncio.gather(*(pipe.score_one(i) for i in items))

    out = asyncio.run(go())
    assert all(s.reward.total == pytest.approx(2.0) for s in out)
    assert sum(s.dedup_hit for s in out) == 3 and len(server.requests) == 1


def test_pipeline_with_tiny_model_judge_actor(pool, tiny_vlm_path):
    from reward_workers import RayActorJudge
    from verm_rl.judge import SamplingParams

    judge = RayActorJudge(tiny_vlm_path, name=f"pj_{uuid.uuid4().hex[:6]}", num_gpus=1, num_cpus=0,
                          engine="transformers", sampling=SamplingParams(max_tokens=8))
    try:
        pipe = RewardPipeline(pool, judge)
        result = asyncio.run(pipe.score([ScoreItem("chart", fence(GOOD_CHART), reference_source=GOOD_CHART),
                                         ScoreItem("svg", fence(GOOD_SVG, "svg"), reference_source=GOOD_SVG)]))
        for s in result.samples:
            assert s.render.ok and s.judgement.status in ("ok", "parse_failed")
            assert 1.0 <= s.reward.total <= 2.0
    finally:
        judge.shutdown()
