"""Render actors spread over the nodes of a real two-node Ray cluster (two raylets on this machine), and a
loopback ``http`` judge refused there.

Runs in a subprocess: the cluster must not clash with the session's single-node test cluster."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from reward_workers.sizing import judge_actor_count, spread_over_nodes

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import json, ray
from ray.cluster_utils import Cluster
from reward_workers.render_pool import RenderPool
cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "include_dashboard": False})
try:
    cluster.add_node(num_cpus=3)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, logging_level="ERROR", log_to_driver=False)
    pool = RenderPool(name="spread", size="auto", num_cpus=1, headroom=0.0)
    svg = '<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><rect width="4" height="4"/></svg>'
    ok = pool.render_sync("svg", svg).ok
    from reward_workers.factory import build_judge
    try:
        build_judge({"backend": "http", "endpoints": ["http://127.0.0.1:8000"]}, pool)
        refused = ""
    except ValueError as e:
        refused = str(e)
    build_judge({"backend": "http", "endpoints": ["http://192.0.2.7:8000"]}, pool)  # routable: accepted
    print("RESULT", json.dumps({"size": pool.size, "plan": list(pool.spec.nodes),
                                "nodes": [i["node_id"] for i in pool.actor_infos()], "ok": ok,
                                "refused": refused}))
    pool.shutdown()
    ray.shutdown()
finally:
    cluster.shutdown()
"""


def test_spread_plan_is_round_robin_weighted_by_free_cpus():
    assert spread_over_nodes(4, {"a": 8, "b": 8}, 1) == ["a", "b", "a", "b"]
    plan = spread_over_nodes(6, {"a": 2, "b": 4, "c": 0}, 1)
    assert plan.count("b") == 4 and plan.count("a") == 2 and "c" not in plan
    assert spread_over_nodes(2, {"a": 0}, 1) == [None, None]


def test_judge_actor_count_from_reserved_gpus():
    assert judge_actor_count(None, 2, 2, 1) == 4
    assert judge_actor_count(None, 1, 4, 2) == 2
    assert judge_actor_count(3, 2, 2, 1) == 3
    assert judge_actor_count(2, None, None, 1) == 2  # no reservation declared: the explicit count stands
    for bad in [(5, 2, 2, 1), (None, None, None, 1), (None, 1, 1, 2), (0, 1, 1, 1)]:
        try:
            judge_actor_count(*bad)
        except ValueError as e:
            assert "judge" in str(e)
        else:
            raise AssertionError(f"{bad} accepted")


def test_auto_pool_spreads_over_two_nodes():
    env = dict(os.environ, PYTHONPATH=str(ROOT), RAY_USAGE_STATS_ENABLED="0")
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=240)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert line, out.stdout[-2000:] + out.stderr[-4000:]
    res = json.loads(line[len("RESULT "):])
    assert res["ok"] and res["size"] == 5  # 2 + 3 free CPUs, one per actor
    assert len(set(res["plan"])) == 2 and res["nodes"] == res["plan"]  # every actor on its planned node
    assert sorted(res["plan"].count(n) for n in set(res["plan"])) == [2, 3]
    assert "2 nodes" in res["refused"] and "verm.judge.endpoints" in res["refused"]  # loopback judge refused
