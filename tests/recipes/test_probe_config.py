"""Probe configs and launch as a cluster user running ablations would.

1. Every command line the docs show (README.md, recipes/visual_erm/README.md, the presets' header comments, the
   Slurm scripts' headers, the Makefile) is read from the files themselves: each composes against verl 0.9.1's
   config with our typed schema, passes ``check_config`` and the preflight (``verm-rl plan`` on the allocation
   the command asks for, as ``launch.sh`` runs it); the error examples print what the README shows.
2. Ablation overrides a user types — and their typos, wrong types, nulls, out-of-range numbers and list/scalar
   mistakes — fail before anything starts with a message naming the key and what is valid.
3. Values set by both the schema and a preset agree, or the preset documents its own.

Real Hydra composition in-process (no Ray, no subprocess except bash expanding ``slurm/sweep.sh``).
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import re
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from recipes.visual_erm import plan as P
from recipes.visual_erm.config_check import ConfigError, check_config, check_overrides

ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = ROOT / "hydra_configs"
DOC_FILES = [ROOT / "README.md", ROOT / "recipes" / "visual_erm" / "README.md", ROOT / "Makefile",
             *sorted((ROOT / "slurm").glob("*.sh")), *sorted(CONFIG_DIR.rglob("*.yaml"))]
ENTRIES = ("slurm/submit.sh", "slurm/launch.sh", "slurm/sweep.sh", "slurm/train_judge.sh",
           "recipes.visual_erm.main", "recipes.visual_erm.cpu_step", "recipes.visual_erm.plan", "verm-rl plan")
LAUNCH_GPUS = 8  # launch.sh's #SBATCH --gpus-per-node
CPUS_PER_NODE = 64  # the README's plan example


# ---------------------------------------------------------------------------------------------------- extraction


@dataclass
class Command:
    where: str  # file:line
    line: str  # as written (continuations joined)
    argv: list[str]
    comment: str = ""  # the trailing comment (may state the sbatch shape)
    expected_error: str | None = None  # a `$ cmd` example: the output lines shown under it
    env: dict[str, str] = field(default_factory=dict)


def _doc_lines(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line number, text, following lines) of the places a command may be written: code blocks of a Markdown
    file, comment lines of YAML and shell files, every line of the Makefile."""
    raw = path.read_text().splitlines()
    out = []
    in_block = shell_session = False
    for i, line in enumerate(raw):
        if path.suffix == ".md":
            if line.lstrip().startswith("```"):
                in_block = not in_block
                if in_block:  # a block of `$ cmd` + output: only the `$` lines are commands
                    end = next((j for j in range(i + 1, len(raw)) if raw[j].lstrip().startswith("```")), len(raw))
                    shell_session = any(x.startswith("$ ") for x in raw[i + 1:end])
                continue
            if in_block and (line.startswith("$ ") or not shell_session):
                out.append((i + 1, line, raw[i + 1:i + 6]))
        elif path.name == "Makefile":
            out.append((i + 1, line.strip(), []))
        elif path.suffix == ".sh" and not line.startswith("#"):
            break  # a script's header comment only
        elif line.lstrip().startswith("#") and not line.startswith("#!"):
            out.append((i + 1, line.lstrip().lstrip("#").strip(), []))
    return out


def _clean(line: str) -> tuple[str, str]:
    """The command of a doc line without its prose (``Launch:``, ``(or …: …)``, ``(= …)``) and its trailing
    comment; returns (command, comment)."""
    for label in ("Launch:", "Override:"):
        line = line.replace(label, "")
    m = re.search(r"\(=\s*(.*?)\)", line)
    if m:
        line = m.group(1)
    line = re.sub(r"\s{2,}\([^()]*\)$", "", line.strip())  # a trailing remark: `   (the default judge)`
    if line.startswith("(or "):
        line = re.split(r":\s|\)$", line[4:])[0]
    parts = re.split(r"\s+#\s*", line, maxsplit=1)
    command, comment = parts[0], parts[1] if len(parts) > 1 else ""
    return command.strip().removeprefix("$ ").strip(), comment


def doc_commands() -> list[Command]:
    """Every launch / train / plan command line the docs show."""
    commands = []
    for path in DOC_FILES:
        lines = _doc_lines(path)
        i = 0
        while i < len(lines):
            number, text, after = lines[i]
            while text.endswith("\\") and i + 1 < len(lines):  # a continued command
                i += 1
                text = text[:-1].rstrip() + " " + lines[i][1].strip()
            i += 1
            shown_as_run = text.lstrip().startswith("$ ")
            command, comment = _clean(text)
            if not any(e in command for e in ENTRIES) or "..." in command or "…" in command or \
                    not re.match(r'([A-Z_]+=("[^"]*"|\S+)\s+)*(sbatch|bash|verm-rl|python|\.venv/bin/python|slurm/)',
                                 command):
                continue
            if "recipes.visual_erm.plan --sbatch-args" in command or "$@" in command:  # the scripts' own calls
                continue
            command = re.sub(r"<([\w-]+)>", r"\1", command)  # a placeholder host: <judge-host> -> judge-host
            try:
                argv = shlex.split(command)
            except ValueError as e:
                raise ValueError(f"{path.relative_to(ROOT)}:{number}: {command!r}: {e}") from None
            env = {}
            while argv and re.fullmatch(r"[A-Z_]+=.*", argv[0]):
                k, _, v = argv.pop(0).partition("=")
                env[k] = v
            expected = None
            if shown_as_run:
                shown = []
                for nxt in after:
                    if nxt.startswith("$ ") or nxt.startswith("```"):
                        break
                    shown.append(nxt.strip())
                expected = " ".join(shown)
            commands.append(Command(f"{path.relative_to(ROOT)}:{number}", text, argv, comment, expected, env))
    return commands


COMMANDS = doc_commands()


def test_the_docs_show_every_kind_of_command():
    """The extraction finds the commands a cluster user copies (a change in the docs' format must not make this
    test check nothing)."""
    kinds = {e for c in COMMANDS for e in ENTRIES if e in " ".join(c.argv)}
    assert kinds >= {"slurm/submit.sh", "slurm/launch.sh", "slurm/sweep.sh", "slurm/train_judge.sh",
                     "recipes.visual_erm.main", "recipes.visual_erm.cpu_step", "verm-rl plan"}, kinds
    experiments = {p.stem for p in (CONFIG_DIR / "experiment").glob("*.yaml")}
    shown = {a.split("=", 1)[1] for c in COMMANDS for a in c.argv if a.startswith("experiment=")}
    assert experiments <= shown, f"presets with no launch command in their header: {experiments - shown}"
    assert len(COMMANDS) >= 40 and sum(c.expected_error is not None for c in COMMANDS) >= 2


# ---------------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def cluster_files(tmp_path_factory):
    """What a user has on the cluster before launching: model folders (POLICY_PATH, VISUAL_ERM_PATH, DINOV2_PATH,
    the tiny model), the data files the presets name (relative to the submit directory) and imported judge
    prompts under $HOME."""
    root = tmp_path_factory.mktemp("cluster")
    env = {}
    for var, name in (("POLICY_PATH", "policy"), ("VISUAL_ERM_PATH", "judge"), ("DINOV2_PATH", "dinov2"),
                      ("VERM_TINY_MODEL", "tiny")):
        (root / "models" / name).mkdir(parents=True)
        (root / "models" / name / "config.json").write_text('{"text_config": {"max_position_embeddings": 262144}}')
        env[var] = str(root / "models" / name)
    for task in ("chart2code", "table2md", "svg2code"):
        (root / "data" / task).mkdir(parents=True)
        for split in ("train", "val"):
            (root / "data" / task / f"{split}.parquet").write_bytes(b"PAR1")
    (root / "home" / "verm_prompts").mkdir(parents=True)
    for task in ("chart", "table", "svg"):
        (root / "home" / "verm_prompts" / f"{task}.txt").write_text(f"the {task} judge prompt\n")
    env["HOME"] = str(root / "home")
    saved = {k: os.environ.get(k) for k in (*env, "RAY_ADDRESS", "VERM_JUDGE_PROMPTS")}
    cwd = os.getcwd()
    os.environ.update(env)
    os.environ.pop("RAY_ADDRESS", None)
    os.environ.pop("VERM_JUDGE_PROMPTS", None)
    os.chdir(root)
    _plan.cache_clear()
    P.compose = lambda overrides: _compose(tuple(overrides))
    yield root
    P.compose = _COMPOSE
    os.chdir(cwd)
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    _plan.cache_clear()


def _expand(argv: list[str]) -> list[str]:
    return [os.path.expandvars(a) for a in argv]


@functools.cache
def _compose(overrides: tuple[str, ...]):
    """``plan.compose`` (what main.py composes), cached: the docs repeat many override lists."""
    return _COMPOSE(list(overrides))


_COMPOSE = P.compose


@functools.cache
def _plan(args: tuple[str, ...]) -> tuple[int, str, str]:
    """``verm-rl plan`` in-process: exit code, stdout, stderr (cached: the docs repeat many commands)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = P.main(list(args))
    return rc, out.getvalue(), err.getvalue()


def sbatch_shape(overrides: list[str]) -> tuple[int, int]:
    """What ``slurm/submit.sh`` passes to sbatch: ``plan --sbatch-args`` on the same overrides."""
    rc, out, err = _plan(("--sbatch-args", *overrides))
    assert rc == 0, err
    m = re.fullmatch(r"--nodes=(\d+) --gpus-per-node=(\d+)\s*", out)
    assert m, out
    return int(m.group(1)), int(m.group(2))


def preflight(overrides: list[str], nodes: int, gpus: int) -> None:
    """``launch.sh``'s preflight (``plan --expect-nodes N --expect-gpus-per-node G``) on an allocation of that
    shape: the config composes, passes check_config, fits, and is the preset for this allocation."""
    rc, out, err = _plan(("--nodes", str(nodes), "--gpus-per-node", str(gpus), "--cpus-per-node",
                          str(CPUS_PER_NODE), "--expect-nodes", str(nodes), "--expect-gpus-per-node", str(gpus),
                          "--no-probe", *overrides))
    assert rc == 0, err + out


def sbatch_opts(argv: list[str]) -> tuple[int, int]:
    nodes, gpus = 1, LAUNCH_GPUS  # Slurm's default node count; launch.sh's #SBATCH --gpus-per-node
    for i, a in enumerate(argv):
        if a.startswith("--nodes="):
            nodes = int(a.split("=")[1])
        elif a in ("-N", "--nodes"):
            nodes = int(argv[i + 1])
        elif a.startswith("--gpus-per-node="):
            gpus = int(a.split("=")[1].split(":")[-1])
    return nodes, gpus


def sweep_jobs(argv: list[str], env: dict[str, str], tmp_path: Path) -> list[list[str]]:
    """The sbatch commands ``slurm/sweep.sh`` submits (``DRY_RUN=1``; its ``plan --sbatch-args`` call answered
    by a stand-in printing a fixed shape: the real shape of each job is checked in-process)."""
    shim = tmp_path / "python"
    shim.write_text("#!/bin/sh\necho --nodes=0 --gpus-per-node=0\n")
    shim.chmod(0o755)
    args = argv[argv.index("slurm/sweep.sh") + 1:]
    out = subprocess.run(["bash", str(ROOT / "slurm" / "sweep.sh"), *args], capture_output=True, text=True,
                         env={**os.environ, **env, "DRY_RUN": "1", "PYTHON": str(shim)}, timeout=60)
    assert out.returncode == 0, out.stderr
    jobs = [shlex.split(line) for line in out.stdout.splitlines() if line.startswith("sbatch ")]
    seeds = env.get("SEEDS", "0").split()
    arms = [a for a in args[1:] if a != "--"][: len(args[1:])]
    assert len(jobs) == len(seeds) * len([a for a in arms if "=" not in a]), out.stdout
    return [j[j.index("slurm/launch.sh") + 1:] for j in jobs]


# ---------------------------------------------------------------------------------------------------- 1: docs


def _run_command(cmd: Command, tmp_path: Path) -> None:
    argv = _expand(cmd.argv)
    joined = " ".join(argv)
    if "slurm/train_judge.sh" in argv:
        overrides = argv[argv.index("slurm/train_judge.sh") + 1:]
        with initialize_config_dir(config_dir=str(CONFIG_DIR / "reward_model_sft"), version_base=None):
            OmegaConf.to_container(compose(config_name="sft", overrides=overrides), resolve=False)
    elif "slurm/submit.sh" in argv:
        overrides = argv[argv.index("slurm/submit.sh") + 1:]
        nodes, gpus = sbatch_shape(overrides)
        stated = re.search(r"--nodes=(\d+) --gpus-per-node=(\d+)", cmd.comment)
        if stated:  # the comment says what submit.sh passes to sbatch
            assert (nodes, gpus) == (int(stated.group(1)), int(stated.group(2))), cmd.comment
        preflight(overrides, nodes, gpus)
    elif "slurm/launch.sh" in argv:
        i = argv.index("slurm/launch.sh")
        preflight(argv[i + 1:], *sbatch_opts(argv[:i]))
    elif "slurm/sweep.sh" in argv:
        for job in sweep_jobs(argv, cmd.env, tmp_path):
            check_overrides(job)
            base = [a for a in job if not a.startswith(("verm.run.seed=", "verm.run.group="))]
            preflight(base, *sbatch_shape(base))
    elif "verm-rl plan" in joined or "recipes.visual_erm.plan" in joined:
        start = argv.index("plan") + 1 if "verm-rl" in argv else argv.index("recipes.visual_erm.plan") + 1
        args = argv[start:]
        if "--nodes" not in args:  # a live cluster: the allocation the preset is for stands in
            overrides = [a for a in args if not a.startswith("-")]
            nodes, gpus = sbatch_shape(overrides)
            args = ["--nodes", str(nodes), "--gpus-per-node", str(gpus), *args]
        rc, out, err = _plan(tuple([*args, "--no-probe"]))
        if cmd.expected_error is None:
            assert rc == 0, err + out
        else:
            assert rc == 2 and _shown(cmd.expected_error, err.strip()), (cmd.expected_error, err)
    else:  # python -m recipes.visual_erm.main / cpu_step: what their command line checks, then the composition
        module = next(a for a in argv if a.startswith("recipes.visual_erm."))
        overrides = argv[argv.index(module) + 1:]
        if cmd.expected_error is not None:
            with pytest.raises(ConfigError) as err:
                check_overrides(overrides)
            assert _shown(cmd.expected_error, f"config error: {err.value}"), (cmd.expected_error, str(err.value))
            return
        check_overrides(overrides)
        cfg = P.compose(overrides)
        check_config(cfg)
        if module.endswith(".main"):
            nodes, gpus = sbatch_shape(overrides)
            preflight(overrides, nodes, gpus)


def _shown(expected: str, actual: str) -> bool:
    """The README's output (wrapped, ``...`` for what it leaves out) matches what the command prints."""
    pattern = r"\s*".join(re.escape(part) for part in expected.replace("...", "\0").split()).replace("\0", ".*")
    return re.fullmatch(pattern, " ".join(actual.split()), re.S) is not None


@pytest.mark.parametrize("cmd", COMMANDS, ids=[c.where for c in COMMANDS])
def test_every_documented_command_composes_checks_and_fits(cmd, cluster_files, tmp_path):
    _run_command(cmd, tmp_path)


def test_launching_without_the_preset_allocation_is_refused_by_the_preflight(cluster_files):
    """The check the documented ``sbatch`` lines must pass: a 4node preset on the 1 node plain ``sbatch`` gives."""
    rc, out, _ = _plan(("--nodes", "1", "--gpus-per-node", "8", "--expect-nodes", "1", "--expect-gpus-per-node",
                        "8", "--no-probe", "experiment=chart2code_verm"))
    assert rc == 2 and "verm/cluster=4node needs 5 node(s)" in out and "sbatch --nodes=5 --gpus-per-node=8" in out


@pytest.mark.parametrize("override, problem", [
    ("trainer.nnodes=0", "[gpus] global_pool (policy actor + rollout) has 0 x 8 = 0 GPUs: set trainer.nnodes x "
                         "trainer.n_gpus_per_node to at least 1 each"),
    ("verm.cluster.judge_gpus_per_node=0", "[gpus] reward_pool (judge (verl reward-model servers)) has 1 x 0 = 0 GPUs"),
    ("actor_rollout_ref.rollout.n=0", "[batch] actor_rollout_ref.rollout.n=0: GRPO samples n >= 1 responses"),
    ("trainer.nnodes=3", "not divisible by the actor's 24 data-parallel ranks"),
])
def test_the_preflight_refuses_verl_sizes_that_would_fail_on_the_cluster(override, problem, cluster_files):
    """verl-level ablation knobs (nnodes, n rollouts, the judge's GPUs): 0 GPUs or 0 rollouts used to pass the
    preflight and fail once verl built its pools."""
    rc, out, _ = _plan(("--nodes", "5", "--gpus-per-node", "8", "--no-probe", "experiment=chart2code_verm", override))
    assert rc == 2 and problem in out, out


def test_the_preflight_refuses_missing_judge_prompts(cluster_files):
    """``verm.judge.prompts`` pointing at no folder (or a half-imported one) failed only when a reward-loop worker
    built its judge, minutes into a GPU job; the preflight names it."""
    rc, out, _ = _plan(("--nodes", "5", "--gpus-per-node", "8", "--no-probe", "experiment=chart2code_verm",
                        "verm.judge.prompts=/nonexistent/verm_prompts"))
    assert rc == 2 and "[judge-prompts]" in out and "/nonexistent/verm_prompts: not a directory" in out
    (cluster_files / "half").mkdir(exist_ok=True)
    (cluster_files / "half" / "chart.txt").write_text("x")
    rc, out, _ = _plan(("--nodes", "5", "--gpus-per-node", "8", "--no-probe", "experiment=chart2code_verm",
                        f"verm.judge.prompts={cluster_files / 'half'}"))
    assert rc == 2 and "[judge-prompts]" in out and "table.txt" in out
    rc, out, _ = _plan(("--nodes", "5", "--gpus-per-node", "8", "--no-probe", "experiment=chart2code_dino",
                        "verm.judge.prompts=/nonexistent/verm_prompts"))  # an arm with no Visual-ERM judge
    assert "[judge-prompts]" not in out


# ---------------------------------------------------------------------------------------------------- 2: ablations


ABLATIONS = [  # each line switches several knobs a user sweeps (kept few: every distinct line is one composition)
    ["experiment=chart2code_verm", "verm/reward=ssim", "verm.reward.similarity=l2", "verm.render.pool_size=auto",
     "verm.render.headroom=0.2"],
    ["experiment=table2md_verm", "verm/reward=teds", "verm.reward.similarity=teds_s", "verm/cluster=2node"],
    ["experiment=table2md_verm", "verm/reward=verm_no_rsr", "verm.reward.norm=batch_max",
     "+verm.reward.per_task_norm={table: 30}"],
    ["experiment=chart2code_verm", "verm/judge=http", "verm.judge.endpoints=[http://judge-node:8000]",
     "verm.judge.timeout_s=120", "verm.judge.max_concurrency=64", "verm.render.pool_size=64",
     "verm.render.timeout_s=20"],
    ["experiment=chart2code_verm", "verm/judge=ray_actor", "verm.judge.ray_actor.num_actors=4",
     "verm/model=vincicoder_8b"],
    ["experiment=svg2code_verm", "verm.reward.norm=30", "+verm.reward.per_task_norm={svg: 20}",
     "verm.render.pool_size=auto", "verm/cluster=2node", "actor_rollout_ref.rollout.n=16"],
    ["experiment=mixed_structural", "verm/task=table2md", "actor_rollout_ref.model.path=${oc.env:POLICY_PATH}"],
    ["experiment=chart2code_verm", "verm/task=mixed", "verm/reward=structural", "verm.logging.sample_rate=0.1"],
    ["experiment=chart2code_verm", "verm/cluster=2node", "verm.judge.temperature=0", "verm.judge.top_k=-1",
     "+verm.judge.per_task.chart.max_tokens=2048", "verm.reward.parse_fallback=0.25"],
]


@pytest.mark.parametrize("overrides", ABLATIONS, ids=[" ".join(a[1:]) for a in ABLATIONS])
def test_ablation_overrides_compose_check_and_fit(overrides, cluster_files):
    check_overrides(overrides)
    cfg = P.compose(overrides)
    check_config(cfg)
    nodes, gpus = sbatch_shape(overrides)
    preflight(overrides, nodes, gpus)


def test_ablation_overrides_land_where_the_code_reads_them(cluster_files):
    from verm_rl.config import verm_config

    cfg = _compose(tuple(ABLATIONS[5]))  # svg, norm 30, per_task_norm {svg: 20}, pool auto, 2node, n 16
    typed = verm_config(cfg.verm)
    assert typed.reward.severity_config().per_task_norm == {"svg": 20.0} and typed.reward.norm == 30
    assert typed.render.pool_size == "auto" and cfg.trainer.nnodes == 1 and cfg.verm.cluster.nodes == 2
    assert cfg.actor_rollout_ref.rollout.n == 16 and sbatch_shape(ABLATIONS[5]) == (2, 8)
    assert verm_config(_compose(("experiment=chart2code_verm",)).verm).reward.per_task_norm == {}


# Each: the override, what the message must say. All fail before Hydra composes (check_overrides: what main.py,
# cpu_step and `verm-rl plan` / submit.sh / sweep.sh run first).
BAD_OVERRIDES = [
    ("verm.reward.nrom=40", "unknown key verm.reward.nrom (did you mean verm.reward.norm?); valid keys of "
                            "verm.reward: name, w_render"),
    ("+verm.judge.timout_s=5", "unknown key verm.judge.timout_s (did you mean verm.judge.timeout_s?)"),
    ("verm.rendr.pool_size=8", "unknown key verm.rendr (did you mean verm.render?)"),
    ("verm.reward.norm=abc", "unknown verm.reward.norm 'abc' (verm.reward.norm); valid: fixed, batch_max or a number"),
    ("verm.reward.norm=0", "verm.reward.norm=0 is out of range: must be a number > 0"),
    ("verm.reward.norm=-50", "verm.reward.norm=-50 is out of range: must be a number > 0"),
    ("verm.reward.norm=null", "verm.reward.norm is null; it needs a number > 0 (or one of: fixed, batch_max)"),
    ("verm.reward.fixed_norm=0", "verm.reward.fixed_norm=0 is out of range: must be a number > 0"),
    ("verm.reward.per_task_norm={table: 0}", "verm.reward.per_task_norm.table=0 is out of range"),
    ("+verm.reward.per_task_norm={latex: 30}", "unknown task 'latex' (verm.reward.per_task_norm); valid: chart, "
                                               "table, svg"),
    ("verm.reward.parse_fallback=1.5", "verm.reward.parse_fallback=1.5 is out of range: must be a number >= 0 and "
                                       "<= 1"),
    ("verm.reward.w_verm=-1", "verm.reward.w_verm=-1 is out of range: must be a number >= 0"),
    ("verm.render.pool_size=-4", "verm.render.pool_size=-4 is out of range: must be an integer >= 1"),
    ("verm.render.pool_size=0", "verm.render.pool_size=0 is out of range: must be an integer >= 1"),
    ("verm.render.pool_size=2.5", "must be an integer >= 1"),
    ("verm.render.pool_size=many", "unknown render pool size 'many' (verm.render.pool_size); valid: auto or a "
                                   "number"),
    ("verm.render.pool_size=null", "verm.render.pool_size is null; it needs an integer >= 1 (or one of: auto)"),
    ("verm.render.pool_size=[8]", "unknown render pool size [8]"),
    ("verm.render.headroom=1", "verm.render.headroom=1 is out of range: must be a number >= 0 and < 1"),
    ("verm.render.num_cpus_per_actor=-1", "must be a number >= 0"),
    ("verm.render.timeout_s=0", "verm.render.timeout_s=0 is out of range: must be a number > 0"),
    ("verm.render.dpi=0", "verm.render.dpi=0 is out of range"),
    ("verm.judge.timeout_s=0", "verm.judge.timeout_s=0 is out of range: must be a number > 0"),
    ("verm.judge.timeout_s=-5", "verm.judge.timeout_s=-5 is out of range"),
    ("verm.judge.timeout_s=null", "verm.judge.timeout_s=null: field 'timeout_s' is not Optional; "
                                  "verm.judge.timeout_s takes a number"),
    ("verm.judge.timeout_s=fast", "verm.judge.timeout_s='fast': Value 'fast' of type 'str' could not be converted "
                                  "to Float; verm.judge.timeout_s takes a number"),
    ("verm.judge.max_concurrency=0", "verm.judge.max_concurrency=0 is out of range: must be an integer >= 1"),
    ("verm.judge.retries=-1", "verm.judge.retries=-1 is out of range"),
    ("verm.judge.top_p=1.5", "verm.judge.top_p=1.5 is out of range: must be a number > 0 and <= 1"),
    ("verm.judge.temperature=-0.1", "verm.judge.temperature=-0.1 is out of range"),
    ("verm.judge.jpeg_quality=101", "must be an integer >= 1 and <= 100"),
    ("verm.judge.backend=vllm", "unknown judge backend 'vllm' (verm.judge.backend); valid: verl_rm, http, ray_actor, "
                                "structural, none"),
    ("verm.judge.backend=null", "verm.judge.backend=null: field 'backend' is not Optional"),
    ("verm.judge.endpoints=http://judge:8000", "verm.judge.endpoints='http://judge:8000': Invalid value assigned: "
                                               "str is not a ListConfig, list or tuple.; verm.judge.endpoints takes "
                                               "a list"),
    ("verm.judge.ray_actor.num_actors=0", "verm.judge.ray_actor.num_actors=0 is out of range"),
    ("verm.judge.ray_actor.num_gpus=-1", "verm.judge.ray_actor.num_gpus=-1 is out of range"),
    ("verm.task.tasks=chart", "verm.task.tasks='chart': Invalid value assigned: str is not a ListConfig, list or "
                              "tuple.; verm.task.tasks takes a list, e.g. [a, b] (names: chart, table, svg)"),
    ("verm.task.tasks=[chart,latex]", "unknown task 'latex' (verm.task.tasks); valid: chart, table, svg"),
    ("verm.validation.common=ssim", "verm.validation.common takes a list"),
    ("verm.run.tags=baseline", "verm.run.tags takes a list"),
    ("verm.run.seed=one", "verm.run.seed takes an integer"),
    ("verm.logging.sample_rate=2", "verm.logging.sample_rate=2 is out of range: must be a number >= 0 and <= 1"),
    ("verm.pipeline.max_batch_size=0", "verm.pipeline.max_batch_size=0 is out of range"),
    ("verm.cluster.nodes=0", "verm.cluster.nodes=0 is out of range: must be an integer >= 1"),
    ("verm.reward.fixed_norm.table=30", "verm.reward.fixed_norm is a value, not a section"),
]


@pytest.mark.parametrize("override, message", BAD_OVERRIDES, ids=[o for o, _ in BAD_OVERRIDES])
def test_a_bad_override_fails_before_composition_naming_the_key_and_what_is_valid(override, message):
    with pytest.raises(ConfigError) as err:
        check_overrides(["experiment=chart2code_verm", override])
    assert message in str(err.value), str(err.value)


# The same mistakes when they reach the composed config another way (a preset file, `+`, a per-task mapping):
# check_config refuses them — every one at once — so the trainer and the preflight never pass them to a worker.
BAD_PRESETS = [
    ({"verm": {"reward": {"norm": 0, "per_task_norm": {"table": -3.0}}, "render": {"pool_size": None},
               "judge": {"timeout_s": 0.0, "per_task": {"table": {"top_p": 3}}}, "logging": {"sample_rate": 1.5}}},
     ["verm.reward.norm=0 is out of range", "verm.reward.per_task_norm.table=-3.0 is out of range",
      "verm.render.pool_size is null", "verm.judge.timeout_s=0.0 is out of range",
      "verm.judge.per_task.table.top_p=3.0 is out of range", "verm.logging.sample_rate=1.5 is out of range"]),
    ({"verm": {"reward": {"norm": None}, "render": {"pool_size": -1},
               "judge": {"per_task": {"chart": {"image_format": "gif"}}}}},
     ["verm.reward.norm is null", "verm.render.pool_size=-1 is out of range", "unknown judge image format 'gif'"]),
    ({"verm": {"render": {"pool_size": "lots"}, "judge": {"per_task": {"chart": {"max_tokens": "lots"}}}}},
     ["unknown render pool size 'lots'", "verm.judge.per_task.chart.max_tokens: Value 'lots'"]),
]


@pytest.fixture(scope="module")
def probe_config_dir(tmp_path_factory):
    import shutil

    config_dir = tmp_path_factory.mktemp("probe") / "hydra_configs"
    shutil.copytree(CONFIG_DIR, config_dir)
    return config_dir


@pytest.mark.parametrize("i", range(len(BAD_PRESETS)))
def test_bad_values_in_a_preset_fail_the_check_all_named(i, probe_config_dir):
    preset, messages = BAD_PRESETS[i]
    (probe_config_dir / "experiment" / f"probe{i}.yaml").write_text("# @package _global_\n" + OmegaConf.to_yaml(
        OmegaConf.create(preset)))
    with initialize_config_dir(config_dir=str(probe_config_dir), version_base=None):
        cfg = compose(config_name="visual_erm", overrides=[f"experiment=probe{i}"])
    with pytest.raises(ConfigError) as err:
        check_config(cfg)
    for message in messages:
        assert message in str(err.value), str(err.value)


@pytest.mark.parametrize("overrides, message", [
    (["experiment=table2md_verm", "+verm.reward.formula={latex: neg_severity}"],
     "unknown task 'latex' (verm.reward.formula); valid: chart, table, svg"),
    (["experiment=chart2code_verm", "verm/judge=http", "verm.judge.endpoints=[]"],
     "verm.judge.endpoints is empty: the http judge needs at least one base URL"),
    (["experiment=cpu_reward_step", "verm.render.pool_size=auto"],
     "verm.render.pool_size=auto needs verm.render.num_cpus_per_actor > 0 (the cpu preset sets 0)"),
    (["experiment=chart2code_verm", "verm.reward.similarity=l2"],
     "verm.reward.similarity='l2' applies to the ssim and teds arms only, not 'verm'"),
])
def test_settings_that_only_failed_later_fail_the_check(overrides, message):
    """Each of these passed check_config (the trainer's first step) and failed or was ignored later: an unknown
    task in a per-task formula silently never applied, an http judge without endpoints failed in every reward-loop
    worker, pool_size=auto with 0 CPUs per actor failed building the pool, a similarity on an arm that has none
    was silently ignored."""
    cfg = _compose(tuple(overrides))
    with pytest.raises(ConfigError) as err:
        check_config(cfg)
    assert message in str(err.value), str(err.value)


def test_a_wrong_group_option_or_syntax_fails_cleanly_in_the_preflight_and_submit(cluster_files):
    """``slurm/submit.sh`` and ``sweep.sh`` call ``plan --sbatch-args``: Hydra's own errors (a verl key typo, a
    mapping set without ``+``, bad syntax) used to come out as a Python traceback there."""
    for overrides, message in (
            (["actor_rollout_ref.rollout.nn=16"], "Could not override 'actor_rollout_ref.rollout.nn'"),
            (["verm.reward.per_task_norm={chart: 30}"], "To append to your config use +verm.reward.per_task_norm"),
            (["verm.reward.norm=[3"], "no viable alternative at input"),
            (["verm/judge=structural"], "reward arm 'verm' runs with verm/judge=verl_rm or http or ray_actor")):
        rc, out, err = _plan(("--sbatch-args", "experiment=chart2code_verm", *overrides))
        assert rc == 2 and out == "" and err.startswith("verm-rl plan: config error: "), err
        assert message in err and "Traceback" not in err and "Config search path" not in err, err
    assert "Available options in 'verm/judge'" in P.hydra_message(_missing_option_error())


def _missing_option_error():
    """Hydra's error for an option with no file (the pre-check catches these first; plan formats Hydra's too)."""
    from hydra.errors import MissingConfigException

    try:
        _hydra_compose(["verm/judge=vllm"])
    except MissingConfigException as e:
        return e
    raise AssertionError("composed")


@pytest.mark.parametrize("override, message", [
    ("experiment=chart2code_vrem", "unknown experiment option 'chart2code_vrem' (did you mean experiment=chart2code_verm?)"
                                   "; valid: chart2code_dino, chart2code_verm"),
    ("verm/rewrd=verm", "unknown config group verm/rewrd (did you mean verm/reward?); valid groups: verm/cluster, "
                        "verm/judge, verm/model, verm/reward, verm/task"),
    ("verm/reward=strucural", "unknown verm/reward option 'strucural' (did you mean verm/reward=structural?); valid: "
                              "dino, render_only, ssim, structural, teds, verm, verm_no_rsr"),
    ("verm/cluster=8node", "unknown verm/cluster option '8node'"),
])
def test_a_group_typo_fails_before_composition_with_the_options(override, message, cluster_files):
    """A misspelt preset (``experiment`` is an optional group) used to compose the *default* config silently:
    ``submit.sh experiment=chart2code_vrem`` submitted a 1-node chart2code run; a misspelt group name got Hydra's
    'use +verm/rewrd' hint."""
    with pytest.raises(ConfigError) as err:
        check_overrides([override])
    assert message in str(err.value), str(err.value)
    rc, out, err_text = _plan(("--sbatch-args", override))
    assert rc == 2 and out == "" and message in err_text, err_text
    if override.startswith("experiment="):  # Hydra itself refuses it too (the group is no longer optional)
        from hydra.errors import MissingConfigException

        with pytest.raises(MissingConfigException):
            _hydra_compose([override])


def _hydra_compose(overrides):
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base=None):
        return compose(config_name="visual_erm", overrides=overrides)


def test_main_exits_with_the_config_error_not_a_traceback(cluster_files):
    """A mistake only check_config sees (an arm with another arm's judge) made Hydra print a traceback; main.py
    now exits with the message, before importing verl."""
    from recipes.visual_erm import main as M

    cfg = _compose(("experiment=chart2code_verm", "verm/judge=structural"))
    with pytest.raises(SystemExit) as exit_:
        M.main.__wrapped__(cfg)  # the function @hydra.main runs with the composed config
    assert str(exit_.value).startswith("config error: reward arm 'verm' runs with verm/judge=verl_rm")


# ---------------------------------------------------------------------------------------------------- 3: consistency


def _leaves(node, prefix=""):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _leaves(v, f"{prefix}.{k}" if prefix else str(k))
    else:
        yield prefix, node


IDENTITY_KEYS = ("cluster.", "reward.name", "judge.backend", "task.", "model.name")


def test_presets_restate_no_schema_default_unless_they_document_it():
    """A ``verm.*`` value a preset sets either differs from the schema's default (the preset chooses it) or the
    preset says why on that line or the one above; numbers and names a preset sets pass the schema's checks."""
    from verm_rl.config import VermConfig

    defaults = OmegaConf.to_container(OmegaConf.structured(VermConfig), resolve=False)
    flat = dict(_leaves(defaults))
    restated = []
    for path in sorted(CONFIG_DIR.rglob("*.yaml")):
        if "reward_model_sft" in path.parts:
            continue
        data = OmegaConf.to_container(OmegaConf.load(path), resolve=False) or {}
        lines = path.read_text().splitlines()
        for key, value in _leaves(data.get("verm", {})):
            # a group's own name and a cluster preset's allocation are stated in full on purpose
            if key in flat and flat[key] == value and not key.startswith(IDENTITY_KEYS):
                leaf = key.rsplit(".", 1)[-1]
                idx = next(i for i, line in enumerate(lines) if re.match(rf"\s*{leaf}:", line))
                if "#" not in lines[idx] and not lines[idx - 1].strip().startswith("#"):
                    restated.append(f"{path.relative_to(CONFIG_DIR)}: verm.{key}={value!r}")
    assert not restated, restated
