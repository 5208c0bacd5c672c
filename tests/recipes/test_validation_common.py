"""Common validation metrics and per-sample folders, through our real reward manager on local Ray
(real renders, the real structural critic, SSIM and TEDS)."""

from __future__ import annotations

import asyncio
import math

import numpy as np
import pytest
from hydra import compose, initialize_config_dir

from tests.recipes.test_configs import CONFIG_DIR


@pytest.fixture(scope="module")
def val_data(tiny_vlm_path):
    """One reference per task, four candidates each (correct, two perturbed, broken), as DataProto rows."""
    from verl.utils import hf_tokenizer

    from recipes.visual_erm.cpu_step import candidate_responses, make_batch
    from verm_rl.data.dataset import rows_from_sources, synthetic_items
    from verm_rl.render.local_pool import LocalRenderPool

    with LocalRenderPool(1) as pool:
        rows, _ = asyncio.run(rows_from_sources(synthetic_items(3, seed=5, tasks=("chart", "table", "svg")),
                                                pool.render))
    tokenizer = hf_tokenizer(tiny_vlm_path)
    cands = [candidate_responses(r["extra_info"]["task"], r["reward_model"]["ground_truth"], 5) for r in rows]
    batch = make_batch(rows, cands, tokenizer)
    batch.non_tensor_batch["validate"] = np.array([True] * len(batch), dtype=object)
    return batch, tokenizer


def arm_cfg(arm, tmp=None, extra=()):
    overrides = ["experiment=cpu_reward_step", f"verm/reward={arm}", "verm.render.pool_size=2", *extra]
    if tmp is not None:
        overrides += [f"verm.logging.sample_dir={tmp}", "verm.logging.sample_rate=1.0"]
    else:  # write no sample folders (the default dir is verl's checkpoints/ under the working directory)
        overrides += ["verm.logging.sample_rate=0"]
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base=None):
        return compose(config_name="visual_erm", overrides=overrides)


def score_all(cfg, batch, tokenizer, manager=None):
    from recipes.visual_erm.reward_manager import VisualERMRewardManager

    own = manager is None
    manager = manager or VisualERMRewardManager(cfg, tokenizer)

    async def run():
        try:
            return await asyncio.gather(*(manager.run_single(batch[i:i + 1]) for i in range(len(batch))))
        finally:
            if own:
                await manager.close()

    return manager.loop.run_until_complete(run())


def test_two_arms_give_identical_val_common_metrics_for_identical_responses(ray_cluster, val_data):
    from recipes.visual_erm.validation import common_val_metrics

    batch, tokenizer = val_data
    out = {arm: score_all(arm_cfg(arm), batch, tokenizer) for arm in ("structural", "ssim")}
    scores = {arm: [o["reward_score"] for o in outs] for arm, outs in out.items()}
    assert scores["structural"] != scores["ssim"]  # the arms' own rewards differ
    vc = {}
    for arm, outs in out.items():
        infos = {k: [o["reward_extra_info"][k] for o in outs] for k in outs[0]["reward_extra_info"]}
        vc[arm] = infos
        metrics = common_val_metrics(infos)
        assert {"val-common/all/render_rate", "val-common/all/ssim", "val-common/all/structural_severity",
                "val-common/table/teds"} <= metrics.keys()
        assert "val-common/chart/teds" not in metrics and "val-common/all/verm_severity" not in metrics
    for key in ("vc_render_rate", "vc_structural_severity", "vc_ssim", "vc_teds"):
        a, b = vc["structural"][key], vc["ssim"][key]
        assert all((math.isnan(x) and math.isnan(y)) or x == y for x, y in zip(a, b)), key
    assert common_val_metrics(vc["structural"]) == common_val_metrics(vc["ssim"])
    kinds = [k.split(":")[0] for k in batch.non_tensor_batch["kind"]]
    infos = vc["ssim"]
    for i, kind in enumerate(kinds):  # the yardstick measures what it says
        if kind == "correct":
            assert infos["vc_render_rate"][i] == 1 and infos["vc_structural_severity"][i] == 0
            assert infos["vc_ssim"][i] > 0.99
            if infos["task"][i] == "table":
                assert infos["vc_teds"][i] == pytest.approx(1.0)
        if kind == "broken":
            assert infos["vc_render_rate"][i] == 0 and infos["vc_ssim"][i] == 0
            assert math.isnan(infos["vc_structural_severity"][i])
    assert any(infos["vc_structural_severity"][i] > 0 for i, k in enumerate(kinds) if k == "perturbed")


def test_training_samples_carry_no_val_common_keys(ray_cluster, val_data):
    batch, tokenizer = val_data
    train = batch[0:2]
    train.non_tensor_batch.pop("validate")
    outs = score_all(arm_cfg("ssim"), train, tokenizer)
    assert not any(k.startswith("vc_") for k in outs[0]["reward_extra_info"])


def test_n_rollouts_of_one_prompt_keep_n_sample_folders(ray_cluster, val_data, tmp_path):
    """verl's n rollouts of a prompt share its uid (and differ in session_id): one folder each."""
    from pathlib import Path

    batch, tokenizer = val_data
    group = batch[0:4]  # the four candidates of the chart reference: the n rollouts of one prompt
    group.non_tensor_batch["uid"] = np.array(["prompt-7"] * 4, dtype=object)
    group.non_tensor_batch["session_id"] = np.array([0, 1, 2, 3], dtype=object)
    from recipes.visual_erm.reward_manager import VisualERMRewardManager

    manager = VisualERMRewardManager(arm_cfg("ssim", tmp_path / "tq"), tokenizer)
    outs = score_all(None, group, tokenizer, manager)
    dirs = [o["reward_extra_info"]["sample_dir"] for o in outs]
    assert sorted(Path(d).name for d in dirs) == [f"prompt-7_{i}" for i in range(4)]
    assert len({(Path(d) / "render.png").read_bytes() if (Path(d) / "render.png").exists() else b"" for d in dirs}) \
        >= 3  # each folder holds its own sample's render
    group.non_tensor_batch.pop("session_id")  # a path without session ids still keeps them apart
    manager.sample_dir = str(tmp_path / "plain")
    outs = score_all(None, group, tokenizer, manager)
    assert len({o["reward_extra_info"]["sample_dir"] for o in outs}) == 4
    assert len(list((tmp_path / "plain").iterdir())) == 4
    manager.loop.run_until_complete(manager.close())
