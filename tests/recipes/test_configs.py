"""Every Hydra preset composes and resolves against verl 0.9.1's own config and checks."""

from __future__ import annotations

import glob
import os

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

CONFIG_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "hydra_configs"))
EXPERIMENTS = sorted(os.path.basename(p)[:-5] for p in glob.glob(os.path.join(CONFIG_DIR, "experiment", "*.yaml")))
GROUP_OPTIONS = {g: sorted(os.path.basename(p)[:-5] for p in glob.glob(os.path.join(CONFIG_DIR, "verm", g, "*.yaml")))
                 for g in ("task", "reward", "judge", "model", "cluster")}


def compose_cfg(overrides):
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base=None):
        return compose(config_name="visual_erm", overrides=overrides)


def check_against_verl(cfg) -> None:
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import omega_conf_to_dataclass, validate_config
    from verl.workers.config import ActorConfig, RolloutConfig

    OmegaConf.to_container(cfg, resolve=True)  # every interpolation resolves
    assert isinstance(omega_conf_to_dataclass(cfg.actor_rollout_ref.actor), ActorConfig)
    assert isinstance(omega_conf_to_dataclass(cfg.actor_rollout_ref.rollout), RolloutConfig)
    if cfg.trainer.n_gpus_per_node > 0:
        validate_config(cfg, use_reference_policy=need_reference_policy(cfg), use_critic=need_critic(cfg))
    # the traps of verl 0.9 (see shared/reference/verl-0.9.1.md)
    assert cfg.reward.reward_manager.source == "importlib"
    assert cfg.reward.custom_reward_function.path, "custom manager is bypassed without it when the RM is on"
    assert cfg.trainer.v1.trainer_mode == "sync"
    if cfg.reward.reward_model.enable:
        assert cfg.reward.reward_model.enable_resource_pool and not cfg.reward.reward_model.rollout.free_cache_engine


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_preset_composes_and_validates(experiment):
    cfg = compose_cfg([f"experiment={experiment}"])
    check_against_verl(cfg)
    from recipes.visual_erm.config_check import check_config, run_name

    check_config(cfg)
    assert cfg.trainer.experiment_name == run_name(cfg) and cfg.trainer.experiment_name.count("__") == 3


def test_paper_settings_in_the_grpo_presets():
    cfg = compose_cfg(["experiment=chart2code_verm"])
    assert cfg.algorithm.adv_estimator == "grpo" and cfg.actor_rollout_ref.rollout.n == 8
    assert cfg.actor_rollout_ref.actor.optim.lr == 1e-6 and cfg.data.train_batch_size == 256
    assert cfg.actor_rollout_ref.actor.kl_loss_coef == 0.01 and cfg.actor_rollout_ref.actor.kl_loss_type == "low_var_kl"
    assert cfg.data.max_response_length == 8192 and cfg.trainer.total_epochs == 1
    assert cfg.verm.reward.fixed_norm == 50.0 and cfg.verm.judge.backend == "verl_rm"


@pytest.mark.parametrize("group", sorted(GROUP_OPTIONS))
def test_every_group_option_composes(group):
    for option in GROUP_OPTIONS[group]:
        overrides = [f"verm/{group}={option}"]
        if group != "cluster":
            overrides.append("verm/cluster=1node")
        cfg = compose_cfg(overrides)
        OmegaConf.to_container(cfg, resolve=True)
        if group == "reward":
            assert cfg.verm.reward.name == option
        if group == "judge":
            assert cfg.verm.judge.backend == option
            assert bool(cfg.reward.reward_model.enable) == (option == "verl_rm")


def test_groups_later_than_the_file_win():
    cfg = compose_cfg(["verm/cluster=cpu"])
    assert cfg.reward.num_workers == 2 and cfg.verm.render.pool_size == 2
    cfg = compose_cfg(["verm/cluster=4node", "verm.reward.norm=batch_max"])
    assert cfg.trainer.nnodes == 4 and cfg.verm.reward.norm == "batch_max"
