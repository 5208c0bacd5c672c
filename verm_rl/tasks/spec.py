"""``TaskSpec``: everything that differs between tasks (chart, table, svg, …), in one record.

Fields that name code in other subpackages (renderer, structural comparer, injector, rewrites,
dataset converter, synthetic generator, benchmark metrics, judge settings) are *references*: a
callable, or a ``"package.module:attribute"`` string imported on first use. So this module imports
nothing heavy, and ``verm_rl.tasks`` sits below render/judge/data with no import cycle.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

Ref = str | Callable[..., Any]  # a callable/object, or "package.module:attr[.attr]"
OTHER_CATEGORY = "other"  # where a judge's unknown error category goes (never a task category)
_NAME = re.compile(r"[a-z][a-z0-9_]*")
_REF_FIELDS = ("extract", "renderer", "comparer", "injector", "rewrites", "converter", "synthetic", "item_metrics",
               "judge_settings")


class TaskSpecError(ValueError):
    """A task spec that is malformed, or a reference in it that does not import."""


def resolve_ref(ref: Ref, what: str = "reference") -> Any:
    """The object ``ref`` names: itself when not a string, else ``module:attr.attr`` imported."""
    if not isinstance(ref, str):
        return ref
    module, sep, attr = ref.partition(":")
    if not sep or not module or not attr:
        raise TaskSpecError(f"{what}: {ref!r} is not of the form 'package.module:attribute'")
    try:
        obj: Any = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as e:
        raise TaskSpecError(f"{what}: cannot import {ref!r}: {type(e).__name__}: {e}") from e
    return obj


@dataclass(frozen=True, kw_only=True)
class TaskSpec:
    """One task: how a response becomes a program, how it is drawn, judged, perturbed and stored.

    Contracts of the references (``None``: the task has no such part; a caller that needs it raises):
    - ``extract(response) -> program | None`` (None: the response holds no program: ``no_code``).
    - ``renderer``: draws a program. Family ``python`` (run in the sandboxed warm python worker):
      ``fn(source, options, meta) -> png bytes``; ``options`` is the render layer's ``RenderOptions``
      resolved for the task, ``meta`` receives extra outputs (a chart's ``trace``); raise
      ``RenderFailure`` for a typed failure. Family ``browser`` (tables): ``fn(browser, source,
      options, meta) -> png bytes`` in the browser worker. The built-ins are the render layer's own
      (``verm_rl.render.renderers``), so the worker and the spec draw with one function. The render
      layer reads ``renderer``, ``worker_family``, ``render_timeout_s``, ``render_long_lived`` and
      ``render_check_blank`` from here (``verm_rl.render.renderers.renderer_for``): a callable renderer
      must be a module-level function, since the worker imports it by its ``module:function`` path.
    - ``comparer(reference, candidate, reference_trace, candidate_trace) -> list[JudgedError]``:
      the structural critic (traces only when ``structural_trace``; else None).
    - ``injector``: a ``verm_rl.data.inject.base.Injector`` (its perturbations by kind, how to apply
      one or several, which ones conflict); ``rewrites``: ``{kind: fn(source, rng) -> source}``
      drawing the same picture (``verm_rl.data.rewrite``).
    - ``converter(root, report=None) -> (items, report)``: local files → (id, task, source, png|None).
    - ``synthetic(rng) -> (source, kind)``: one synthetic reference program.
    - ``item_metrics(response, reference, **kw) -> dict``: the task's benchmark validation metrics.
    - ``judge_settings``: the ``TaskJudgeSettings`` of the ``released`` judge profile (None: defaults).
    """

    name: str
    extract: Ref
    categories: tuple[str, ...]  # the judge's error taxonomy for this task
    category_key: str = "category"  # the key naming an error's category in the judge's JSON answer
    error_location: bool = True  # whether the judge's errors carry a "location" (tables: no)
    location_pattern: str | None = None  # regex of the location part labels and critic name alike
    noun: str = "program"  # how feedback names the program ("matplotlib program")
    fence: str = ""  # the language written on a code fence around a program ("python")
    fence_langs: tuple[str, ...] = ()  # fence languages the extractor accepts
    source_suffixes: tuple[str, ...] = ()  # file suffixes of a program, the first one is written
    data_source: str = ""  # verl's data_source of this task's rows (default "<name>2code")
    policy_prompt: str | None = None  # bundled policy instruction in verm_rl/prompts (one <image>)
    judge_prompt: str | None = None  # bundled judge prompt in verm_rl/prompts
    judge_settings: Ref | None = None
    # where the released Visual-ERM code defines this task's judge prompt, in order of authority, as
    # (file in the checkout, "assign" | "function", symbol): read by ``verm-rl import-prompts``
    released_prompts: tuple[tuple[str, str, str], ...] = ()
    renderer: Ref | None = None
    worker_family: str = "python"  # which warm render worker runs it: python | browser
    render_timeout_s: float = 15.0  # wall clock of one render when the options do not say
    # python family: one long-lived sandboxed child serves every render (only for renderers that run
    # no user code, e.g. SVG); False: a fresh sandboxed child per render (untrusted programs)
    render_long_lived: bool = False
    render_check_blank: bool = True  # the worker rejects an all-white PNG (False: the renderer checks it itself)
    comparer: Ref | None = None
    structural_trace: bool = False  # the comparer needs traced renders (charts: the figure's description)
    injector: Ref | None = None
    rewrites: Ref | None = None
    converter: Ref | None = None
    synthetic: Ref | None = None
    item_metrics: Ref | None = None
    extra_metrics: tuple[str, ...] = ()  # validation metrics only this task has ("teds" for tables)
    broken_program: str = ""  # a program that does not render (test-time scaling's oracle)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise TaskSpecError(f"task name must be lower-case letters, digits and '_', not {self.name!r}")
        if not self.categories or len(set(self.categories)) != len(self.categories):
            raise TaskSpecError(f"task {self.name!r}: categories must be a non-empty list without repeats")
        if OTHER_CATEGORY in self.categories:
            raise TaskSpecError(f"task {self.name!r}: {OTHER_CATEGORY!r} is reserved for unknown categories")
        if not self.category_key:
            raise TaskSpecError(f"task {self.name!r}: category_key must not be empty")
        object.__setattr__(self, "categories", tuple(self.categories))
        if not self.data_source:
            object.__setattr__(self, "data_source", f"{self.name}2code")
        if self.worker_family not in ("python", "browser"):
            raise TaskSpecError(f"task {self.name!r}: worker_family must be 'python' or 'browser', "
                                f"not {self.worker_family!r}")
        if not self.render_timeout_s or self.render_timeout_s <= 0:
            raise TaskSpecError(f"task {self.name!r}: render_timeout_s must be positive")
        if self.location_pattern is not None:
            re.compile(self.location_pattern)
        object.__setattr__(self, "released_prompts", tuple(tuple(s) for s in self.released_prompts))
        for source in self.released_prompts:
            if len(source) != 3 or source[1] not in ("assign", "function"):
                raise TaskSpecError(f"task {self.name!r}: a released prompt source is (path, 'assign'|'function', "
                                    f"symbol), not {source!r}")

    def resolve(self, field_name: str) -> Any:
        """The object a reference field names (imported now). Raises when the task has none."""
        if field_name not in _REF_FIELDS:
            raise TaskSpecError(f"{field_name!r} is not a reference field of TaskSpec; those are {_REF_FIELDS}")
        ref = getattr(self, field_name)
        if ref is None:
            raise TaskSpecError(f"task {self.name!r} has no {field_name}")
        return resolve_ref(ref, f"task {self.name!r} {field_name}")

    def references(self) -> dict[str, Ref]:
        """The reference fields this task sets."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if f.name in _REF_FIELDS and getattr(self, f.name) is not None}

    def extract_code(self, response: str) -> str | None:
        if not isinstance(response, str) or not response.strip():
            return None
        return self.resolve("extract")(response)

    def compare(self, reference: str, candidate: str, reference_trace: dict | None = None,
                candidate_trace: dict | None = None) -> list:
        """The structural critic's errors between two programs of this task."""
        return self.resolve("comparer")(reference, candidate, reference_trace, candidate_trace)

    def render(self, source: str, options: Any = None, meta: dict[str, Any] | None = None) -> bytes:
        """Draw ``source`` in this process with a ``python``-family renderer (no sandbox: the render
        layer runs the same function inside its worker). ``options``: what the renderer takes (the
        built-ins: a ``RenderOptions``, ``RenderOptions().resolved(task)``; None gives ``{}``)."""
        if self.worker_family != "python":
            raise TaskSpecError(f"task {self.name!r} renders in the {self.worker_family!r} worker, not in-process")
        return self.resolve("renderer")(source, options or {}, meta if meta is not None else {})

    def location_key(self, location: str) -> str:
        """The part of a location both labels and critic name the same way ('' when none)."""
        if not self.location_pattern:
            return ""
        m = re.search(self.location_pattern, location or "")
        return m.group(0) if m else ""
