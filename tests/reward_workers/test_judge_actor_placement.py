"""Ray judge actors in a named placement group on the judge's reserved GPUs (declared GPUs: none needed here)."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
import ray

from reward_workers.factory import actor_placement
from reward_workers.judge_actor import JudgePlacementError, RayActorJudge
from tests.judge.test_http import CAND, REF
from verm_rl.judge import JudgeRequest, SamplingParams

CLUSTER = {"judge_nnodes": 1, "judge_gpus_per_node": 1}  # the session cluster declares one GPU


def groups_named(name: str) -> list[dict]:
    return [g for g in ray.util.placement_group_table().values()
            if g["name"] == f"{name}:pg" and g["state"] != "REMOVED"]


def test_num_actors_null_fills_the_reserved_judge_gpus():
    placed = actor_placement({"num_actors": None, "num_gpus": 0.5, "num_cpus": 0}, CLUSTER, "k")
    assert placed["num_actors"] == 2 and placed["placement"] == "group"
    with pytest.raises(ValueError, match="reserves 1"):
        actor_placement({"num_actors": 3, "num_gpus": 1}, CLUSTER, "verm.judge.ray_actor.num_actors")


def test_actors_land_in_one_shared_group(ray_cluster, tiny_vlm_path):
    name = f"pgj_{uuid.uuid4().hex[:6]}"
    placed = actor_placement({"num_actors": None, "num_gpus": 0.5, "num_cpus": 0}, CLUSTER, "k")
    judge = RayActorJudge(tiny_vlm_path, name=name, engine="transformers", sampling=SamplingParams(max_tokens=4),
                          **placed)
    try:
        infos = judge.infos()
        assert len(infos) == 2 and len({i["pid"] for i in infos}) == 2
        assert {i["placement_group_id"] for i in infos} == {judge.pg.id.hex()}
        assert ray.available_resources().get("GPU", 0.0) == 0.0  # the judge holds every reserved GPU
        out = asyncio.run(judge.judge([JudgeRequest("chart", REF, CAND)] * 2))
        assert all(j.status in ("ok", "parse_failed") for j in out)
        other = RayActorJudge(tiny_vlm_path, name=name, engine="transformers", **placed)  # another reward worker
        assert other.pg.id == judge.pg.id and [i["pid"] for i in other.infos()] == [i["pid"] for i in infos]
        assert len(groups_named(name)) == 1
    finally:
        judge.shutdown()
    deadline = time.time() + 20
    while ray.available_resources().get("GPU", 0.0) < 1.0 and time.time() < deadline:
        time.sleep(0.2)
    assert ray.available_resources().get("GPU", 0.0) == 1.0  # released for the next user


def test_group_that_cannot_be_placed_fails_fast_and_clearly(ray_cluster, tiny_vlm_path):
    name = f"pgx_{uuid.uuid4().hex[:6]}"
    start = time.monotonic()
    with pytest.raises(JudgePlacementError, match=r"needs 2 GPUs.*judge_nnodes"):
        RayActorJudge(tiny_vlm_path, name=name, num_actors=2, num_gpus=1, num_cpus=0, placement_timeout_s=2)
    assert time.monotonic() - start < 30
    deadline = time.time() + 10
    while groups_named(name) and time.time() < deadline:
        time.sleep(0.2)
    assert not groups_named(name)  # the pending group was removed: it will not grab GPUs later
