"""The ray_actor judge backend: the tiny Qwen3-VL in dedicated Ray actors (CPU here)."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from reward_workers import RayActorJudge
from tests.judge.test_http import CAND, REF
from verm_rl.judge import JudgeRequest, SamplingParams


@pytest.fixture
def actor_judge(ray_cluster, tiny_vlm_path):
    judge = RayActorJudge(tiny_vlm_path, name=f"judge_{uuid.uuid4().hex[:6]}", num_actors=1, num_gpus=1,
                          num_cpus=0, engine="transformers", max_batch_size=8, max_wait_ms=200,
                          sampling=SamplingParams(max_tokens=8))
    yield judge
    judge.shutdown()


def test_actor_judges_with_dynamic_batching(actor_judge):
    requests = [JudgeRequest(t, REF, CAND) for t in ("chart", "table", "svg")] * 2
    out = asyncio.run(actor_judge.judge(requests))
    assert len(out) == 6 and all(j.status in ("ok", "parse_failed") for j in out)
    assert [j.task for j in out] == [r.task for r in requests]
    [info] = actor_judge.infos()
    assert info["device"] == "cpu" and info["dtype"] == "float32"
    assert info["mean_batch_size"] > 1  # concurrent requests were batched together


def test_same_actor_is_reached_by_name(actor_judge, tiny_vlm_path):
    other = RayActorJudge(tiny_vlm_path, name=actor_judge.actor_name, num_actors=1, num_gpus=1, num_cpus=0)
    assert other.infos()[0]["pid"] == actor_judge.infos()[0]["pid"]


def test_dead_actor_gives_judge_failed_not_an_exception(actor_judge):
    import ray

    for actor in actor_judge.actors:
        ray.kill(actor, no_restart=True)
    out = asyncio.run(actor_judge.judge([JudgeRequest("chart", REF, CAND)] * 2))
    assert [j.status for j in out] == ["judge_failed"] * 2
    assert "ActorDiedError" in out[0].raw or "RayActorError" in out[0].raw
    assert actor_judge.failures == 2


def test_bad_image_is_judge_failed(actor_judge):
    [j] = asyncio.run(actor_judge.judge([JudgeRequest("chart", b"not a png", CAND)]))
    assert j.status == "judge_failed" and "UnidentifiedImageError" in j.raw
