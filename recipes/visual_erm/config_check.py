"""What each reward arm is, and a check that a composed config is one of them.

Every entry point (``main.py``, ``cpu_step.py``, the launch plan) calls :func:`check_config` right
after Hydra composition: the ``verm`` section is checked against its schema (``verm_rl/config``: an
unknown key, including one added with ``+``, or an unknown arm, judge, engine, task or render option
fails with the valid keys or names), then the arm's own rules (its judge, its tasks, verl's
reward-model pool), all before any GPU is touched. :func:`check_overrides` checks ``verm.*`` command-line
overrides the same way before Hydra composes (Hydra's own message names the key but not the valid
ones). :func:`arm_summary` is what the arm *actually* is in a composed config (judge used, verl's
reward-model pool, judge GPUs held, reward formula); the README table of arms is generated from it
by a test. Plain functions on the config, no Ray or verl.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from verm_rl.config import ConfigError, check_key, check_value, verm_config
from verm_rl.config.schema import ENGINES, JUDGE_BACKENDS

__all__ = ["ARMS", "ConfigError", "ENGINES", "JUDGE_BACKENDS", "check_config", "check_overrides"]


@dataclass(frozen=True)
class Arm:
    judges: tuple[str, ...]  # verm/judge backends this arm may run with (the first is what the arm picks)
    scorer: str  # what produces the visual term
    formula: str  # with the arm's default weights
    tasks: tuple[str, ...] | None = None  # tasks the arm can score (None: all)
    table: str = ""  # where the paper reports it


VISUAL_ERM_JUDGES = ("verl_rm", "http", "ray_actor")
ARMS: dict[str, Arm] = {
    "verm": Arm(VISUAL_ERM_JUDGES, "Visual-ERM", "r_rsr + clip(1 − ΣS/norm, 0, 1)", table="Tables 1–3, 12"),
    "verm_no_rsr": Arm(VISUAL_ERM_JUDGES, "Visual-ERM", "clip(1 − ΣS/norm, 0, 1)", table="Table 11 (w/o RSR)"),
    "structural": Arm(("structural",), "structural critic", "r_rsr + clip(1 − ΣS/norm, 0, 1)",
                      table="ours (no judge GPU)"),
    "render_only": Arm(("none",), "none", "r_rsr", table="baseline (not in the paper)"),
    "ssim": Arm(("none",), "SSIM (CPU)", "r_rsr + SSIM", table="baseline (not in the paper)"),
    "teds": Arm(("none",), "TEDS (CPU)", "r_rsr + TEDS", tasks=("table",), table="Table 2"),
    "dino": Arm(("none",), "DINOv2 actors", "0.9·DINO + 0.1·format", table="Tables 1–3"),
}
SIMILARITIES = {"ssim": ("ssim", "l2"), "teds": ("teds", "teds_s")}


def _get(cfg: Any, path: str, default: Any = None) -> Any:
    value = OmegaConf.select(cfg, path, default=default) if isinstance(cfg, DictConfig) else None
    if value is None and not isinstance(cfg, DictConfig):
        value = cfg
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        value = default if value is None else value
    return value


def _one_of(kind: str, value: Any, valid: tuple[str, ...] | list[str], where: str = "") -> None:
    if value not in valid:
        raise ConfigError(f"unknown {kind} {value!r}{f' ({where})' if where else ''}; valid: {', '.join(valid)}")


def _one_of_each(kind: str, values: Any, valid: tuple[str, ...], where: str) -> None:
    for value in values:
        _one_of(kind, value, valid, where)


def typed_tasks() -> tuple[str, ...]:
    from verm_rl.tasks import TASKS

    return tuple(TASKS)


def check_config(cfg: DictConfig | dict) -> None:
    """Raise :class:`ConfigError` unless ``verm`` fits its schema and is a known arm with a judge and tasks
    it supports."""
    verm = _get(cfg, "verm")
    typed = verm_config(verm)
    arm_name = typed.reward.name
    arm = ARMS[arm_name]
    backend = typed.judge.backend
    if backend not in arm.judges:
        raise ConfigError(f"reward arm {arm_name!r} runs with verm/judge={' or '.join(arm.judges)}, not {backend!r} "
                          f"(the arm picks its judge: drop the verm/judge override)")
    if arm_name in SIMILARITIES:
        _one_of(f"{arm_name} similarity", typed.reward.similarity, SIMILARITIES[arm_name], "verm.reward.similarity")
    elif typed.reward.similarity is not None:
        raise ConfigError(f"verm.reward.similarity={typed.reward.similarity!r} applies to the "
                          f"{' and '.join(SIMILARITIES)} arms only, not {arm_name!r} (it would be ignored)")
    if isinstance(typed.reward.formula, dict):
        _one_of_each("task", typed.reward.formula, typed_tasks(), "verm.reward.formula")
    if backend == "http" and not typed.judge.endpoints:
        raise ConfigError("verm.judge.endpoints is empty: the http judge needs at least one base URL, e.g. "
                          "verm.judge.endpoints=[http://judge-host:8000]")
    if str(typed.render.pool_size).lower() == "auto" and typed.render.num_cpus_per_actor <= 0:
        raise ConfigError("verm.render.pool_size=auto needs verm.render.num_cpus_per_actor > 0 (the cpu preset sets "
                          "0): give a number of render actors or CPUs per actor")
    tasks = list(typed.task.tasks)
    if arm.tasks is not None and any(t not in arm.tasks for t in tasks):
        raise ConfigError(f"reward arm {arm_name!r} scores only {', '.join(arm.tasks)}, not {tasks}")
    try:
        typed.reward.severity_config()  # the formula and fallback names, as the reward workers will read them
    except ValueError as e:
        raise ConfigError(f"verm.reward: {e}") from None
    rm_on = bool(_get(cfg, "reward.reward_model.enable", False))
    if rm_on != (backend == "verl_rm"):
        raise ConfigError(f"reward.reward_model.enable={rm_on} with judge {backend!r}: verl's reward-model pool "
                          "must be on exactly when the judge is verl_rm")


def check_overrides(overrides: list[str] | tuple[str, ...]) -> None:
    """Raise :class:`ConfigError` for a ``verm.*`` override whose key is not in the schema (with or without
    ``+``) or whose value is not one of the key's names, before Hydra composes. Group choices (``verm/reward=``)
    are Hydra's to check (it lists the options); anything this cannot parse is left to Hydra."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import ChoiceSweep

    check_group_overrides(overrides)
    wanted = [o for o in overrides if o.lstrip("+~").startswith("verm.")]
    if not wanted:
        return
    try:
        parsed = OverridesParser.create().parse_overrides(wanted)
    except Exception:  # Hydra reports its own syntax errors
        return
    for o in parsed:
        key = o.key_or_group
        check_key(key)
        if o.is_delete():
            continue
        if o.is_sweep_override():
            values = list(o.value().list) if isinstance(o.value(), ChoiceSweep) else []
        else:
            values = [o.value()]
        for value in values:
            if not (isinstance(value, str) and "${" in value):
                check_value(key, value)



CONFIG_DIR = Path(__file__).resolve().parents[2] / "hydra_configs"  # main.py's ../../hydra_configs


def check_group_overrides(overrides: list[str] | tuple[str, ...], config_dir: Path = CONFIG_DIR) -> None:
    """Raise :class:`ConfigError` for ``verm/<group>=<option>`` or ``experiment=<preset>`` naming a group or an
    option that has no file: Hydra drops an unknown option of the optional ``experiment`` group silently, and
    answers a misspelt group with a hint to add it with ``+``."""
    import difflib

    groups = sorted(f"verm/{p.name}" for p in (config_dir / "verm").iterdir() if p.is_dir())
    for o in overrides:
        key, sep, value = o.lstrip("+~").partition("=")
        if not sep or not (key.startswith("verm/") or key == "experiment") or not value or "${" in value:
            continue
        if key not in groups and key != "experiment":
            near = difflib.get_close_matches(key, groups, n=1)
            raise ConfigError(f"unknown config group {key}{f' (did you mean {near[0]}?)' if near else ''}; valid "
                              f"groups: {', '.join(groups)}, experiment")
        options = sorted(p.stem for p in (config_dir / key).glob("*.yaml"))
        for option in value.split(","):  # a sweep: a,b,c
            option = option.strip()
            if option and option != "null" and option not in options:
                near = difflib.get_close_matches(option, options, n=1)
                hint = f" (did you mean {key}={near[0]}?)" if near else ""
                raise ConfigError(f"unknown {key} option {option!r}{hint}; valid: {', '.join(options)}")


def run_checked(main: Callable[[], Any], argv: list[str] | None = None) -> Any:
    """A Hydra entry's command line: the ``verm.*`` overrides in ``argv`` (default ``sys.argv[1:]``) are checked
    against the schema first (a typo exits naming the valid keys, with no traceback), then ``main`` runs."""
    try:
        check_overrides(sys.argv[1:] if argv is None else argv)
    except ConfigError as e:
        sys.exit(f"config error: {e}")
    return main()

def judge_gpus(cfg: DictConfig | dict) -> int:
    """GPUs of this job the arm's judge holds (verl's RM pool, Visual-ERM actors or DINO actors)."""
    arm_name = _get(cfg, "verm.reward.name")
    backend = _get(cfg, "verm.judge.backend")
    pool = int(_get(cfg, "reward.reward_model.nnodes", 0) or 0) * int(_get(cfg, "reward.reward_model.n_gpus_per_node",
                                                                            0) or 0)
    cluster_judge = _get(cfg, "verm.cluster.judge_nnodes")
    if cluster_judge is not None:
        pool = int(cluster_judge) * int(_get(cfg, "verm.cluster.judge_gpus_per_node", 0) or 0)
    if backend == "verl_rm":
        return pool
    actors = _get(cfg, "verm.reward.dino") if arm_name == "dino" else (
        _get(cfg, "verm.judge.ray_actor") if backend == "ray_actor" else None)
    if actors is None:
        return 0
    n = _get(actors, "num_actors")
    return pool if n is None else int(n) * int(-(-float(_get(actors, "num_gpus", 1)) // 1))


def arm_summary(cfg: DictConfig | dict) -> dict[str, Any]:
    """What the arm in ``cfg`` is: the row of the README table of arms."""
    arm_name = _get(cfg, "verm.reward.name")
    arm = ARMS[arm_name]
    backend = _get(cfg, "verm.judge.backend")
    w = {k: float(_get(cfg, f"verm.reward.{k}", 0.0) or 0.0) for k in ("w_render", "w_verm", "w_format")}
    scorer = arm.scorer
    if arm_name in SIMILARITIES:
        scorer = f"{_get(cfg, 'verm.reward.similarity')} (CPU)"
    return {"arm": arm_name, "judge": backend, "scorer": scorer,
            "rm_pool": bool(_get(cfg, "reward.reward_model.enable", False)),
            "judge_gpus": judge_gpus(cfg), "weights": w, "formula": reward_formula(arm_name, w),
            "paper": arm.table}


def reward_formula(arm_name: str, w: dict[str, float]) -> str:
    """The reward as the weights make it (terms with weight 0 left out)."""
    visual = {"verm": "clip(1 − ΣS/norm, 0, 1)", "verm_no_rsr": "clip(1 − ΣS/norm, 0, 1)",
              "structural": "clip(1 − ΣS/norm, 0, 1)", "ssim": "SSIM", "teds": "TEDS", "dino": "DINO",
              "render_only": "0"}[arm_name]
    terms = []
    for key, term in (("w_render", "r_rsr"), ("w_verm", visual), ("w_format", "format")):
        if w[key] and term != "0":
            terms.append(term if w[key] == 1 else f"{w[key]:g}·{term}")
    return " + ".join(terms) or "0"


def run_name(cfg: DictConfig | dict) -> str:
    """``<task>__<arm>__<model>__s<seed>``: the wandb run name used by presets and ``sweep.sh``."""
    return (f"{_get(cfg, 'verm.task.name')}__{_get(cfg, 'verm.reward.name')}__{_get(cfg, 'verm.model.name')}"
            f"__s{_get(cfg, 'verm.run.seed', 0)}")


def run_tags(cfg: DictConfig | dict) -> list[str]:
    """wandb tags: task, arm, judge, model, cluster (as ``key:value``) plus ``verm.run.tags``."""
    tags = [f"task:{_get(cfg, 'verm.task.name')}", f"arm:{_get(cfg, 'verm.reward.name')}",
            f"judge:{_get(cfg, 'verm.judge.backend')}", f"model:{_get(cfg, 'verm.model.name')}",
            f"cluster:{_get(cfg, 'verm.cluster.name', None) or _cluster_shape(cfg)}"]
    return tags + [str(t) for t in (_get(cfg, "verm.run.tags", []) or [])]


def _cluster_shape(cfg: DictConfig | dict) -> str:
    return f"{_get(cfg, 'trainer.nnodes', 1)}x{_get(cfg, 'trainer.n_gpus_per_node', 0)}"


def run_summary(cfg: DictConfig | dict) -> dict[str, Any]:
    """The ``verm`` summary put into the wandb config (what to filter and group runs by)."""
    s = arm_summary(cfg)
    return {"name": run_name(cfg), "group": _get(cfg, "verm.run.group"), "tags": run_tags(cfg),
            "task": _get(cfg, "verm.task.name"), "tasks": list(_get(cfg, "verm.task.tasks", []) or []),
            "arm": s["arm"], "judge": s["judge"], "scorer": s["scorer"], "formula": s["formula"],
            "rm_pool": s["rm_pool"], "judge_gpus": s["judge_gpus"], "model": _get(cfg, "verm.model.name"),
            "seed": _get(cfg, "verm.run.seed", 0), "norm": _get(cfg, "verm.reward.norm", "fixed")}


TABLE_HEADER = ("| arm (`verm/reward=`) | judge (`verm/judge`) | verl RM pool | judge GPUs held (1node) | reward "
                "| paper |\n|---|---|---|---|---|---|")


def arm_table(summaries: list[dict[str, Any]]) -> str:
    """The README table of arms from :func:`arm_summary` rows."""
    rows = [f"| `{s['arm']}` | {s['judge']} → {s['scorer']} | {'on' if s['rm_pool'] else 'off'} | "
            f"{s['judge_gpus']} | {s['formula']} | {s['paper'] or '—'} |" for s in summaries]
    return "\n".join([TABLE_HEADER, *rows])


def compose_arm(arm: str, config_dir: str, extra: list[str] | None = None) -> DictConfig:
    """The config of one arm on the reference cluster (1 node), as Hydra composes it."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=config_dir, version_base=None):
        task = "verm/task=table2md" if ARMS[arm].tasks == ("table",) else "verm/task=chart2code"
        return compose(config_name="visual_erm", overrides=[task, f"verm/reward={arm}", "verm/cluster=1node",
                                                            *(extra or [])])


if __name__ == "__main__":  # print the README table: python -m recipes.visual_erm.config_check
    import os

    config_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "hydra_configs")
    print(arm_table([arm_summary(compose_arm(a, os.path.abspath(config_dir))) for a in ARMS]))
