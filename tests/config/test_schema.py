"""The typed ``verm`` schema: unknown keys and names fail at composition (real Hydra) with the valid ones listed,
defaults live in one place (the norm, the render options, the judge's concurrency), README overrides still work."""

from __future__ import annotations

import dataclasses
import os
import pickle
import re
import shutil
import subprocess
import sys
import typing

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf, open_dict

from recipes.visual_erm.config_check import ConfigError, check_config, check_overrides
from verm_rl.config import RenderSection, RewardSection, VermConfig, verm_config
from verm_rl.config.schema import JUDGE_SETTING_KEYS
from verm_rl.render import RenderOptions
from verm_rl.reward.severity import RELEASED_MAX_SEVERITY, SeverityRewardConfig

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CONFIG_DIR = os.path.join(ROOT, "hydra_configs")


def compose_cfg(overrides, config_dir=CONFIG_DIR):
    with initialize_config_dir(config_dir=config_dir, version_base=None):
        return compose(config_name="visual_erm", overrides=list(overrides))


# ------------------------------------------------------------------------ unknown keys


def test_typo_in_an_override_fails_in_hydra_and_the_precheck_lists_the_valid_keys():
    with pytest.raises(ConfigCompositionException) as err:  # Hydra itself: the schema has no such key
        compose_cfg(["verm.reward.nrom=40"])
    assert "nrom" in str(err.value) + str(err.value.__cause__)
    with pytest.raises(ConfigError) as err:  # what main.py and `verm-rl plan` run before Hydra composes
        check_overrides(["experiment=chart2code_verm", "verm.reward.nrom=40"])
    msg = str(err.value)
    assert msg.startswith("unknown key verm.reward.nrom (did you mean verm.reward.norm?)")
    assert "valid keys of verm.reward: name, w_render, w_verm, w_format, norm, fixed_norm" in msg


def test_typo_added_with_plus_passes_hydra_but_fails_the_check():
    cfg = compose_cfg(["+verm.reward.nrom=40"])  # Hydra force-adds a `+` key even to a typed node
    with pytest.raises(ConfigError, match=r"unknown key verm\.reward\.nrom .*valid keys of verm\.reward: name"):
        check_config(cfg)
    with pytest.raises(ConfigError, match="unknown key verm.rward"):
        check_overrides(["+verm.rward.norm=40"])


def test_typo_in_a_preset_file_fails_at_composition(tmp_path):
    config_dir = tmp_path / "hydra_configs"
    shutil.copytree(CONFIG_DIR, config_dir)
    (config_dir / "experiment" / "typo.yaml").write_text(
        "# @package _global_\nverm:\n  render:\n    pool_sise: 8\n")
    with pytest.raises(ConfigCompositionException) as err:
        compose_cfg(["experiment=typo"], str(config_dir))
    assert "pool_sise" in str(err.value) + str(err.value.__cause__)


def test_main_refuses_a_typo_before_anything_starts():
    env = dict(os.environ, PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, "-m", "recipes.visual_erm.main", "experiment=chart2code_verm",
                          "verm.judge.max_concurency=8"], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode != 0
    assert "unknown key verm.judge.max_concurency (did you mean verm.judge.max_concurrency?)" in out.stderr
    assert "valid keys of verm.judge:" in out.stderr and "Traceback" not in out.stderr


def test_the_cpu_job_refuses_a_typo_before_anything_starts():
    """``make run`` (the CPU job) checks its overrides as main.py does: a typo fails with the valid keys
    before Hydra composes, Ray starts or a model is built."""
    env = dict(os.environ, PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, "-m", "recipes.visual_erm.cpu_step", "experiment=cpu_reward_step",
                          "verm.reward.nrom=40"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    assert "unknown key verm.reward.nrom (did you mean verm.reward.norm?)" in out.stderr, out.stderr
    assert "valid keys of verm.reward:" in out.stderr and "Traceback" not in out.stderr


def test_unknown_per_task_judge_setting_and_task_are_refused():
    cfg = compose_cfg(["+verm.judge.per_task.table.max_tokes=4096"])
    with pytest.raises(ConfigError, match=r"verm\.judge\.per_task\.table\.max_tokens\?.*valid keys"):
        check_config(cfg)
    cfg = compose_cfg(["+verm.judge.per_task.latex.max_tokens=4096"])
    with pytest.raises(ConfigError, match="unknown task 'latex' .*valid: chart, table, svg"):
        check_config(cfg)


# ------------------------------------------------------------------------ unknown names


@pytest.mark.parametrize("override, message", [
    ("verm.judge.backend=vllm", "unknown judge backend 'vllm' (verm.judge.backend); valid: verl_rm, http, ray_actor, "
                                "structural, none"),
    ("verm.reward.name=nope", "unknown reward arm 'nope' (verm.reward.name); valid: verm, verm_no_rsr, structural"),
    ("verm.render.chart_output=final", "unknown chart output 'final' (verm.render.chart_output); valid: requested, "
                                       "released"),
    ("verm.render.routing=rr", "unknown render routing 'rr' (verm.render.routing); valid: p2c, random, local"),
    ("verm.render.dpi=high", "unknown chart dpi 'high'"),
    ("verm.judge.profile=fast", "unknown judge profile 'fast' (verm.judge.profile); valid: released, greedy, legacy"),
    ("verm.judge.image_format=gif", "valid: png, jpeg"),
    ("verm.judge.ray_actor.placement=pack", "valid: group, none"),
    ("verm.reference_from=gt", "valid: prompt_image, ground_truth"),
    ("verm.validation.common=[ssim,lpips]", "unknown common validation metric 'lpips'"),
    ("verm.task.tasks=[chart,latex]", "unknown task 'latex' (verm.task.tasks); valid: chart, table, svg"),
    ("verm.reward.parse_fallback=mean", "valid: batch_mean, severity or a number"),
])
def test_unknown_names_fail_before_and_after_composition_with_the_valid_names(override, message):
    with pytest.raises(ConfigError) as before:
        check_overrides([override])
    assert message in str(before.value)
    cfg = compose_cfg([override])  # a name is a string to Hydra: the check after composition catches it too
    with pytest.raises(ConfigError) as after:
        check_config(cfg)
    assert message in str(after.value)


def test_a_choice_sweep_is_checked_value_by_value():
    check_overrides(["verm.reward.norm=fixed,batch_max,30"])
    with pytest.raises(ConfigError, match="unknown verm.reward.norm 'batchmax'"):
        check_overrides(["verm.reward.norm=fixed,batchmax"])


def test_wrong_type_fails_at_composition():
    with pytest.raises(ConfigCompositionException) as err:
        compose_cfg(["verm.reward.fixed_norm=fifty"])
    assert "fixed_norm" in str(err.value.__cause__)
    with pytest.raises(ConfigError, match=r"verm\.pipeline\.max_batch_size: Value 'many'"):
        verm_config({"pipeline": {"max_batch_size": "many"}})


def test_a_bad_reward_formula_fails_in_the_check():
    cfg = compose_cfg(["+verm.reward.formula={table: neg_sev}"])
    with pytest.raises(ConfigError, match="verm.reward: reward formula must be one of"):
        check_config(cfg)


# ------------------------------------------------------------------------ the overrides users type still work


def test_readme_and_sweep_overrides_compose_and_check():
    overrides = ["experiment=table2md_verm", "+verm.reward.formula={table: neg_severity}",
                 "+verm.judge.per_task.table.max_tokens=4096", "verm.reward.parse_fallback=severity",
                 "verm.render.pool_size=auto", "verm.run.seed=1", "verm.run.group=abl-1", "verm.reward.norm=batch_max",
                 "verm.judge.on_parse_failure=keep"]
    check_overrides(overrides)
    cfg = compose_cfg(overrides)
    check_config(cfg)
    typed = verm_config(cfg.verm)
    assert typed.reward.formula == {"table": "neg_severity"} and typed.reward.norm == "batch_max"
    assert typed.judge.per_task == {"table": {"max_tokens": 4096}} and typed.render.pool_size == "auto"
    assert cfg.trainer.experiment_name == "table2md__verm__qwen3_vl_8b__s1" and typed.run.group == "abl-1"
    from reward_workers.factory import reward_config

    r = reward_config(typed.reward)
    assert r.formula_for("table") == "neg_severity" and r.parse_fallback == "severity" and r.norm == "batch_max"


def test_the_composed_config_pickles_and_takes_the_trainer_summary():
    """verl ships the config to Ray actors (pickle); the trainer writes verm.summary under open_dict."""
    from recipes.visual_erm.config_check import run_summary

    cfg = compose_cfg(["experiment=chart2code_verm"])
    with open_dict(cfg):
        cfg.verm.summary = run_summary(cfg)
    back = pickle.loads(pickle.dumps(cfg))
    assert OmegaConf.get_type(back.verm) is VermConfig and back.verm.summary.arm == "verm"
    assert verm_config(back.verm).summary["task"] == "chart2code"


# ------------------------------------------------------------------------ defaults in one place


def test_the_reward_norm_is_set_in_one_place():
    cfg = compose_cfg(["experiment=chart2code_verm"])
    assert cfg.verm.reward.fixed_norm == RELEASED_MAX_SEVERITY == SeverityRewardConfig().fixed_norm
    assert RewardSection().fixed_norm == RELEASED_MAX_SEVERITY
    from reward_workers.factory import reward_config

    assert reward_config({}).fixed_norm == RELEASED_MAX_SEVERITY
    for dirpath, _, files in os.walk(CONFIG_DIR):  # no preset restates it, the factory has no literal
        for name in files:
            if name.endswith(".yaml"):
                assert "fixed_norm:" not in open(os.path.join(dirpath, name)).read(), name
    factory = open(os.path.join(ROOT, "reward_workers", "factory.py")).read()
    assert not re.search(r"\b50(\.0)?\b", factory) and not re.search(r"\.get\([^)]*,", factory)  # no .get(k, 50)


def test_render_defaults_come_from_render_options():
    section = RenderSection()
    assert section.options() == RenderOptions()
    names = {f.name for f in dataclasses.fields(RenderOptions)}
    assert names <= {f.name for f in dataclasses.fields(RenderSection)}
    cfg = compose_cfg(["experiment=chart2code_verm"])
    from reward_workers.factory import render_options

    opts = render_options(cfg.verm.render)
    # what the recipe chooses (the released chart rendering); every other option is RenderOptions' default
    want = dataclasses.asdict(RenderOptions(dpi="figure", chart_output="released"))
    assert opts == {k: v for k, v in want.items() if v is not None} and "timeout_s" not in opts


def test_judge_concurrency_and_timeouts_agree_between_yaml_and_code(tmp_path):
    """The cluster values (256 in flight, 600 s) are the schema's defaults: composed presets and a judge built
    from a bare mapping get the same."""
    from reward_workers.factory import build_judge

    for preset in ("verl_rm", "http"):
        cfg = compose_cfg([f"verm/judge={preset}", "verm/cluster=1node"])
        assert (cfg.verm.judge.max_concurrency, cfg.verm.judge.timeout_s) == (256, 600.0)
        judge = build_judge(cfg.verm.judge, pool=None, reward_router_address="http://10.0.0.1:9")
        assert (judge.cfg.max_concurrency, judge.cfg.timeout_s, judge.cfg.retries) == (256, 600.0, 3)
    bare = build_judge({"backend": "http", "endpoints": ["http://10.0.0.1:9"]}, pool=None)
    assert (bare.cfg.max_concurrency, bare.cfg.timeout_s, bare.cfg.model) == (256, 600.0, "reward_service")
    for dirpath, _, files in os.walk(os.path.join(CONFIG_DIR, "verm", "judge")):
        for name in files:  # the presets no longer restate what the schema sets
            text = open(os.path.join(dirpath, name)).read()
            assert "max_concurrency" not in text and "timeout_s" not in text, name


def test_schema_names_agree_with_the_code_that_reads_them():
    from recipes.visual_erm.config_check import ARMS
    from recipes.visual_erm.validation import COMMON_METRICS
    from verm_rl.config import schema
    from verm_rl.judge.profiles import IMAGE_KEYS, SAMPLING_KEYS

    assert tuple(ARMS) == schema.ARMS
    assert tuple(COMMON_METRICS) == schema.COMMON_METRICS
    assert set(JUDGE_SETTING_KEYS) == set(SAMPLING_KEYS) | set(IMAGE_KEYS)
    arm_files = sorted(p[:-5] for p in os.listdir(os.path.join(CONFIG_DIR, "verm", "reward")))
    assert arm_files == sorted(schema.ARMS)
    judge_files = sorted(p[:-5] for p in os.listdir(os.path.join(CONFIG_DIR, "verm", "judge")))
    assert judge_files == sorted(schema.JUDGE_BACKENDS)


def test_every_schema_field_is_documented_where_it_is_defined():
    """A comment on the field's line or the line above it (RenderOptions' own fields are documented there)."""
    import inspect

    from verm_rl.config import schema

    lines = inspect.getsource(schema).splitlines()
    undocumented = []
    for cls in (schema.RunSection, schema.ValidationSection, schema.RenderPoolSection, schema.PipelineSection,
                schema.LoggingSection, schema.TaskSection, schema.ModelSection, schema.ClusterSection,
                schema.ActorSection, schema.RayActorSection, schema.DinoSection, schema.JudgeSettings, schema.JudgeSection, schema.RewardSection, schema.VermConfig):
        src, start = inspect.getsourcelines(cls)
        own = set(cls.__annotations__)
        for i, line in enumerate(src):
            m = re.match(r"\s+(\w+): ", line)
            if m and m.group(1) in own and not dataclasses.is_dataclass(
                    typing.get_type_hints(cls)[m.group(1)]):  # a section: its class docstring documents it
                above = lines[start + i - 2].strip()
                if "#" not in line and not above.startswith("#"):
                    undocumented.append(f"{cls.__name__}.{m.group(1)}")
    assert not undocumented, undocumented


def test_a_value_is_not_a_section():
    from verm_rl.config import check_key

    with pytest.raises(ConfigError, match="verm.reward.fixed_norm is a value, not a section"):
        check_key("verm.reward.fixed_norm.table")
    check_key("verm.reward.per_task_norm.table")  # a mapping: its keys are task names, checked after composition
    check_key("verm.judge.per_task.table.max_tokens")


def test_the_schema_imports_neither_ray_nor_verl_nor_hydra():
    code = ("import sys; import verm_rl.config; "
            "bad = sorted(m for m in ('ray', 'verl', 'hydra') if m in sys.modules); print(bad); sys.exit(bool(bad))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
