"""Each reward arm is what its name says, in every experiment preset (composed by Hydra, checked
with the same function main.py and cpu_step.py run), and the README table of arms matches."""

from __future__ import annotations

import glob
import os
import types

import pytest
from hydra import compose, initialize_config_dir

from recipes.visual_erm.config_check import ARMS, ConfigError, arm_summary, arm_table, check_config, compose_arm

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CONFIG_DIR = os.path.join(ROOT, "hydra_configs")
EXPERIMENTS = sorted(os.path.basename(p)[:-5] for p in glob.glob(os.path.join(CONFIG_DIR, "experiment", "*.yaml")))
ARM_FILES = sorted(os.path.basename(p)[:-5] for p in glob.glob(os.path.join(CONFIG_DIR, "verm", "reward", "*.yaml")))


def compose_cfg(overrides):
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base=None):
        return compose(config_name="visual_erm", overrides=overrides)


def judge_used(cfg):
    """The judge object the reward pipeline would build from this config (no GPU judge is started)."""
    from omegaconf import OmegaConf

    from reward_workers.factory import build_reward_judge

    verm = OmegaConf.to_container(cfg.verm, resolve=True)
    if verm["reward"]["name"] == "dino":
        return "dino"  # RayActorJudge(kind=dino): needs a GPU actor; its config is checked below
    pool = types.SimpleNamespace(render=None)
    judge = build_reward_judge(verm["reward"], verm["judge"], pool, reward_router_address="http://127.0.0.1:1",
                               reward_model_path="/models/Visual-ERM")
    return type(judge).__name__


EXPECTED_JUDGE = {"verm": "HttpJudge", "verm_no_rsr": "HttpJudge", "structural": "StructuralJudge",
                  "render_only": "NoJudge", "ssim": "SimilarityJudge", "teds": "SimilarityJudge", "dino": "dino"}


def test_every_arm_file_is_a_known_arm():
    assert ARM_FILES == sorted(ARMS)


def experiment_shapes():
    """Experiments by what they set: (task, model, cluster). A preset sets nothing but these overrides
    and its arm (checked here), so one experiment per shape × every arm covers experiment × arm."""
    import yaml

    shapes = {}
    for name in EXPERIMENTS:
        doc = yaml.safe_load(open(os.path.join(CONFIG_DIR, "experiment", f"{name}.yaml")))
        assert set(doc) == {"defaults"}, f"{name} sets more than its groups: {set(doc)}"
        groups = {k.split("/")[-1]: v for d in doc["defaults"] for k, v in d.items()}
        assert set(groups) == {"task", "reward", "model", "cluster"}, name
        shapes.setdefault((groups["task"], groups["model"], groups["cluster"]), name)
    return sorted(shapes.values())


@pytest.mark.parametrize("experiment", experiment_shapes())
def test_every_experiment_times_every_arm(experiment):
    for arm in ARMS:
        cfg = compose_cfg([f"experiment={experiment}", f"verm/reward={arm}"])
        tasks = list(cfg.verm.task.tasks)
        if ARMS[arm].tasks is not None and any(t not in ARMS[arm].tasks for t in tasks):
            with pytest.raises(ConfigError, match="scores only table"):
                check_config(cfg)
            continue
        check_config(cfg)
        s = arm_summary(cfg)
        assert s["arm"] == arm and cfg.trainer.experiment_name.split("__")[1] == arm
        assert s["judge"] == ARMS[arm].judges[0], (experiment, arm)
        assert judge_used(cfg) == EXPECTED_JUDGE[arm]
        rm = cfg.reward.reward_model
        assert bool(rm.enable) == bool(rm.enable_resource_pool) == (s["judge"] == "verl_rm")
        judge_gpus = rm.nnodes * rm.n_gpus_per_node
        if arm in ("verm", "verm_no_rsr", "dino"):
            assert s["judge_gpus"] == judge_gpus and (judge_gpus > 0) == (cfg.trainer.n_gpus_per_node > 0)
        else:
            assert s["judge_gpus"] == 0
        if arm == "dino":
            assert cfg.verm.reward.dino.num_actors is None  # one DINO actor per judge GPU
        w = cfg.verm.reward
        assert (w.w_render == 0) == (arm in ("verm_no_rsr", "dino"))
        assert (w.w_verm == 0) == (arm == "render_only")


def test_structural_arm_from_a_verm_experiment_trains_with_the_structural_critic():
    """The defect: `sweep.sh table2md structural` composed experiment=table2md_verm verm/reward=structural
    and the experiment's `override /verm/judge: verl_rm` won."""
    cfg = compose_cfg(["experiment=table2md_verm", "verm/reward=structural"])
    assert cfg.verm.judge.backend == "structural" and not cfg.reward.reward_model.enable
    assert judge_used(cfg) == "StructuralJudge"


def test_render_only_starts_no_reward_model_and_needs_no_visual_erm_path(monkeypatch):
    monkeypatch.delenv("VISUAL_ERM_PATH", raising=False)
    cfg = compose_cfg(["experiment=table2md_render_only"])
    check_config(cfg)
    assert not cfg.reward.reward_model.enable and not cfg.reward.reward_model.enable_resource_pool
    assert "model_path" not in cfg.reward.reward_model or cfg.reward.reward_model.model_path is None
    assert "Visual-ERM" not in str(cfg.verm.judge) and judge_used(cfg) == "NoJudge"


def test_table_11_arm_has_no_render_success_term():
    cfg = compose_cfg(["experiment=table2md_verm_no_rsr"])
    check_config(cfg)
    assert cfg.verm.reward.w_render == 0 and cfg.verm.reward.w_verm == 1 and cfg.verm.judge.backend == "verl_rm"


@pytest.mark.parametrize("overrides, message", [
    (["verm.reward.name=nope"], "unknown reward arm 'nope'; valid: verm, verm_no_rsr, structural"),
    (["verm.judge.backend=vllm"], "unknown judge backend 'vllm'; valid: verl_rm, http, ray_actor, structural, none"),
    (["verm/judge=ray_actor", "verm.judge.ray_actor.engine=sglang"], "unknown judge engine 'sglang'; valid: auto"),
    (["verm/reward=ssim", "verm.reward.similarity=lpips"], "unknown ssim similarity 'lpips'; valid: ssim, l2"),
    (["verm/reward=ssim", "verm/judge=verl_rm"], "runs with verm/judge=none"),
    (["verm/reward=structural", "verm/judge=http"], "runs with verm/judge=structural"),
    (["verm.task.tasks=[chart,latex]"], "unknown task 'latex'; valid: chart, table, svg"),
    (["verm.reward.norm=batchmax"], "valid: fixed, batch_max or a number"),
    (["reward.reward_model.enable=false"], "pool must be on exactly when the judge is verl_rm"),
])
def test_unknown_names_are_rejected_with_the_valid_list(overrides, message):
    cfg = compose_cfg(overrides)
    with pytest.raises(ConfigError) as err:
        check_config(cfg)
    head, _, valid = message.partition("; ")
    if valid:
        assert str(err.value).startswith(head) and valid in str(err.value)
    else:
        assert head in str(err.value)


def test_unknown_arm_file_fails_in_hydra_with_the_options():
    from hydra.errors import MissingConfigException

    with pytest.raises(MissingConfigException) as err:
        compose_cfg(["verm/reward=nope"])
    assert "ssim" in str(err.value) and "structural" in str(err.value)


def test_readme_table_of_arms_is_what_the_configs_compose():
    table = arm_table([arm_summary(compose_arm(a, CONFIG_DIR)) for a in ARMS])
    readme = open(os.path.join(ROOT, "recipes", "visual_erm", "README.md")).read()
    assert table in readme, "regenerate with: python -m recipes.visual_erm.config_check\n" + table


def test_sweep_submits_one_job_per_arm_and_seed_in_one_group_and_each_is_its_arm():
    import shlex
    import subprocess

    env = dict(os.environ, DRY_RUN="1", SEEDS="0 1", SWEEP_ID="abl-test")
    out = subprocess.run(["bash", os.path.join(ROOT, "slurm", "sweep.sh"), "table2md", "structural", "verm_no_rsr",
                          "--", "verm/cluster=2node"], env=env, capture_output=True, text=True, check=True).stdout
    jobs = [shlex.split(line) for line in out.splitlines() if line.startswith("sbatch")]
    assert len(jobs) == 4
    names = set()
    for job in jobs:
        assert "--export=ALL,VERM_SWEEP_ID=abl-test" in job
        overrides = job[job.index(next(a for a in job if a.endswith("launch.sh"))) + 1:]
        cfg = compose_cfg(overrides)
        check_config(cfg)
        arm = next(o.split("=")[1] for o in overrides if o.startswith("verm/reward="))
        assert cfg.verm.judge.backend == ARMS[arm].judges[0] and cfg.verm.run.group == "abl-test"
        assert cfg.verm.cluster.name == "2node" and "--nodes=2" in job  # the preset and its allocation
        names.add(cfg.trainer.experiment_name)
    assert names == {f"table2md__{a}__qwen3_vl_8b__s{s}" for a in ("structural", "verm_no_rsr") for s in (0, 1)}
