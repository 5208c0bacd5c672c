"""What the judge is sent, per task: sampling, image encoding, system prompt, text layout, resampling.

Visual-ERM is a fine-tune: it judges best on inputs shaped like its training inputs. ``released``
reproduces what the authors' reward code sent (facts in shared/reference/visual-erm-paper.md §1.2-1.5):

- chart/svg: T 0.7, top_p 0.8, top_k 20, presence_penalty 1.5, 4096 tokens; JPEG (Pillow's
  default quality 75) ≤ 1024 px; no system prompt; the text is the prompt.
- table: greedy, repetition_penalty 1.05, 8192 tokens; PNG ≤ 768 px; system prompt "You are a
  helpful assistant."; the text is "<image>\\n<image>\\n" + the prompt; data URLs say ``data:image;``.

Reference image first, candidate second, text last, for every task. The released chart/SVG reward
asked again once when the answer could not be parsed (2 calls in all); the table reward did not.

``greedy``: the same inputs with greedy decoding for every task (deterministic rewards; resampling
a greedy judge repeats its answer, so one call). ``legacy``: this project's settings before the
profiles existed (PNG ≤ 1024, greedy, 4096 tokens, no text prefix), to reproduce older runs.

Every backend (http / verl_rm, ray_actor / LocalJudge, serve-judge clients) reads these settings
through ``JudgeInputs``; config keys left ``null`` come from the profile.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from verm_rl.judge.base import SamplingParams
from verm_rl.tasks import get_task, task_names

log = logging.getLogger(__name__)

HELPFUL_ASSISTANT = "You are a helpful assistant."  # the released table reward's system message
SAMPLING_KEYS = ("temperature", "top_p", "top_k", "max_tokens", "repetition_penalty", "presence_penalty", "seed")
IMAGE_KEYS = ("image_format", "max_image_side", "jpeg_quality", "system_prompt", "text_prefix", "parse_attempts")


@dataclass
class TaskJudgeSettings:
    """The inputs of one judge call for one task."""

    sampling: SamplingParams = field(default_factory=SamplingParams)
    image_format: str = "png"  # "png" or "jpeg"
    jpeg_quality: int | None = None  # None: Pillow's default (75), which the released reward used
    max_image_side: int = 1024  # longest side after a Pillow ``thumbnail`` (never enlarges)
    media_type: str | None = None  # the data URL's media type; None: image/<format>
    resize_then_rgb: bool = False  # released chart/svg: thumbnail, then convert to RGB; table: the reverse
    system_prompt: str | None = None
    text_prefix: str = ""  # put before the prompt in the text part
    reference_first: bool = True  # image order: (reference, candidate) as Visual-ERM was trained
    parse_attempts: int = 1  # judge calls before a parse failure is final

    def __post_init__(self) -> None:
        self.image_format = {"jpg": "jpeg"}.get(self.image_format.lower(), self.image_format.lower())
        if self.image_format not in ("png", "jpeg"):
            raise ValueError(f"judge image_format must be png or jpeg, not {self.image_format!r}")
        if int(self.max_image_side) < 16:
            raise ValueError(f"judge max_image_side must be >= 16, not {self.max_image_side}")
        if int(self.parse_attempts) < 1:
            raise ValueError(f"judge parse_attempts must be >= 1, not {self.parse_attempts}")

    @property
    def mime(self) -> str:
        return self.media_type or f"image/{self.image_format}"


# The released reward's settings; each task's spec names its own (``TaskSpec.judge_settings``).
RELEASED_CHART_SVG = TaskJudgeSettings(
    sampling=SamplingParams(temperature=0.7, top_p=0.8, top_k=20, presence_penalty=1.5, max_tokens=4096),
    image_format="jpeg", max_image_side=1024, media_type="image/jpeg", resize_then_rgb=True, parse_attempts=2,
)
RELEASED_TABLE = TaskJudgeSettings(
    sampling=SamplingParams(temperature=0.0, max_tokens=8192, repetition_penalty=1.05),
    image_format="png", max_image_side=768, media_type="image", system_prompt=HELPFUL_ASSISTANT,
    text_prefix="<image>\n<image>\n",
)


def _greedy(s: TaskJudgeSettings) -> TaskJudgeSettings:
    sampling = dataclasses.replace(s.sampling, temperature=0.0, top_p=1.0, top_k=-1, presence_penalty=0.0)
    return dataclasses.replace(s, sampling=sampling, parse_attempts=1)


def _released(task: str) -> TaskJudgeSettings:
    """The task's released settings (its spec's ``judge_settings``; a task without: the defaults)."""
    spec = get_task(task)
    return spec.resolve("judge_settings") if spec.judge_settings is not None else TaskJudgeSettings()


def _legacy(task: str) -> TaskJudgeSettings:
    """PNG <= 1024, greedy, 4096 tokens, no text prefix; the released system prompt (tables') kept."""
    return TaskJudgeSettings(sampling=SamplingParams(), image_format="png", max_image_side=1024,
                             system_prompt=_released(task).system_prompt)


PROFILES: dict[str, Callable[[str], TaskJudgeSettings]] = {
    "released": _released,
    "greedy": lambda task: _greedy(_released(task)),
    "legacy": _legacy,
}
DEFAULT_PROFILE = "released"


def profile_settings(profile: str, task: str) -> TaskJudgeSettings:
    """A copy of ``profile``'s settings for ``task``."""
    if profile not in PROFILES:
        raise ValueError(f"unknown judge profile {profile!r}: one of {sorted(PROFILES)}")
    s = PROFILES[profile](task)
    return dataclasses.replace(s, sampling=dataclasses.replace(s.sampling))


def apply_overrides(settings: TaskJudgeSettings, overrides: Mapping[str, Any]) -> TaskJudgeSettings:
    """``settings`` with the non-null ``overrides`` (sampling fields or image/layout keys) applied."""
    unknown = set(overrides) - set(SAMPLING_KEYS) - set(IMAGE_KEYS)
    if unknown:
        raise ValueError(f"unknown judge setting(s) {sorted(unknown)}; known: {SAMPLING_KEYS + IMAGE_KEYS}")
    sampling = {k: v for k, v in overrides.items() if k in SAMPLING_KEYS and v is not None}
    rest = {k: v for k, v in overrides.items() if k in IMAGE_KEYS and v is not None}
    if "max_image_side" in rest:
        rest["max_image_side"] = int(rest["max_image_side"])
    fmt = str(rest.get("image_format", settings.image_format)).lower().replace("jpg", "jpeg")
    if fmt != settings.image_format:
        rest["media_type"] = None  # a new format gets its own media type
    return dataclasses.replace(settings, sampling=dataclasses.replace(settings.sampling, **sampling), **rest)


@dataclass
class JudgeInputs:
    """Per-task judge settings plus the prompt files: everything a backend needs to build a call."""

    profile: str = DEFAULT_PROFILE
    tasks: dict[str, TaskJudgeSettings] = field(default_factory=dict)
    prompt_files: dict[str, str] = field(default_factory=dict)  # task -> file replacing the bundled prompt

    def __post_init__(self) -> None:
        for task in task_names():
            self.tasks.setdefault(task, profile_settings(self.profile, task))

    def for_task(self, task: str) -> TaskJudgeSettings:
        get_task(task)
        if task not in self.tasks:  # registered after these inputs were made
            self.tasks[task] = profile_settings(self.profile, task)
        return self.tasks[task]

    def prompt(self, task: str) -> str:
        from verm_rl.judge.prompts import load_prompt

        return load_prompt(task, self.prompt_files.get(task))

    def describe(self) -> dict[str, Any]:
        """A flat, loggable summary (what each task's judge call looks like)."""
        out: dict[str, Any] = {"profile": self.profile}
        for task, s in self.tasks.items():
            out[task] = {**dataclasses.asdict(s.sampling), "image": f"{s.image_format}<={s.max_image_side}",
                         "system_prompt": s.system_prompt is not None, "parse_attempts": s.parse_attempts,
                         "prompt_file": self.prompt_files.get(task)}
        return out


def judge_inputs(profile: str | None = None, sampling: SamplingParams | None = None,
                 prompts: str | Mapping[str, str | None] | None = None, per_task: Mapping[str, Mapping] | None = None,
                 on_parse_failure: str | None = None, **overrides: Any) -> JudgeInputs:
    """Settings for every task: ``profile`` (released | greedy | legacy), then ``sampling`` (a whole
    ``SamplingParams`` for every task, as before profiles existed), then the non-null flat
    ``overrides`` (e.g. ``max_tokens=8192``, ``image_format="png"``) for every task, then ``per_task``
    overrides (``{"table": {"max_tokens": 4096}}``). ``on_parse_failure``: ``keep`` (one call) or
    ``resample`` (``parse_attempts`` calls, 2 when the profile has only one); null keeps the profile's."""
    from verm_rl.judge.prompts import resolve_prompt_files

    profile = profile or DEFAULT_PROFILE
    tasks = {}
    for task in task_names():
        s = profile_settings(profile, task)
        if sampling is not None:
            s = dataclasses.replace(s, sampling=dataclasses.replace(sampling))
        s = apply_overrides(s, overrides)
        s = apply_overrides(s, (per_task or {}).get(task) or {})
        if on_parse_failure == "keep":
            s.parse_attempts = 1
        elif on_parse_failure == "resample":
            s.parse_attempts = max(s.parse_attempts, int(overrides.get("parse_attempts") or 2))
        elif on_parse_failure is not None:
            raise ValueError(f"on_parse_failure must be keep or resample, not {on_parse_failure!r}")
        tasks[task] = s
    unknown = set(per_task or {}) - set(task_names())
    if unknown:
        raise ValueError(f"judge per_task names unknown task(s) {sorted(unknown)}")
    return JudgeInputs(profile=profile, tasks=tasks, prompt_files=resolve_prompt_files(prompts))


def judge_inputs_from_config(judge_cfg: Mapping[str, Any]) -> JudgeInputs:
    """``JudgeInputs`` from the ``verm.judge`` config section (a plain dict; null keys = profile)."""
    overrides = {k: judge_cfg.get(k) for k in SAMPLING_KEYS + IMAGE_KEYS if judge_cfg.get(k) is not None}
    inputs = judge_inputs(profile=judge_cfg.get("profile"), prompts=judge_cfg.get("prompts"),
                          per_task=judge_cfg.get("per_task") or None,
                          on_parse_failure=judge_cfg.get("on_parse_failure"), **overrides)
    log.info("judge inputs: %s", inputs.describe())
    return inputs
