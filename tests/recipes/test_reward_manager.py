"""Our reward manager inside verl's own RewardLoopManager on a local Ray cluster (the CPU job)."""

from __future__ import annotations

import numpy as np
import pytest
from hydra import compose, initialize_config_dir

from tests.recipes.test_configs import CONFIG_DIR


@pytest.fixture(scope="module")
def cpu_step_result(ray_cluster, tiny_vlm_path, tmp_path_factory):
    from recipes.visual_erm.cpu_step import run

    with initialize_config_dir(config_dir=CONFIG_DIR, version_base=None):
        cfg = compose(config_name="visual_erm", overrides=[
            "experiment=cpu_reward_step", f"verm.model.judge_path={tiny_vlm_path}"])
    return run(cfg, tmp_path_factory.mktemp("cpu_step"), n_refs=6, seed=3)


def test_rewards_rank_correct_perturbed_broken(cpu_step_result):
    scores, kinds = cpu_step_result["scores"], cpu_step_result["kinds"]
    assert len(scores) == len(kinds) >= 18
    assert np.allclose(scores[kinds == "correct"], 2.0)
    assert np.all(scores[kinds == "broken"] == 0.0)
    perturbed = scores[kinds == "perturbed"]
    assert np.all((perturbed >= 1.0) & (perturbed < 2.0))  # rendered, but with errors found


def test_extra_info_is_complete_and_aligned(cpu_step_result):
    from recipes.visual_erm.reward_manager import EXTRA_KEYS

    infos, kinds = cpu_step_result["infos"], cpu_step_result["kinds"]
    assert set(EXTRA_KEYS) <= set(infos)
    assert all(len(v) == len(kinds) for v in infos.values())
    status = infos["status"]
    assert set(status[kinds == "correct"]) == {"ok"}
    assert set(status[kinds == "broken"]) <= {"no_code", "render_failed", "blank"}
    assert np.all(infos["severity"][kinds == "perturbed"] > 0)


def test_metrics_report_and_wandb(cpu_step_result):
    m = cpu_step_result["metrics"]
    assert m["verm/by_candidate/correct/reward"] == pytest.approx(2.0)
    assert m["verm/by_candidate/broken/reward"] == 0.0
    assert 0 < m["verm/all/render_rate"] < 1 and m["verm/all/judge_failure_rate"] == 0
    assert {"verm/chart/render_rate", "verm/table/render_rate", "verm/svg/render_rate"} <= m.keys()
    report = cpu_step_result["report"]
    html = report.read_text()
    assert html.count("<tr>") >= 18 and "reference.png" in html and "render.png" in html
    assert list((report.parent / "wandb").glob("offline-run-*/run-*.wandb"))


def test_malformed_sample_gets_a_reward_and_a_status(ray_cluster, tiny_vlm_path):
    """A row verl hands us that we cannot read (unknown data_source) is scored 0, status bad_sample."""
    from verl.utils import hf_tokenizer

    from recipes.visual_erm.cpu_step import make_batch
    from recipes.visual_erm.reward_manager import EXTRA_KEYS, VisualERMRewardManager
    from tests.reward.test_baselines import png
    from verm_rl.data.dataset import make_row

    with initialize_config_dir(config_dir=CONFIG_DIR, version_base=None):
        cfg = compose(config_name="visual_erm", overrides=["experiment=cpu_reward_step"])
    tokenizer = hf_tokenizer(tiny_vlm_path)
    row = make_row("svg", png("white"), "<svg/>", 0)
    row["data_source"], row["extra_info"] = "latex2code", {}
    data = make_batch([row], [[("broken", "```svg\n<svg/>\n```")]], tokenizer)
    manager = VisualERMRewardManager(cfg, tokenizer)
    out = manager.loop.run_until_complete(manager.run_single(data[0:1]))
    manager.loop.run_until_complete(manager.close())
    assert out["reward_score"] == 0.0 and out["reward_extra_info"]["status"] == "bad_sample"
    assert set(out["reward_extra_info"]) == set(EXTRA_KEYS)


def test_plain_score_gives_the_rewards_of_the_verl_path(cpu_step_result):
    """``verm_rl.reward.score`` (local render workers, no Ray) on the CPU job's batch: the same rewards and
    statuses as verl's reward loop with our manager (Ray render pool), since both run one ``RewardPipeline``."""
    from verm_rl.reward import score

    r = cpu_step_result
    rewards, details = score(r["tasks"], r["responses"], r["references"])
    assert rewards == pytest.approx(list(r["scores"]))
    assert [d["status"] for d in details] == list(r["infos"]["status"])
    assert [d["severity"] for d in details] == list(r["infos"]["severity"])
