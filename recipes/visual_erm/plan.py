"""Placement preflight: will this config fit this cluster, and where does each pool go? Before any GPU is touched.

    verm-rl plan experiment=chart2code_verm verm/cluster=2node                       # RAY_ADDRESS set: live cluster
    verm-rl plan --nodes 2 --gpus-per-node 8 --cpus-per-node 64 experiment=chart2code_verm verm/cluster=2node
    python -m recipes.visual_erm.plan ...                                            # same thing

Composes the config exactly as ``recipes/visual_erm/main.py`` does (same Hydra config dir and name), reads the
cluster (Ray's node table at ``RAY_ADDRESS``, or the shape given on the command line), prints a table of every
pool (policy actor/rollout, judge pool, Ray judge actors, render actors per node, reward-loop workers) and runs
the checks that would otherwise fail minutes into a GPU job. Exit 0 when everything fits, 2 otherwise (each
problem names what is short and by how much).

What verl reserves (traced in verl 0.9.1's source, so render actors get only what is left):
- every GPU of a verl resource pool is a placement-group bundle ``{"CPU": 3, "GPU": 1}``
  (``ResourcePoolManager.max_colocate_count = 3`` → ``RayResourcePool.get_placement_groups``), one STRICT_PACK
  group per node of the pool: ``global_pool`` = trainer.nnodes x trainer.n_gpus_per_node (actor, rollout, ref),
  ``reward_pool`` = reward.reward_model.nnodes x n_gpus_per_node when ``enable_resource_pool`` (trainer_base.py);
- the task runner: 1 CPU (``recipes/visual_erm/main.py``, ``ray.remote(num_cpus=1)``);
- reward-loop workers (``reward.num_workers``) and agent-loop workers (``rollout.agent.num_workers``): plain
  ``ray.remote`` actors, round-robin over alive nodes with CPUs (reward_loop.py, agent_loop.py) — they hold no
  CPU once placed (Ray's default for actors), so they are listed, not subtracted;
- vLLM servers live inside the pools' bundles.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

CONFIG_DIR = Path(__file__).resolve().parents[2] / "hydra_configs"  # the same as main.py's ../../hydra_configs
CONFIG_NAME = "visual_erm"
CPUS_PER_GPU_BUNDLE = 3  # verl ResourcePoolManager.max_colocate_count
TASK_RUNNER_CPUS = 1
JUDGE_RESERVATION = "judge reservation"  # GPUs held for our Ray judge / DINO actors (verm.cluster.judge_*)
NODE_LABEL = "verm-slurm-node"  # set by slurm/launch.sh on every `ray start` (names nodes in errors)


@dataclass
class Node:
    """One Ray node (or one node of a declared shape)."""

    name: str
    gpus: float
    cpus: float
    address: str = ""


@dataclass
class Problem:
    """A check that failed: ``check`` names it, ``message`` says what is short and by how much."""

    check: str
    message: str

    def __str__(self) -> str:
        return f"[{self.check}] {self.message}"


@dataclass
class GpuPool:
    """A verl resource pool: ``nnodes`` STRICT_PACK placement groups of ``gpus_per_node`` GPU bundles each."""

    name: str
    role: str
    nnodes: int
    gpus_per_node: int
    tp: int = 1
    max_model_len: int | None = None
    cpus_per_gpu: float = CPUS_PER_GPU_BUNDLE
    placed_on: list[str] = field(default_factory=list)

    @property
    def gpus(self) -> int:
        return self.nnodes * self.gpus_per_node

    @property
    def replicas(self) -> int:
        return self.gpus // self.tp if self.tp > 0 else 0


@dataclass
class PlanResult:
    nodes: list[Node]
    pools: list[GpuPool]
    judge_actors: list[dict[str, Any]]
    render_actors: dict[str, int]
    reward_workers: dict[str, int]
    agent_workers: dict[str, int]
    free_cpus: dict[str, float]
    problems: list[Problem]

    @property
    def fits(self) -> bool:
        return not self.problems


# ---------------------------------------------------------------------------------------------------- config


def compose(overrides: Sequence[str]):
    """The trainer's config for these Hydra overrides (``@hydra.main(config_path=../../hydra_configs,
    config_name=visual_erm)`` in main.py), composed the same way, ``verm.*`` overrides checked first as main.py
    checks them (:class:`ConfigError` names the valid keys or names)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from recipes.visual_erm.config_check import check_overrides

    check_overrides(list(overrides))
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base=None):
        return hydra_compose(config_name=CONFIG_NAME, overrides=list(overrides))


def _get(cfg: Any, dotted: str, default: Any = None) -> Any:
    from omegaconf import OmegaConf

    value = OmegaConf.select(cfg, dotted, default=default)
    return default if value is None else value


# ---------------------------------------------------------------------------------------------------- cluster


def declared_cluster(nodes: int, gpus_per_node: float, cpus_per_node: float) -> list[Node]:
    """A cluster shape given on the command line (``--nodes/--gpus-per-node/--cpus-per-node``)."""
    if nodes < 1:
        raise ValueError(f"--nodes must be >= 1, got {nodes}")
    return [Node(f"node{i}", float(gpus_per_node), float(cpus_per_node)) for i in range(nodes)]


def nodes_from_ray_table(table: Sequence[dict[str, Any]]) -> list[Node]:
    """Alive nodes of ``ray.nodes()``, named by the launcher's label when present."""
    out = []
    for n in table:
        if not n.get("Alive"):
            continue
        res = n.get("Resources") or {}
        labels = n.get("Labels") or {}
        name = labels.get(NODE_LABEL) or f"{n.get('NodeManagerAddress', '?')}:{n.get('NodeManagerPort', '?')}"
        out.append(Node(name, float(res.get("GPU", 0)), float(res.get("CPU", 0)), n.get("NodeManagerAddress", "")))
    return sorted(out, key=lambda x: x.name)


def live_cluster(address: str | None = None) -> list[Node]:
    """The nodes of the running Ray cluster at ``address`` (default ``RAY_ADDRESS``)."""
    import ray

    ray.init(address=address or os.environ.get("RAY_ADDRESS") or "auto", logging_level="ERROR",
             log_to_driver=False, configure_logging=False)
    try:
        return nodes_from_ray_table(ray.nodes())
    finally:
        ray.shutdown()


# ---------------------------------------------------------------------------------------------------- pools


def gpu_pools(cfg: Any) -> list[GpuPool]:
    """The GPU pools verl creates for this config (trainer_base.py ``init_resource_pool_mgr``)."""
    tp = int(_get(cfg, "actor_rollout_ref.rollout.tensor_model_parallel_size", 1))
    pools = [GpuPool("global_pool", "policy actor + rollout", int(_get(cfg, "trainer.nnodes", 1)),
                     int(_get(cfg, "trainer.n_gpus_per_node", 0)), tp,
                     _get(cfg, "actor_rollout_ref.rollout.max_model_len"))]
    rm = _get(cfg, "reward.reward_model", {})
    if _get(rm, "enable_resource_pool", False):
        role = "judge (verl reward-model servers)" if _get(rm, "enable", False) else JUDGE_RESERVATION
        pools.append(GpuPool("reward_pool", role, int(_get(rm, "nnodes", 0)), int(_get(rm, "n_gpus_per_node", 0)),
                             int(_get(rm, "rollout.tensor_model_parallel_size", 1)),
                             _get(rm, "rollout.max_model_len")))
    elif judge_actors(cfg):
        # no verl reward pool: our judge / DINO actors get their own reservation of the preset's judge GPUs
        nnodes = int(_get(cfg, "verm.cluster.judge_nnodes", 0))
        per_node = int(_get(cfg, "verm.cluster.judge_gpus_per_node", 0))
        cpus = max(a["cpus"] / a["gpus"] for a in judge_actors(cfg) if a["gpus"] > 0) if nnodes * per_node else 0
        if nnodes * per_node > 0:
            pools.append(GpuPool("judge_actor_pool", JUDGE_RESERVATION, nnodes, per_node, cpus_per_gpu=cpus))
    return pools


def judge_actors(cfg: Any) -> list[dict[str, Any]]:
    """Our own GPU Ray actors outside verl: the ``ray_actor`` judge and the DINOv2 similarity reward, counted as
    ``reward_workers`` will start them (``num_actors: null`` fills the judge GPUs of ``verm.cluster``)."""
    from reward_workers.sizing import judge_actor_count
    from verm_rl.config import ClusterSection, DinoSection, RayActorSection, section_config

    cluster = section_config(ClusterSection, _get(cfg, "verm.cluster"), "verm.cluster")

    def actors(key: str, kind: type) -> dict[str, Any]:
        a = section_config(kind, _get(cfg, key), key)  # the schema's defaults for what the preset leaves out
        try:
            count = judge_actor_count(a.num_actors, cluster.judge_nnodes, cluster.judge_gpus_per_node,
                                      float(a.num_gpus), f"{key}.num_actors")
        except ValueError:  # reported by the placement check below as what is short
            count = 0 if a.num_actors is None else int(a.num_actors)
        return {"name": a.name, "count": count, "gpus": float(a.num_gpus), "cpus": float(a.num_cpus)}

    out = []
    if _get(cfg, "verm.judge.backend") == "ray_actor" and _get(cfg, "verm.reward.name") != "dino":
        out.append(actors("verm.judge.ray_actor", RayActorSection))
    if _get(cfg, "verm.reward.name") == "dino":
        out.append(actors("verm.reward.dino", DinoSection))
    return out


def place_pools(pools: list[GpuPool], nodes: list[Node]) -> tuple[dict[str, list[float]], list[Problem]]:
    """Place every pool's per-node groups (``gpus_per_node`` GPUs + 3 CPUs each) first-fit on the nodes, largest
    first, as Ray's STRICT_PACK placement groups must be. Returns what is left per node and what did not fit."""
    free = {n.name: [n.gpus, n.cpus] for n in nodes}
    problems = []
    groups = [(p, i) for p in pools for i in range(p.nnodes) if p.gpus_per_node > 0]
    groups.sort(key=lambda g: -g[0].gpus_per_node)
    for pool, _ in groups:
        need_g, need_c = pool.gpus_per_node, pool.gpus_per_node * pool.cpus_per_gpu
        target = next((n for n in nodes if free[n.name][0] >= need_g and free[n.name][1] >= need_c), None)
        if target is None:
            best = max(free.values(), key=lambda fc: fc[0]) if free else [0.0, 0.0]
            short = (f"{need_g - best[0]:g} GPUs" if best[0] < need_g else
                     f"{need_c - best[1]:g} CPUs ({pool.cpus_per_gpu:g} per GPU bundle)")
            problems.append(Problem("gpu-placement", (
                f"{pool.name} ({pool.role}) needs {pool.nnodes} node(s) with {need_g} GPUs and {need_c} CPUs free "
                f"each; one group did not fit: the best node has {best[0]:g} GPUs, {best[1]:g} CPUs left "
                f"(short by {short})")))
            continue
        free[target.name][0] -= need_g
        free[target.name][1] -= need_c
        pool.placed_on.append(target.name)
    total_gpus = sum(n.gpus for n in nodes)
    need = sum(p.gpus for p in pools)
    if need > total_gpus:
        problems.insert(0, Problem("gpus", f"the pools need {need} GPUs, the cluster has {total_gpus:g}: "
                                           f"short by {need - total_gpus:g} GPUs"))
    return free, problems


def place_judge_actors(actors: list[dict[str, Any]], pools: list[GpuPool], free: dict[str, list[float]]
                       ) -> list[Problem]:
    """Ray judge / DINO actors go on the judge reservation (verl's reward pool when it exists and verl's own
    reward model is off, else ``verm.cluster.judge_nnodes x judge_gpus_per_node``); without any they need
    free GPUs of their own."""
    problems = []
    reserved = next((p for p in pools if p.role == JUDGE_RESERVATION), None)
    for a in actors:
        need = a["count"] * a["gpus"]
        if reserved is not None:
            if need > reserved.gpus:
                problems.append(Problem("judge-actors", (
                    f"{a['count']} x {a['name']} need {need:g} GPUs, the judge reservation "
                    f"(verm.cluster.judge_nnodes x judge_gpus_per_node) has {reserved.gpus}: short by "
                    f"{need - reserved.gpus:g} GPUs")))
            a["placed_on"] = "judge reservation"
            continue
        left = a["count"]
        for name, (g, c) in free.items():
            while left and g >= a["gpus"] and c >= a["cpus"]:
                g, c, left = g - a["gpus"], c - a["cpus"], left - 1
            free[name] = [g, c]
        a["placed_on"] = "free GPUs"
        if left:
            problems.append(Problem("judge-actors", (
                f"{a['count']} x {a['name']} ({a['gpus']:g} GPU each) on GPUs outside verl's pools: "
                f"{left} do not fit, short by {left * a['gpus']:g} GPUs")))
    return problems


def round_robin(count: int, names: list[str]) -> dict[str, int]:
    """verl's placement of reward-loop / agent-loop workers: worker i on node i % len(nodes)."""
    out = dict.fromkeys(names, 0)
    for i in range(count):
        out[names[i % len(names)]] += 1
    return out


def spread(count: int, free_cpus: dict[str, float], cpus_per_actor: float) -> dict[str, int]:
    """Render actors spread over nodes in proportion to their free CPUs (one actor per ``cpus_per_actor``)."""
    names = list(free_cpus)
    if cpus_per_actor <= 0:
        return round_robin(count, names)
    cap = {n: max(0, math.floor(free_cpus[n] / cpus_per_actor)) for n in names}
    out = dict.fromkeys(names, 0)
    for _ in range(count):
        n = max(names, key=lambda x: (cap[x] - out[x], -out[x]))
        out[n] += 1
    return out


def render_actors(cfg: Any, free: dict[str, list[float]]) -> tuple[dict[str, int], list[Problem]]:
    """Render actors per node after every GPU/CPU reservation, ``verm.render.pool_size`` an int or ``auto``."""
    from reward_workers.sizing import render_pool_size
    from verm_rl.config import RenderSection, section_config

    render = section_config(RenderSection, _get(cfg, "verm.render"), "verm.render")
    setting, cpa = render.pool_size, float(render.num_cpus_per_actor)
    free_cpus = {n: max(0.0, fc[1]) for n, fc in free.items()}
    total = sum(free_cpus.values())
    try:
        size = render_pool_size(setting, total, cpa)
    except ValueError as e:
        return {}, [Problem("render-pool", str(e))]
    per_node = spread(size, free_cpus, cpa)
    problems = []
    need = size * cpa
    if need > total:
        problems.append(Problem("render-pool", (
            f"verm.render.pool_size={setting} render actors x {cpa:g} CPU need {need:g} CPUs, {total:g} are free "
            f"after verl's reservations (3 CPUs per GPU, 1 for the task runner): short by {need - total:g} CPUs "
            "(lower verm.render.pool_size or use pool_size=auto)")))
    return per_node, problems


# ---------------------------------------------------------------------------------------------------- checks


def check_model_dir(path: str | None, what: str) -> list[Problem]:
    """A local model folder with a ``config.json`` (verl and vLLM read it on every node)."""
    if not path:
        return [Problem("model", f"{what}: no path set")]
    p = Path(str(path))
    if not p.is_dir():
        return [Problem("model", f"{what}: {p} is not a directory (set POLICY_PATH / VISUAL_ERM_PATH / the "
                                 "model path to a local copy every node can read)")]
    if not (p / "config.json").is_file():
        return [Problem("model", f"{what}: {p} has no config.json")]
    return []


def check_data_files(files: Any, what: str) -> list[Problem]:
    """Every parquet file of ``data.train_files`` / ``data.val_files`` exists (remote URLs are skipped)."""
    if files is None:
        return [Problem("data", f"{what}: not set")]
    items = [files] if isinstance(files, str) else list(files)
    return [Problem("data", f"{what}: {f} does not exist (verm-rl prepare --out {f} ...)")
            for f in items if "://" not in str(f) and not Path(str(f)).is_file()]


def check_tp_divides(gpus: int, tp: int, what: str) -> list[Problem]:
    """vLLM replicas are ``gpus / tp``: TP must divide the pool (and fit in one node for a STRICT_PACK group)."""
    if tp < 1:
        return [Problem("tp", f"{what}: tensor_model_parallel_size must be >= 1, got {tp}")]
    if gpus <= 0:
        return []
    if gpus % tp:
        return [Problem("tp", f"{what}: tensor_model_parallel_size {tp} does not divide its {gpus} GPUs "
                              f"({gpus % tp} GPUs would sit idle)")]
    return []


def check_batch_sizes(cfg: Any) -> list[Problem]:
    """The batch arithmetic verl 0.9.1 asserts at run time, here before any GPU starts:
    - ``train_batch_size >= actor.ppo_mini_batch_size`` (ActorConfig.validate, without dynamic bsz);
    - ``ppo_mini_batch_size x rollout.n`` divisible by the actor's data-parallel size
      (engine_workers.py ``update_actor``: ``mini_batch_size % dp_size == 0``), dp = GPUs / ulysses SP;
    - ``train_batch_size x n`` divisible by the GPU count and micro batches dividing mini batches without
      dynamic bsz (utils/config.py ``validate_config``)."""
    problems = []
    n = int(_get(cfg, "actor_rollout_ref.rollout.n", 1))
    if n < 1:  # verl takes 0 (a step of no samples) and fails later
        problems.append(Problem("batch", f"actor_rollout_ref.rollout.n={n}: GRPO samples n >= 1 responses per "
                                         "prompt (the presets: 8)"))
    n_gpus = int(_get(cfg, "trainer.nnodes", 1)) * int(_get(cfg, "trainer.n_gpus_per_node", 0))
    if n_gpus <= 0:
        return problems
    actor = _get(cfg, "actor_rollout_ref.actor", {})
    train = int(_get(cfg, "data.train_batch_size", 1))
    mini = int(_get(actor, "ppo_mini_batch_size", train))
    sp = int(_get(actor, "ulysses_sequence_parallel_size", 1))
    dynamic = bool(_get(actor, "use_dynamic_bsz", False))
    if n_gpus % sp:
        problems.append(Problem("batch", f"ulysses_sequence_parallel_size {sp} does not divide {n_gpus} GPUs"))
        return problems
    dp = n_gpus // sp
    if train < mini:
        problems.append(Problem("batch", f"data.train_batch_size {train} < actor.ppo_mini_batch_size {mini}"))
    if (mini * n) % dp:
        problems.append(Problem("batch", (
            f"actor.ppo_mini_batch_size x rollout.n = {mini} x {n} = {mini * n} samples per update is not "
            f"divisible by the actor's {dp} data-parallel ranks ({n_gpus} GPUs / SP {sp}); verl asserts it in "
            f"update_actor. Use a GPU count dividing {mini * n}, or a mini batch whose x{n} divides by {dp}")))
    if not dynamic:
        if (train * n) % n_gpus:
            problems.append(Problem("batch", f"data.train_batch_size x n = {train * n} not divisible by "
                                             f"{n_gpus} GPUs"))
        micro = _get(actor, "ppo_micro_batch_size_per_gpu")
        if micro and (mini * n // max(dp, 1)) % int(micro):
            problems.append(Problem("batch", f"per-GPU mini batch {mini * n // dp} not divisible by "
                                             f"ppo_micro_batch_size_per_gpu {micro}"))
    return problems


def check_max_model_len(max_model_len: int | None, prompt: int, response: int, what: str,
                        max_positions: int | None = None) -> list[Problem]:
    """vLLM's context must hold prompt + response, and stay within the model's positions (verl raises above
    ``max_position_embeddings``; unset, verl takes that maximum and vLLM must fit it in KV cache)."""
    if max_model_len is None:
        return [Problem("max_model_len", (
            f"{what}: max_model_len is unset: verl then uses the model's maximum ({max_positions or 'unknown'} "
            f"positions), which vLLM must fit in KV cache; set it to >= {prompt + response} (prompt {prompt} "
            f"+ response {response})"))]
    problems = []
    if max_model_len < prompt + response:
        problems.append(Problem("max_model_len", (
            f"{what}: max_model_len {max_model_len} < prompt {prompt} + response {response} = "
            f"{prompt + response}: short by {prompt + response - max_model_len} tokens")))
    if max_positions and max_model_len > max_positions:
        problems.append(Problem("max_model_len", f"{what}: max_model_len {max_model_len} > the model's "
                                                 f"max_position_embeddings {max_positions}"))
    return problems


def max_positions(model_dir: str | None) -> int | None:
    """``max_position_embeddings`` from a model's config.json (Qwen-VL keeps it in ``text_config``)."""
    try:
        data = json.loads((Path(str(model_dir)) / "config.json").read_text())
    except (OSError, ValueError, TypeError):
        return None
    for section in (data, data.get("text_config") or {}):
        if isinstance(section.get("max_position_embeddings"), int):
            return section["max_position_embeddings"]
    return None


def _is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_judge_endpoints(endpoints: Sequence[str], n_nodes: int, timeout_s: float = 3.0,
                          probe: bool = True) -> list[Problem]:
    """An ``http`` judge endpoint must be reachable from every node: not loopback when there is more than one
    node (reward-loop workers run on every node), and it answers a GET (``/v1/models``, as vLLM serves)."""
    import httpx

    problems = []
    if not endpoints:
        return [Problem("judge-endpoint", "verm.judge.endpoints is empty")]
    for e in endpoints:
        url = e if "://" in e else f"http://{e}"
        host = urlparse(url).hostname or ""
        if n_nodes > 1 and _is_loopback(host):
            problems.append(Problem("judge-endpoint", (
                f"{e} is a loopback address, but reward-loop workers run on all {n_nodes} nodes: the others get "
                "'connection refused' and every sample falls back. Use an address every node can route to")))
            continue
        if not probe:
            continue
        base = url.rstrip("/").removesuffix("/v1/chat/completions").removesuffix("/v1")
        try:
            r = httpx.get(base + "/v1/models", timeout=timeout_s)
            if r.status_code >= 500:
                problems.append(Problem("judge-endpoint", f"{e} answered HTTP {r.status_code} on /v1/models"))
        except httpx.HTTPError as err:
            problems.append(Problem("judge-endpoint", f"{e} does not answer ({type(err).__name__}: {err})"))
    return problems


POOL_KEYS = {"global_pool": "trainer.nnodes x trainer.n_gpus_per_node",
             "reward_pool": "reward.reward_model.nnodes x n_gpus_per_node (verm.cluster.judge_nnodes x "
                            "judge_gpus_per_node)"}


def check_pool_sizes(cfg: Any) -> list[Problem]:
    """On a GPU preset every verl pool has GPUs: a pool of 0 (``trainer.nnodes=0``, ``judge_gpus_per_node=0`` with
    verl's reward model on) places trivially here and fails when verl builds it."""
    if int(_get(cfg, "verm.cluster.gpus_per_node", 0)) <= 0:  # the CPU preset: verl trains nothing
        return []
    return [Problem("gpus", f"{p.name} ({p.role}) has {p.nnodes} x {p.gpus_per_node} = 0 GPUs: set "
                            f"{POOL_KEYS[p.name]} to at least 1 each")
            for p in gpu_pools(cfg) if p.name in POOL_KEYS and p.gpus <= 0]


def check_judge_prompts(cfg: Any) -> list[Problem]:
    """``verm.judge.prompts`` (a folder with ``<task>.txt`` for every task, or ``{task: file}``) exists, for the
    judges that send them (else a reward-loop worker fails building its judge, minutes into the job)."""
    from omegaconf import DictConfig, OmegaConf

    from verm_rl.judge.prompts import resolve_prompt_files

    prompts = _get(cfg, "verm.judge.prompts")
    if not prompts or _get(cfg, "verm.judge.backend") not in ("verl_rm", "http", "ray_actor") or \
            _get(cfg, "verm.reward.name") == "dino":
        return []
    try:
        resolve_prompt_files(OmegaConf.to_container(prompts) if isinstance(prompts, DictConfig) else prompts)
    except (OSError, ValueError, KeyError) as e:
        return [Problem("judge-prompts", str(e).strip("'\""))]
    return []


def check_preset_matches(cfg: Any, nodes: int, gpus_per_node: float) -> list[Problem]:
    """The Slurm allocation is the one the cluster preset was written for (``verm.cluster.nodes/gpus_per_node``)."""
    want_nodes = _get(cfg, "verm.cluster.nodes")
    want_gpus = _get(cfg, "verm.cluster.gpus_per_node")
    name = _get(cfg, "verm.cluster.name", "?")
    if want_nodes is None or want_gpus is None:
        return [Problem("preset", "the cluster preset has no verm.cluster.nodes / gpus_per_node")]
    if int(want_nodes) == nodes and float(want_gpus) == float(gpus_per_node):
        return []
    return [Problem("preset", (
        f"verm/cluster={name} needs {want_nodes} node(s) x {want_gpus} GPUs; this job has {nodes} x "
        f"{gpus_per_node:g}. Submit with sbatch --nodes={want_nodes} --gpus-per-node={want_gpus} (slurm/submit.sh "
        "does it for you) or pick the preset for this allocation (verm/cluster=1node|2node|4node)"))]


def static_checks(cfg: Any, n_nodes: int, probe_endpoints: bool = True) -> list[Problem]:
    """Every check that needs no cluster: models, data, TP, batch sizes, max_model_len, judge endpoints."""
    problems = []
    policy = _get(cfg, "actor_rollout_ref.model.path")
    problems += check_model_dir(policy, "policy (actor_rollout_ref.model.path)")
    rm = _get(cfg, "reward.reward_model", {})
    if _get(rm, "enable", False):
        problems += check_model_dir(_get(rm, "model_path"), "judge (reward.reward_model.model_path)")
    if _get(cfg, "verm.judge.backend") == "ray_actor" and _get(cfg, "verm.reward.name") != "dino":
        problems += check_model_dir(_get(cfg, "verm.judge.ray_actor.model_path"), "judge (verm.judge.ray_actor)")
    if _get(cfg, "verm.reward.name") == "dino":
        problems += check_model_dir(_get(cfg, "verm.reward.dino.model_path"), "DINOv2 (verm.reward.dino)")
    problems += check_data_files(_get(cfg, "data.train_files"), "data.train_files")
    problems += check_data_files(_get(cfg, "data.val_files"), "data.val_files")
    problems += check_pool_sizes(cfg)
    for pool in gpu_pools(cfg):
        problems += check_tp_divides(pool.gpus, pool.tp, f"{pool.name} ({pool.role})")
        if pool.tp > pool.gpus_per_node > 0:
            problems.append(Problem("tp", f"{pool.name}: TP {pool.tp} > {pool.gpus_per_node} GPUs per node"))
    problems += check_batch_sizes(cfg)
    if int(_get(cfg, "trainer.n_gpus_per_node", 0)) > 0:
        problems += check_max_model_len(
            _get(cfg, "actor_rollout_ref.rollout.max_model_len"), int(_get(cfg, "data.max_prompt_length", 0)),
            int(_get(cfg, "data.max_response_length", 0)), "policy rollout", max_positions(policy))
    if _get(rm, "enable", False):
        problems += check_max_model_len(
            _get(rm, "rollout.max_model_len"), int(_get(rm, "rollout.prompt_length", 0)),
            int(_get(rm, "rollout.response_length", 0)), "judge (reward.reward_model.rollout)",
            max_positions(_get(rm, "model_path")))
    problems += check_judge_prompts(cfg)
    if _get(cfg, "verm.judge.backend") == "http":
        problems += check_judge_endpoints(list(_get(cfg, "verm.judge.endpoints", [])), n_nodes,
                                          probe=probe_endpoints)
    return problems


# ---------------------------------------------------------------------------------------------------- plan


def make_plan(cfg: Any, nodes: list[Node], probe_endpoints: bool = True) -> PlanResult:
    """Place everything this config starts on these nodes, and run every check."""
    pools = gpu_pools(cfg)
    free, problems = place_pools(pools, nodes)
    actors = judge_actors(cfg)
    problems += place_judge_actors(actors, pools, free)
    if nodes:  # the task runner: 1 CPU, on the node with most left
        head = max(free, key=lambda k: free[k][1])
        free[head][1] -= TASK_RUNNER_CPUS
    renders, render_problems = render_actors(cfg, free)
    problems = static_checks(cfg, len(nodes), probe_endpoints) + problems + render_problems
    cpu_nodes = [n.name for n in nodes if n.cpus > 0]
    return PlanResult(
        nodes=nodes, pools=pools, judge_actors=actors, render_actors=renders,
        reward_workers=round_robin(int(_get(cfg, "reward.num_workers", 0)), cpu_nodes) if cpu_nodes else {},
        agent_workers=round_robin(int(_get(cfg, "actor_rollout_ref.rollout.agent.num_workers", 0)), cpu_nodes)
        if cpu_nodes else {},
        free_cpus={k: v[1] for k, v in free.items()}, problems=problems)


def format_plan(plan: PlanResult, cfg: Any) -> str:
    """The table ``verm-rl plan`` prints."""
    lines = [f"cluster: {len(plan.nodes)} node(s): " + ", ".join(
        f"{n.name} ({n.gpus:g} GPU, {n.cpus:g} CPU)" for n in plan.nodes)]
    lines.append(f"preset:  verm/cluster={_get(cfg, 'verm.cluster.name', '?')}  experiment="
                 f"{_get(cfg, 'trainer.experiment_name', '?')}  judge={_get(cfg, 'verm.judge.backend', '?')}  "
                 f"reward={_get(cfg, 'verm.reward.name', '?')}")
    lines.append("")
    lines.append(f"{'pool':34s} {'GPUs':>11s} {'TP':>3s} {'replicas':>8s} {'max_model_len':>13s}  nodes")
    for p in plan.pools:
        gpus = f"{p.nnodes}x{p.gpus_per_node}={p.gpus}"
        lines.append(f"{p.role:34s} {gpus:>11s} {p.tp:>3d} {p.replicas:>8d} {str(p.max_model_len or '-'):>13s}  "
                     f"{', '.join(p.placed_on) or '-'}")
    for a in plan.judge_actors:
        label, gpus = "ray actors " + a["name"], f"{a['count']}x{a['gpus']:g}"
        lines.append(f"{label:34s} {gpus:>11s} {'-':>3s} {a['count']:>8d} {'-':>13s}  {a.get('placed_on', '-')}")
    lines.append("")
    lines.append(f"{'node':24s} {'render actors':>13s} {'reward workers':>14s} {'agent workers':>13s} "
                 f"{'CPUs left':>9s}")
    cpa = float(_get(cfg, "verm.render.num_cpus_per_actor", 1))
    for n in plan.nodes:
        r = plan.render_actors.get(n.name, 0)
        left = plan.free_cpus.get(n.name, 0) - r * cpa
        lines.append(f"{n.name:24s} {r:>13d} {plan.reward_workers.get(n.name, 0):>14d} "
                     f"{plan.agent_workers.get(n.name, 0):>13d} {left:>9g}")
    lines.append(f"{'total':24s} {sum(plan.render_actors.values()):>13d} {sum(plan.reward_workers.values()):>14d} "
                 f"{sum(plan.agent_workers.values()):>13d}")
    lines.append("")
    if plan.fits:
        lines.append("plan: FITS")
    else:
        lines.append(f"plan: DOES NOT FIT ({len(plan.problems)} problem(s))")
        lines += [f"  - {p}" for p in plan.problems]
    return "\n".join(lines)


def hydra_message(e: BaseException) -> str:
    """Hydra's composition error without its search-path listing, with the OmegaConf cause's first line."""
    text = str(e).split("\nConfig search path:")[0].strip()
    cause = e.__cause__
    if cause is not None and str(cause).strip():
        text += f": {str(cause).strip().splitlines()[0]}"
    return text


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="verm-rl plan", description=__doc__.split("\n\n")[0])
    add_arguments(p)
    return p


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``verm-rl plan`` (verm_rl/cli.py hands every argument through)."""
    p.add_argument("overrides", nargs="*", help="Hydra overrides, as for recipes/visual_erm/main.py")
    p.add_argument("--address", help="Ray address of a live cluster (default: RAY_ADDRESS)")
    p.add_argument("--nodes", type=int, help="plan for a declared shape instead of a live cluster")
    p.add_argument("--gpus-per-node", type=float, default=8)
    p.add_argument("--cpus-per-node", type=float, default=64)
    p.add_argument("--expect-nodes", type=int, help="refuse unless the preset is for this many nodes (Slurm)")
    p.add_argument("--expect-gpus-per-node", type=float, help="refuse unless the preset is for these GPUs per node")
    p.add_argument("--no-probe", action="store_true", help="do not contact http judge endpoints")
    p.add_argument("--sbatch-args", action="store_true",
                   help="print only the sbatch options the chosen preset needs (--nodes=N --gpus-per-node=G)")


def run(args: argparse.Namespace) -> int:
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from recipes.visual_erm.config_check import ConfigError, check_config

    try:
        cfg = compose(args.overrides)
        check_config(cfg)  # what main.py checks first: the schema and the arm
    except ConfigError as e:
        print(f"verm-rl plan: config error: {e}", file=sys.stderr)
        return 2
    except (HydraException, OmegaConfBaseException) as e:  # Hydra's own: unknown group option, bad syntax or type
        print(f"verm-rl plan: config error: {hydra_message(e)}", file=sys.stderr)
        return 2
    if args.sbatch_args:
        nodes, gpus = _get(cfg, "verm.cluster.nodes", 1), _get(cfg, "verm.cluster.gpus_per_node", 0)
        print(f"--nodes={nodes} --gpus-per-node={gpus}")
        return 0
    if args.nodes is not None:
        nodes = declared_cluster(args.nodes, args.gpus_per_node, args.cpus_per_node)
    elif args.address or os.environ.get("RAY_ADDRESS"):
        nodes = live_cluster(args.address)
    else:
        print("verm-rl plan: give --nodes/--gpus-per-node/--cpus-per-node or a live cluster (RAY_ADDRESS / "
              "--address)", file=sys.stderr)
        return 2
    plan = make_plan(cfg, nodes, probe_endpoints=not args.no_probe)
    if args.expect_nodes is not None or args.expect_gpus_per_node is not None:
        expect_gpus = args.expect_gpus_per_node if args.expect_gpus_per_node is not None else (
            nodes[0].gpus if nodes else 0)
        expect_nodes = args.expect_nodes if args.expect_nodes is not None else len(nodes)
        plan.problems = check_preset_matches(cfg, expect_nodes, expect_gpus) + plan.problems
    print(format_plan(plan, cfg), flush=True)
    return 0 if plan.fits else 2


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
