"""An ``http`` judge must be reachable from every node, and judge failures must be loud.

The defect: the default endpoint is 127.0.0.1:8000 while verl runs reward-loop workers on every node, so
off-head workers got "connection refused" and every one of their samples the fallback reward."""

from __future__ import annotations

import asyncio
import logging
import uuid

import pytest

from reward_workers import RenderPool
from reward_workers.factory import build_judge, check_routable
from tests.render.programs import GOOD_CHART
from verm_rl.judge.http import HttpJudge, loopback_endpoints
from verm_rl.reward import RewardPipeline, ScoreItem


def test_loopback_endpoints_are_recognised():
    local = ["http://127.0.0.1:8000", "127.0.0.5:9000/v1", "http://localhost:8000", "http://[::1]:8000",
             "http://0.0.0.0:8000"]
    remote = ["http://10.1.2.3:8000", "https://judge.example.org/v1", "192.0.2.7:8000"]
    assert loopback_endpoints(local + remote, resolve=False) == local


def test_multi_node_cluster_refuses_a_loopback_judge():
    with pytest.raises(ValueError, match=r"verm\.judge\.endpoints.*every node"):
        check_routable(["http://10.0.0.1:8000", "http://127.0.0.1:8000"], nodes=2)
    check_routable(["http://127.0.0.1:8000"], nodes=1)  # one node: loopback is fine
    check_routable(["http://10.0.0.1:8000"], nodes=4)


def test_one_node_build_keeps_loopback(ray_cluster):
    judge = build_judge({"backend": "http", "endpoints": ["http://127.0.0.1:8000"]}, pool=None)
    assert isinstance(judge, HttpJudge)


def test_judge_failures_are_loud(ray_cluster, caplog):
    pool = RenderPool(name=f"loud_{uuid.uuid4().hex[:6]}", size=1, num_cpus=0)
    try:
        judge = HttpJudge(endpoints=["127.0.0.1:9"], retries=0, connect_timeout_s=1)
        pipe = RewardPipeline(pool, judge, warn_every_failures=2)
        items = [ScoreItem("chart", f"```python\n{GOOD_CHART}\n```", reference_source=GOOD_CHART)] * 4
        with caplog.at_level(logging.WARNING, logger="verm_rl.reward.pipeline"):
            result = asyncio.run(pipe.score(items))
        assert [s.reward.status for s in result.samples] == ["judge_failed"] * 4
        alarms = [r.getMessage() for r in caplog.records if r.name == "verm_rl.reward.pipeline"]
        assert len(alarms) == 3  # failures 1, 2 and 4
        assert "judge failed for 4 of 4 samples (100%)" in alarms[-1] and "fallback reward" in alarms[-1]
        assert "ConnectError" in alarms[-1]
        assert pipe.alarm.failed == 4 and result.metrics["verm/all/judge_failure_rate"] == 1.0
    finally:
        pool.shutdown()
