"""wandb name, group, tags and the verm summary reach a run started the way verl's Tracking starts it."""

from __future__ import annotations

import time

from hydra import compose, initialize_config_dir

from tests.recipes.test_configs import CONFIG_DIR


def test_verl_tracking_run_gets_group_tags_and_summary(tmp_path, monkeypatch):
    from omegaconf import OmegaConf, open_dict
    from verl.utils.tracking import Tracking

    from recipes.visual_erm.config_check import run_summary
    from recipes.visual_erm.trainer import wandb_run_settings
    from verm_rl.compare import find_offline_runs, read_offline_run

    with initialize_config_dir(config_dir=CONFIG_DIR, version_base=None):
        cfg = compose(config_name="visual_erm", overrides=[
            "experiment=table2md_verm", "verm/reward=structural", "verm.run.seed=2", "verm.run.group=sweep-x"])
    assert cfg.trainer.experiment_name == "table2md__structural__qwen3_vl_8b__s2"
    import wandb

    wandb.teardown()  # a wandb session started by an earlier test would ignore the environment set below
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    for key, value in wandb_run_settings(cfg).items():  # what VisualERMTrainer.__init__ exports
        monkeypatch.setenv(key, value)
    with open_dict(cfg):
        cfg.verm.summary = run_summary(cfg)
    tracking = Tracking(project_name="verm-test", experiment_name=cfg.trainer.experiment_name,
                        default_backend=["wandb"], config={"verm": OmegaConf.to_container(cfg.verm, resolve=True),
                                                                "trainer": {"project_name": "verm-test"}})
    tracking.finish(exit_code=0)
    deadline = time.monotonic() + 60  # wandb's service may still be flushing the offline file on a busy machine
    while not list(tmp_path.rglob("run-*.wandb")) and time.monotonic() < deadline:
        time.sleep(0.5)
    run = read_offline_run(find_offline_runs([tmp_path])[0])
    assert run.name == "table2md__structural__qwen3_vl_8b__s2" and run.group == "sweep-x"
    tags = set(run.tags)
    assert {"task:table2md", "arm:structural", "judge:structural", "model:qwen3_vl_8b"} <= tags
    assert len(tags) == 5 and any(t.startswith("cluster:") for t in tags)
    assert run.arm == "structural" and run.seed == "2" and run.summary["judge_gpus"] == 0
