"""The placement preflight (recipes/visual_erm/plan.py): each check on its own, the placement arithmetic, and the
command on composed presets (real Hydra composition against verl's config, declared cluster shapes)."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from recipes.visual_erm import plan as P
from recipes.visual_erm.cluster_wait import missing_nodes


@pytest.fixture
def models(tmp_path, monkeypatch):
    for role in ("policy", "judge"):
        (tmp_path / role).mkdir()
        (tmp_path / role / "config.json").write_text('{"text_config": {"max_position_embeddings": 262144}}')
    for split in ("train", "val"):
        (tmp_path / f"{split}.parquet").write_bytes(b"PAR1")
    monkeypatch.setenv("POLICY_PATH", str(tmp_path / "policy"))
    monkeypatch.setenv("VISUAL_ERM_PATH", str(tmp_path / "judge"))
    return [f"data.train_files={tmp_path / 'train.parquet'}", f"data.val_files={tmp_path / 'val.parquet'}"]


def names(problems):
    return [p.check for p in problems]


# ---------------------------------------------------------------------------------------------- checks, one by one


def test_check_model_dir(tmp_path):
    assert names(P.check_model_dir(None, "policy")) == ["model"]
    assert "is not a directory" in P.check_model_dir(str(tmp_path / "nope"), "policy")[0].message
    assert "no config.json" in P.check_model_dir(str(tmp_path), "policy")[0].message
    (tmp_path / "config.json").write_text("{}")
    assert P.check_model_dir(str(tmp_path), "policy") == []


def test_check_data_files(tmp_path):
    f = tmp_path / "train.parquet"
    assert "does not exist" in P.check_data_files(str(f), "data.train_files")[0].message
    f.write_bytes(b"x")
    assert P.check_data_files([str(f)], "data.train_files") == []
    assert len(P.check_data_files([str(f), str(tmp_path / "b.parquet")], "x")) == 1
    assert P.check_data_files("hdfs://cluster/train.parquet", "x") == []
    assert names(P.check_data_files(None, "x")) == ["data"]


def test_check_tp_divides():
    assert P.check_tp_divides(8, 2, "policy") == []
    p = P.check_tp_divides(6, 4, "policy")
    assert p and "2 GPUs would sit idle" in p[0].message
    assert names(P.check_tp_divides(8, 0, "policy")) == ["tp"]


def batch_cfg(gpus, mini=128, n=8, train=256, dynamic=True, nnodes=1, sp=1):
    return OmegaConf.create({
        "trainer": {"nnodes": nnodes, "n_gpus_per_node": gpus},
        "data": {"train_batch_size": train},
        "actor_rollout_ref": {"rollout": {"n": n}, "actor": {
            "ppo_mini_batch_size": mini, "use_dynamic_bsz": dynamic, "ulysses_sequence_parallel_size": sp,
            "ppo_micro_batch_size_per_gpu": 1}}})


def test_check_batch_sizes_the_mini_batch_must_split_over_data_parallel_ranks():
    """The defect in the old 1node/2node presets (6 policy GPUs per node): 128 x 8 = 1024 samples per update
    cannot be split over 6 or 12 ranks, which verl asserts in update_actor, minutes into the first step."""
    p = P.check_batch_sizes(batch_cfg(6))
    assert names(p) == ["batch"] and "1024" in p[0].message and "6 data-parallel" in p[0].message
    assert P.check_batch_sizes(batch_cfg(6, nnodes=2))[0].message.count("12") >= 1
    assert P.check_batch_sizes(batch_cfg(8)) == [] and P.check_batch_sizes(batch_cfg(8, nnodes=4)) == []
    assert names(P.check_batch_sizes(batch_cfg(6, sp=2))) == ["batch"]  # 6 / SP 2 = 3 ranks: 1024 % 3 != 0
    assert names(P.check_batch_sizes(batch_cfg(8, mini=512))) == ["batch"]  # train 256 < mini 512
    assert P.check_batch_sizes(batch_cfg(0)) == []  # CPU preset: nothing trains


def test_check_max_model_len():
    assert "unset" in P.check_max_model_len(None, 8192, 8192, "policy", 262144)[0].message
    short = P.check_max_model_len(12000, 8192, 8192, "policy")
    assert "short by 4384 tokens" in short[0].message
    assert P.check_max_model_len(16384, 8192, 8192, "policy", 262144) == []
    assert "max_position_embeddings" in P.check_max_model_len(16384, 8192, 8192, "policy", 8192)[0].message


def test_max_positions_from_config_json(tmp_path):
    (tmp_path / "config.json").write_text('{"text_config": {"max_position_embeddings": 262144}}')
    assert P.max_positions(str(tmp_path)) == 262144
    assert P.max_positions(str(tmp_path / "missing")) is None


def test_check_judge_endpoints(http_server, listener):
    # loopback with more than one node: off-head reward workers would get "connection refused"
    p = P.check_judge_endpoints(["http://127.0.0.1:8000"], n_nodes=2, probe=False)
    assert names(p) == ["judge-endpoint"] and "loopback" in p[0].message
    assert names(P.check_judge_endpoints(["localhost:8000"], n_nodes=2, probe=False)) == ["judge-endpoint"]
    # one node: loopback is fine, and the endpoint is asked
    assert P.check_judge_endpoints([http_server.url + "/v1"], n_nodes=1) == []
    assert http_server.paths == ["/v1/models"]
    listener.close()  # nothing listens there any more
    p = P.check_judge_endpoints([f"http://127.0.0.1:{listener.port}"], n_nodes=1, timeout_s=1)
    assert names(p) == ["judge-endpoint"] and "does not answer" in p[0].message
    assert names(P.check_judge_endpoints([], n_nodes=1)) == ["judge-endpoint"]


def test_check_preset_matches():
    cfg = OmegaConf.create({"verm": {"cluster": {"name": "2node", "nodes": 2, "gpus_per_node": 8}}})
    assert P.check_preset_matches(cfg, 2, 8) == []
    p = P.check_preset_matches(cfg, 3, 8)
    assert names(p) == ["preset"] and "sbatch --nodes=2 --gpus-per-node=8" in p[0].message
    assert names(P.check_preset_matches(cfg, 2, 4)) == ["preset"]


def test_missing_nodes_names_absent_and_gpu_short_nodes():
    joined = [P.Node("a", 8, 64), P.Node("b", 4, 64)]
    assert missing_nodes(["a", "b", "c"], joined, 8) == ["b (4/8 GPUs)", "c"]
    assert missing_nodes(["a"], joined, 8) == []


# ---------------------------------------------------------------------------------------------- placement


def test_place_pools_strict_pack_per_node_and_what_is_short():
    nodes = P.declared_cluster(2, 8, 64)
    pools = [P.GpuPool("global_pool", "policy", 1, 8), P.GpuPool("reward_pool", "judge", 1, 8)]
    free, problems = P.place_pools(pools, nodes)
    assert problems == [] and pools[0].placed_on == ["node0"] and pools[1].placed_on == ["node1"]
    assert free == {"node0": [0, 40], "node1": [0, 40]}  # 3 CPUs per GPU bundle
    # 4 policy nodes + 1 judge node on 2 nodes: short by 24 GPUs
    pools = [P.GpuPool("global_pool", "policy", 4, 8), P.GpuPool("reward_pool", "judge", 1, 8)]
    _, problems = P.place_pools(pools, nodes)
    assert problems[0].check == "gpus" and "short by 24 GPUs" in problems[0].message
    # enough GPUs in total but a group of 6 does not fit on any node with 4 left
    _, problems = P.place_pools([P.GpuPool("a", "x", 2, 4), P.GpuPool("b", "y", 1, 6)], P.declared_cluster(2, 7, 64))
    assert names(problems) == ["gpu-placement"]
    # CPUs: 8 bundles x 3 CPUs need 24
    _, problems = P.place_pools([P.GpuPool("a", "x", 1, 8)], P.declared_cluster(1, 8, 16))
    assert "short by 8 CPUs" in problems[0].message


def test_render_actors_fixed_auto_and_short():
    cfg = OmegaConf.create({"verm": {"render": {"pool_size": 10, "num_cpus_per_actor": 1}}})
    per_node, problems = P.render_actors(cfg, {"a": [0, 30], "b": [0, 10]})
    assert problems == [] and sum(per_node.values()) == 10 and per_node["a"] > per_node["b"]
    cfg.verm.render.pool_size = "auto"
    per_node, problems = P.render_actors(cfg, {"a": [0, 30], "b": [0, 10]})
    assert problems == [] and sum(per_node.values()) == 36  # 40 free CPUs less 10% headroom
    cfg.verm.render.pool_size = 50
    _, problems = P.render_actors(cfg, {"a": [0, 30], "b": [0, 10]})
    assert "short by 10 CPUs" in problems[0].message


def test_judge_actors_use_the_reservation_or_free_gpus():
    pools = [P.GpuPool("global_pool", "policy", 1, 4), P.GpuPool("reward_pool", "judge reservation", 1, 2)]
    actors = [{"name": "verm_dino", "count": 3, "gpus": 1.0, "cpus": 1.0}]
    problems = P.place_judge_actors(actors, pools, {"n": [2, 40]})
    assert "short by 1 GPUs" in problems[0].message
    free = {"n": [2.0, 40.0]}
    problems = P.place_judge_actors([{"name": "j", "count": 3, "gpus": 1.0, "cpus": 1.0}], pools[:1], free)
    assert "1 do not fit" in problems[0].message and free["n"][0] == 0


# ---------------------------------------------------------------------------------------------- composed presets


@pytest.mark.parametrize("preset,nodes", [("1node", 1), ("2node", 2), ("4node", 5)])
def test_every_gpu_preset_fits_its_own_allocation(models, preset, nodes):
    cfg = P.compose(["experiment=chart2code_verm", f"verm/cluster={preset}", *models])
    assert cfg.verm.cluster.name == preset and cfg.verm.cluster.nodes == nodes
    assert cfg.reward.reward_model.n_gpus_per_node == cfg.verm.cluster.judge_gpus_per_node
    assert cfg.reward.reward_model.nnodes == cfg.verm.cluster.judge_nnodes
    plan = P.make_plan(cfg, P.declared_cluster(nodes, cfg.verm.cluster.gpus_per_node, 64))
    assert plan.fits, plan.problems
    assert P.check_preset_matches(cfg, nodes, 8) == []
    text = P.format_plan(plan, cfg)
    assert "plan: FITS" in text and "16384" in text and "12288" in text


def test_plan_command_exit_codes_and_what_is_short(models, capsys):
    args = ["--nodes", "2", "--gpus-per-node", "8", "--cpus-per-node", "64", "--expect-nodes", "2",
            "experiment=chart2code_verm", "verm/cluster=2node", *models]
    assert P.main(args) == 0
    assert "plan: FITS" in capsys.readouterr().out
    # the paper's 5-node preset on a 2-node allocation: refused, naming the preset, the nodes and the GPUs short
    assert P.main([a for a in args if a != "verm/cluster=2node"]) == 2
    out = capsys.readouterr().out
    assert "verm/cluster=4node needs 5 node(s)" in out and "short by 24 GPUs" in out
    # overrides reach the composed config: a response length above max_model_len, an http judge on loopback
    assert P.main([*args, "data.max_response_length=12288", "verm/judge=http", "--no-probe"]) == 2
    out = capsys.readouterr().out
    assert "short by 4096 tokens" in out and "loopback" in out
    assert P.main(["--sbatch-args", "experiment=chart2code_verm"]) == 0
    assert capsys.readouterr().out.strip() == "--nodes=5 --gpus-per-node=8"


def test_verm_rl_plan_subcommand_delegates(capsys):
    from verm_rl.cli import main

    assert main(["plan", "--sbatch-args", "experiment=chart2code_verm", "verm/cluster=2node"]) == 0
    assert capsys.readouterr().out.strip() == "--nodes=2 --gpus-per-node=8"


def test_ray_judge_actors_without_verl_pool_get_the_presets_judge_gpus(models):
    """ray_actor judge (verl's reward pool off): the actors go on verm.cluster.judge_* GPUs, counted in the plan."""
    cfg = P.compose(["experiment=chart2code_verm", "verm/cluster=2node", "verm/judge=ray_actor",
                     "verm.judge.ray_actor.num_actors=8", *models])
    plan = P.make_plan(cfg, P.declared_cluster(2, 8, 64))
    assert plan.fits, plan.problems
    assert [p.name for p in plan.pools] == ["global_pool", "judge_actor_pool"]
    assert plan.judge_actors[0]["placed_on"] == P.JUDGE_RESERVATION
    cfg.verm.judge.ray_actor.num_actors = 9
    plan = P.make_plan(cfg, P.declared_cluster(2, 8, 64))
    assert any("short by 1 GPUs" in p.message for p in plan.problems)


def test_cluster_wait_gives_up_on_a_port_that_is_no_ray_cluster(listener):
    """A GCS address that accepts TCP but never answers Ray (a head that died mid-start): the wait stops at its
    deadline instead of retrying for ever inside Ray's client."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN="x" * 32)
    r = subprocess.run([sys.executable, "-m", "recipes.visual_erm.cluster_wait", "--address",
                        f"127.0.0.1:{listener.port}", "--nodes", "n1,n2", "--timeout", "2", "--grace", "3"],
                       capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 3, r.stdout + r.stderr
    assert "n1, n2" in r.stderr
