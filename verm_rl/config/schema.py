"""The typed schema of the ``verm`` section of the Hydra config: every key, its type, its default, its doc.

Each field is documented here, once; the YAML presets under ``hydra_configs/`` set only what a preset
chooses. Hydra composes on top of this schema (``verm_schema@verm`` in ``visual_erm.yaml``), so a key that
is not here fails at composition and every default below is in the composed config. Names that are
choices carry a :class:`Choice` (``Annotated[str, Choice(...)]``: OmegaConf sees a ``str``,
:mod:`verm_rl.config.validate` checks the name and lists the valid ones). Defaults shared with the library
are read from the library's own dataclasses: render options from ``RenderOptions``, reward weights and the
normaliser from ``SeverityRewardConfig`` (the norm 50 lives in ``verm_rl.reward.severity`` only).

Plain dataclasses on OmegaConf (no Hydra, Ray or verl).
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Union

from omegaconf import MISSING

from verm_rl.render import RenderOptions
from verm_rl.reward.severity import SeverityRewardConfig


@dataclass(frozen=True)
class Choice:
    """A string field whose value must be one of ``names`` (a tuple, or a callable returning the live names,
    e.g. the registered tasks). ``number``: a number is valid too (``norm: 50``)."""

    kind: str  # what the error calls it: "unknown <kind> 'x'"
    names: Sequence[str] | Callable[[], Sequence[str]]
    number: bool = False

    def valid(self) -> tuple[str, ...]:
        return tuple(self.names() if callable(self.names) else self.names)

    def describe(self) -> str:
        names = ", ".join(self.valid())
        return f"{names} or a number" if self.number else names

    def error(self, value: Any) -> str | None:
        """None when ``value`` is valid, else why not."""
        if value is None:
            return None
        if self.number and not isinstance(value, bool):
            try:
                float(value)
                return None
            except (TypeError, ValueError):
                pass
        if isinstance(value, str) and value in self.valid():
            return None
        return f"unknown {self.kind} {value!r}"


@dataclass(frozen=True)
class Range:
    """A number's bounds (``gt``/``ge``/``lt``/``le``; ``integer``: a whole number), checked with the choices. A
    null passes only where the field's type is Optional or ``null_ok`` (Any fields whose null means a default)."""

    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None
    integer: bool = False
    null_ok: bool = False

    def describe(self) -> str:
        parts = [f"{op} {bound:g}" for op, bound in ((">", self.gt), (">=", self.ge), ("<", self.lt),
                                                      ("<=", self.le)) if bound is not None]
        return ("an integer " if self.integer else "a number ") + " and ".join(parts)

    def error(self, value: Any) -> str | None:
        """None when ``value`` is within the bounds (or not a number: the type or the choices say why), else why."""
        if isinstance(value, bool) or value is None:
            return None
        try:
            x = float(value)
        except (TypeError, ValueError):
            return None
        ok = ((self.gt is None or x > self.gt) and (self.ge is None or x >= self.ge)
              and (self.lt is None or x < self.lt) and (self.le is None or x <= self.le)
              and (not self.integer or x.is_integer()))
        return None if ok else f"{value!r} is out of range: must be {self.describe()}"


POSITIVE = Range(gt=0)
NON_NEGATIVE = Range(ge=0)
AT_LEAST_ONE = Range(ge=1, integer=True)
FRACTION = Range(ge=0, le=1)


def _tasks() -> tuple[str, ...]:
    from verm_rl import tasks

    return tuple(tasks.TASKS)


def _judge_profiles() -> tuple[str, ...]:
    from verm_rl.judge.profiles import PROFILES

    return tuple(PROFILES)


TaskName = Annotated[str, Choice("task", _tasks)]
ARMS = ("verm", "verm_no_rsr", "structural", "render_only", "ssim", "teds", "dino")
JUDGE_BACKENDS = ("verl_rm", "http", "ray_actor", "structural", "none")
ENGINES = ("auto", "vllm", "transformers")
COMMON_METRICS = ("render_rate", "structural_severity", "ssim", "teds", "verm_severity")
_REWARD = SeverityRewardConfig()


# ------------------------------------------------------------------------------------------ run, validation


@dataclass
class RunSection:
    """How the run is named and grouped in wandb: name ``<task>__<arm>__<model>__s<seed>``."""

    seed: int = 0  # data shuffling seed (data.seed follows it) and the run name's s<seed>
    group: str | None = "${oc.env:VERM_SWEEP_ID,null}"  # wandb group; slurm/sweep.sh sets one id for its jobs
    tags: list[str] = field(default_factory=list)  # extra wandb tags (task, arm, judge, model, cluster always added)


@dataclass
class ValidationSection:
    """``val-common/<task>/<metric>``: the same yardstick whatever arm trains."""

    # verm_severity: Σ severity of the Visual-ERM judge, logged only when the arm runs one
    common: list[Annotated[str, Choice("common validation metric", COMMON_METRICS)]] = field(
        default_factory=lambda: list(COMMON_METRICS))


# ------------------------------------------------------------------------------------------ render


@dataclass
class RenderPoolSection:
    """The shared pool of render actors (``reward_workers.render_pool``)."""

    pool_name: str = "verm_render_pool"  # named Ray actors shared by every reward-loop worker
    # render actors, or "auto": the CPUs free when the pool is built (after verl's reservations), less headroom
    pool_size: Annotated[Any, Choice("render pool size", ("auto",), number=True), AT_LEAST_ONE] = 16
    num_cpus_per_actor: Annotated[float, NON_NEGATIVE] = 1.0  # Ray CPUs each render actor holds
    # pool_size=auto leaves this share of the free CPUs to drivers and Ray
    headroom: Annotated[float, Range(ge=0, lt=1)] = 0.1
    # p2c: two random actors, the less loaded | random | local: each handle's own in-flight count
    routing: Annotated[str, Choice("render routing", ("p2c", "random", "local"))] = "p2c"
    spread: bool = True  # one node per actor, over the nodes with free CPUs


# Render options whose names are choices (RenderOptions types them as plain str): checked at composition.
RENDER_OPTION_CHOICES: dict[str, Choice] = {
    "chart_output": Choice("chart output", ("requested", "released")),
    "dpi": Choice("chart dpi", ("figure",), number=True),
}
# Bounds of RenderOptions' numbers (null: RenderOptions' default; timeout_s null: the task's own).
RENDER_OPTION_RANGES: dict[str, Range] = {
    "dpi": Range(gt=0, null_ok=True), "timeout_s": POSITIVE, "memory_mb": AT_LEAST_ONE, "file_size_mb": AT_LEAST_ONE,
    "max_procs": AT_LEAST_ONE, "max_pixels": AT_LEAST_ONE, "max_png_mb": AT_LEAST_ONE, "max_source_kb": AT_LEAST_ONE,
    "svg_width": AT_LEAST_ONE, "svg_height": AT_LEAST_ONE, "table_padding": Range(ge=0, integer=True),
    "stdout_bytes": Range(ge=0, integer=True), "max_table_cells": AT_LEAST_ONE, "max_text_chars": AT_LEAST_ONE,
    "max_svg_elements": AT_LEAST_ONE, "max_svg_depth": AT_LEAST_ONE,
}


def _omegaconf_type(name: str, hint: Any) -> Any:
    """A ``RenderOptions`` annotation as OmegaConf can hold it (unions other than Optional become Any)."""
    if name in RENDER_OPTION_CHOICES:
        return Annotated[(Any, RENDER_OPTION_CHOICES[name], *_bounds(name))]
    if name in RENDER_OPTION_RANGES:
        return Annotated[(_omegaconf_type("", hint), RENDER_OPTION_RANGES[name])]
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        return Annotated[str, Choice(name.replace("_", " "), tuple(typing.get_args(hint)))]
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(hint)) == 2:
            return _omegaconf_type(name, args[0]) | None
        return Any
    return hint if hint in (int, float, str, bool) else Any


def _bounds(name: str) -> tuple[Range, ...]:
    return (RENDER_OPTION_RANGES[name],) if name in RENDER_OPTION_RANGES else ()


def _render_option_fields() -> list[tuple[str, Any, Any]]:
    hints = typing.get_type_hints(RenderOptions)
    defaults = RenderOptions()

    def default(name: str) -> Any:
        value = getattr(defaults, name)
        if isinstance(value, (list, dict, set)):  # a mutable default needs a factory in a dataclass
            return field(default_factory=lambda: copy.deepcopy(value))
        return field(default=value)

    return [(f.name, _omegaconf_type(f.name, hints[f.name]), default(f.name))
            for f in dataclasses.fields(RenderOptions)]


def _render_options(self) -> RenderOptions:
    """The ``RenderOptions`` this section sets (the pool keys left out)."""
    names = {f.name for f in dataclasses.fields(RenderOptions)}
    return RenderOptions(**{k: getattr(self, k) for k in names})


# The pool keys above plus every RenderOptions field, with RenderOptions' defaults (documented there).
RenderSection = dataclasses.make_dataclass(
    "RenderSection", _render_option_fields(), bases=(RenderPoolSection,),
    namespace={"options": _render_options, "__module__": __name__,
               "__doc__": "``verm.render``: the render pool (RenderPoolSection) and every RenderOptions field, "
                          "with RenderOptions' defaults (``timeout_s: null`` = per task)."})


# ------------------------------------------------------------------------------------------ pipeline, logging


@dataclass
class PipelineSection:
    """Batching of one reward-loop worker's concurrent samples (de-duplication, batch normalisation)."""

    batch_window_ms: Annotated[float, NON_NEGATIVE] = 50.0  # concurrent samples within this window form one batch
    max_batch_size: Annotated[int, AT_LEAST_ONE] = 256  # a batch closes early at this size
    warn_every_failures: Annotated[int, AT_LEAST_ONE] = 50  # log a warning every this many render/judge failures


@dataclass
class LoggingSection:
    """Sample images and tables the trainer logs."""

    sample_dir: str | None = None  # (reference, render, errors) of sampled rewards; null: none written
    sample_rate: Annotated[float, FRACTION] = 0.02  # fraction of samples written to sample_dir
    log_samples_every: Annotated[int, AT_LEAST_ONE] = 10  # steps between wandb sample tables
    samples_per_table: Annotated[int, Range(ge=0, integer=True)] = 8  # samples in each of those tables


# ------------------------------------------------------------------------------------------ task, model, cluster


@dataclass
class TaskSection:
    """Set by ``verm/task=<name>``."""

    name: str = MISSING  # the run name's task part (chart2code, table2md, svg2code, mixed)
    tasks: list[TaskName] = MISSING  # the tasks its data holds


@dataclass
class ModelSection:
    """Set by ``verm/model=<name>`` (the policy's path is verl's actor_rollout_ref.model.path)."""

    name: str = MISSING  # the run name's model part
    judge_path: str | None = None  # local copy of the Visual-ERM judge (internlm/Visual-ERM)


@dataclass
class ClusterSection:
    """Set by ``verm/cluster=<preset>``: the Slurm allocation it is written for and the judge's GPUs."""

    name: str | None = None  # the preset's name (wandb tag cluster:<name>)
    nodes: Annotated[int, AT_LEAST_ONE] = 1  # Slurm nodes the preset needs (launch.sh refuses any other count)
    gpus_per_node: Annotated[int, NON_NEGATIVE] = 0  # GPUs per Slurm node
    # GPUs reserved for the judge: verl's reward-model pool, or our Ray judge / DINO actors
    judge_nnodes: Annotated[int, NON_NEGATIVE] = 0  # nodes of that reservation
    judge_gpus_per_node: Annotated[int, NON_NEGATIVE] = 0  # GPUs per node of that reservation


# ------------------------------------------------------------------------------------------ judge


@dataclass
class ActorSection:
    """GPU Ray actors outside verl's pools (the ``ray_actor`` judge, the DINOv2 reward)."""

    model_path: str | None = None  # local model folder
    name: str = "verm_actor"  # Ray actor name prefix (named actors are shared by every reward-loop worker)
    # null: one actor per judge GPU (verm.cluster.judge_*), in a placement group
    num_actors: Annotated[int | None, AT_LEAST_ONE] = None
    num_gpus: Annotated[float, NON_NEGATIVE] = 1.0  # GPUs per actor (fractions share a GPU)
    num_cpus: Annotated[float, NON_NEGATIVE] = 1.0  # Ray CPUs per actor
    # group: one named placement group over the judge GPUs | none: let Ray place each actor
    placement: Annotated[str, Choice("actor placement", ("group", "none"))] = "group"
    # how the group's bundles spread over the nodes (Ray placement strategies)
    placement_strategy: Annotated[str, Choice("placement strategy", ("SPREAD", "PACK", "STRICT_SPREAD",
                                                                      "STRICT_PACK"))] = "SPREAD"
    # give up (JudgePlacementError) when the group is not placed by then
    placement_timeout_s: Annotated[float, POSITIVE] = 300.0
    max_batch_size: Annotated[int, AT_LEAST_ONE] = 16  # dynamic batching: a batch closes at this size …
    max_wait_ms: Annotated[float, NON_NEGATIVE] = 20.0  # … or after this wait


@dataclass
class RayActorSection(ActorSection):
    """``verm/judge=ray_actor``: our judge actors (vLLM engine when installed, else transformers); null
    model_path = reward.reward_model.model_path."""

    name: str = "verm_judge"  # Ray actor name prefix
    engine: Annotated[str, Choice("judge engine", ENGINES)] = "auto"  # auto: vllm when installed, else transformers
    max_batch_size: Annotated[int, AT_LEAST_ONE] = 32  # requests per generate call


@dataclass
class DinoSection(ActorSection):
    """``verm/reward=dino``: DINOv2 similarity actors on the judge GPUs (model_path: a local DINOv2)."""

    name: str = "verm_dino"  # Ray actor name prefix


@dataclass
class JudgeSettings:
    """What each judge call carries. null = the profile's value (``verm_rl/judge/profiles.py``); set here it
    applies to every task; ``per_task.<task>.<key>`` for one task (``+verm.judge.per_task.table.max_tokens=4096``)."""

    temperature: Annotated[float | None, NON_NEGATIVE] = None  # sampling temperature (0: greedy)
    top_p: Annotated[float | None, Range(gt=0, le=1)] = None  # nucleus sampling
    top_k: Annotated[int | None, Range(ge=-1, integer=True)] = None  # top-k sampling (-1: off)
    max_tokens: Annotated[int | None, AT_LEAST_ONE] = None  # longest judge answer
    repetition_penalty: Annotated[float | None, POSITIVE] = None  # > 1 discourages repeated tokens
    presence_penalty: Annotated[float | None, Range(ge=-2, le=2)] = None  # penalises tokens already present once
    seed: int | None = None  # sampling seed (resamples shift it by one)
    image_format: Annotated[str | None, Choice("judge image format", ("png", "jpeg"))] = None  # how images are sent
    max_image_side: Annotated[int | None, AT_LEAST_ONE] = None  # longest image side sent (resized down)
    jpeg_quality: Annotated[int | None, Range(ge=1, le=100, integer=True)] = None  # when image_format=jpeg
    system_prompt: str | None = None  # a system message before the images
    text_prefix: str | None = None  # text before the images in the user message
    parse_attempts: Annotated[int | None, AT_LEAST_ONE] = None  # calls in all when on_parse_failure=resample


@dataclass
class JudgeSection(JudgeSettings):
    """``verm/judge=<backend>``: who lists the visual errors, and what it is sent."""

    # verl_rm: Visual-ERM on verl's reward-model servers | http: any OpenAI-compatible endpoints |
    # ray_actor: our GPU actors | structural: the deterministic critic (no GPU) | none: arms that need no judge
    backend: Annotated[str, Choice("judge backend", JUDGE_BACKENDS)] = "verl_rm"
    # released: as the released Visual-ERM reward (chart/svg: T 0.7 top_p 0.8 top_k 20 presence 1.5, 4096
    # tokens, JPEG <= 1024, one resample on a parse failure; table: greedy, repetition 1.05, 8192 tokens,
    # PNG <= 768, system prompt) | greedy: the same inputs decoded greedily | legacy: before the profiles
    profile: Annotated[str, Choice("judge profile", _judge_profiles)] = "released"
    # keep: one call | resample: up to parse_attempts calls until the answer parses (null: the profile's)
    on_parse_failure: Annotated[str | None, Choice("on_parse_failure", ("keep", "resample"))] = None
    per_task: dict[str, Any] = field(default_factory=dict)  # {task: {setting: value}} (keys of JudgeSettings)
    # null: bundled prompts; a directory with <task>.txt (`verm-rl import-prompts --from <released checkout>`
    # writes the prompts the model was trained on); or {task: file}
    prompts: Any = "${oc.env:VERM_JUDGE_PROMPTS,null}"
    # http / verl_rm
    endpoints: list[str] = field(default_factory=list)  # http: base URLs every node can reach (not loopback)
    model: str | None = None  # served model name; null: verl_rm → reward.reward_model.model_path, http → reward_service
    api_key: str | None = None  # sent as a bearer token (http)
    max_concurrency: Annotated[int, AT_LEAST_ONE] = 256  # requests in flight per reward-loop worker, over all endpoints
    timeout_s: Annotated[float, POSITIVE] = 600.0  # per request (a judge answer of 4096 tokens under load)
    retries: Annotated[int, Range(ge=0, integer=True)] = 3  # extra attempts on connection errors, timeouts, 5xx and 429
    backoff_s: Annotated[float, NON_NEGATIVE] = 0.5  # first backoff, doubling each retry, with jitter
    ray_actor: RayActorSection = field(default_factory=RayActorSection)


JUDGE_SETTING_KEYS = tuple(f.name for f in dataclasses.fields(JudgeSettings))


# ------------------------------------------------------------------------------------------ reward


@dataclass
class RewardSection:
    """``verm/reward=<arm>``: the reward arm and its weights,
    ``w_render·r_rsr + w_verm·clip(1 − Σseverity/norm, 0, 1) + w_format·format`` (defaults: SeverityRewardConfig)."""

    name: Annotated[str, Choice("reward arm", ARMS)] = "verm"  # the arm (set by verm/reward; the run name's part)
    w_render: Annotated[float, NON_NEGATIVE] = _REWARD.w_render  # weight of render success (the paper's r_rsr)
    # weight of the visual term (severity, or a baseline's similarity)
    w_verm: Annotated[float, NON_NEGATIVE] = _REWARD.w_verm
    # weight of "the response has a fenced code block" (VinciCoder's 0.1)
    w_format: Annotated[float, NON_NEGATIVE] = _REWARD.w_format
    # fixed: fixed_norm, as the released code | batch_max: paper Eq. 4, over the whole step per task | a number
    norm: Annotated[Any, Choice("verm.reward.norm", ("fixed", "batch_max"), number=True), POSITIVE] = _REWARD.norm
    fixed_norm: Annotated[float, POSITIVE] = _REWARD.fixed_norm  # the released reward's 50
    # overrides norm for the tasks it names, e.g. {table: 30.0} (each > 0)
    per_task_norm: Annotated[dict[str, float], Choice("task", _tasks), POSITIVE] = field(default_factory=dict)
    # batch_mean: of the task's judged samples (else fallback_default) | severity: Σseverity = fallback_severity
    # | a number: the verm term of a sample whose judgement failed
    parse_fallback: Annotated[Any, Choice("verm.reward.parse_fallback", ("batch_mean", "severity"),
                                          number=True), FRACTION] = _REWARD.parse_fallback
    # batch_mean with no judged sample of the task
    fallback_default: Annotated[float, FRACTION] = _REWARD.fallback_default
    fallback_severity: Annotated[float, NON_NEGATIVE] = _REWARD.fallback_severity  # 25 in the released chart/SVG reward
    # verm | neg_severity (the released table reward: −Σseverity, failure_value on any failure), or {task: formula}
    formula: Any = _REWARD.formula
    failure_value: float = _REWARD.failure_value  # the neg_severity reward of any failure (released: -4)
    # the ssim arm: ssim | l2 (1 − pixel MSE); the teds arm: teds | teds_s (structure only); checked per arm
    similarity: str | None = None
    dino: DinoSection = field(default_factory=DinoSection)

    def severity_config(self) -> SeverityRewardConfig:
        """The reward formula's settings for this arm (``render_only`` has no visual term); raises ValueError on
        a formula or fallback name the reward does not know."""
        formula = self.formula
        return SeverityRewardConfig(
            w_render=self.w_render, w_verm=0.0 if self.name == "render_only" else self.w_verm,
            w_format=self.w_format, norm=self.norm, fixed_norm=self.fixed_norm,
            per_task_norm=dict(self.per_task_norm) if self.per_task_norm else None,
            parse_fallback=self.parse_fallback, fallback_default=self.fallback_default,
            fallback_severity=self.fallback_severity, failure_value=self.failure_value,
            formula=dict(formula) if isinstance(formula, Mapping) else str(formula),
        )


# ------------------------------------------------------------------------------------------ the whole tree


@dataclass
class VermConfig:
    """The ``verm`` section: everything of this recipe that is not verl's own config."""

    run: RunSection = field(default_factory=RunSection)
    validation: ValidationSection = field(default_factory=ValidationSection)
    # prompt_image: the dataset's image | ground_truth: render the ground-truth program
    reference_from: Annotated[str, Choice("reference_from", ("prompt_image", "ground_truth"))] = "prompt_image"
    render: RenderSection = field(default_factory=RenderSection)  # type: ignore[valid-type]
    pipeline: PipelineSection = field(default_factory=PipelineSection)
    logging: LoggingSection = field(default_factory=LoggingSection)
    task: TaskSection = field(default_factory=TaskSection)
    judge: JudgeSection = field(default_factory=JudgeSection)
    reward: RewardSection = field(default_factory=RewardSection)
    model: ModelSection = field(default_factory=ModelSection)
    cluster: ClusterSection = field(default_factory=ClusterSection)
    summary: dict[str, Any] | None = None  # written by the trainer (run_summary): what lands in the wandb config
