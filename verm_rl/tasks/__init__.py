"""The task registry: one ``TaskSpec`` per task, looked up by name everywhere a task matters.

``get_task("chart")`` gives everything chart-specific (extraction, categories, prompts, renderer,
structural comparer, injector, converter …). The built-in tasks (chart, table, svg) each live in
one module here; ``register_task(spec)`` adds another (a fourth task touches its module plus its
renderer). ``TASKS``, ``CATEGORIES`` and ``CATEGORY_KEY`` are live read-only views of the registry.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from verm_rl.tasks import chart, svg, table
from verm_rl.tasks.spec import OTHER_CATEGORY, Ref, TaskSpec, TaskSpecError, resolve_ref

_REGISTRY: dict[str, TaskSpec] = {}
_LOCK = threading.Lock()


class UnknownTaskError(ValueError, KeyError):
    """A task name nobody registered (a ValueError for callers, a KeyError for mapping views)."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""


def register_task(spec: TaskSpec, replace: bool = False) -> TaskSpec:
    """Add ``spec`` under its name (``replace`` to swap an existing one); returns it."""
    if not isinstance(spec, TaskSpec):
        raise TypeError(f"register_task takes a TaskSpec, not {type(spec).__name__}")
    with _LOCK:
        if spec.name in _REGISTRY and not replace and _REGISTRY[spec.name] is not spec:
            raise TaskSpecError(f"task {spec.name!r} is already registered (pass replace=True to swap it)")
        _REGISTRY[spec.name] = spec
    return spec


def unregister_task(name: str) -> None:
    """Remove a task (tests that register a toy task clean up with this)."""
    with _LOCK:
        _REGISTRY.pop(name, None)


def task_names(having: str | None = None) -> tuple[str, ...]:
    """The registered task names, in registration order; ``having``: only tasks that set that field
    (``task_names("synthetic")``: the tasks with a synthetic generator)."""
    return tuple(n for n, s in _REGISTRY.items() if having is None or getattr(s, having))


def get_task(name: str) -> TaskSpec:
    """The spec of task ``name``; an ``UnknownTaskError`` naming the registered tasks otherwise."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise UnknownTaskError(f"unknown task {name!r}; registered tasks: {', '.join(_REGISTRY)}") from None


def check_task(task: str) -> str:
    """``task`` when registered, else an ``UnknownTaskError``."""
    get_task(task)
    return task


def task_of_data_source(data_source: str) -> str | None:
    """The task whose rows carry ``data_source`` (e.g. ``chart2code``), None when no task does."""
    return next((s.name for s in _REGISTRY.values() if s.data_source == data_source), None)


def extract_code(task: str, response: str) -> str | None:
    """The program in a model response, or None when there is none (the task's ``extract``).

    chart: a ```python fence (the last one that mentions matplotlib/plt), else bare code that
    imports matplotlib. svg: a ```svg/```xml fence or a bare ``<svg …</svg>``. table: a
    ```html/```markdown fence, a bare ``<table …</table>`` or a markdown pipe table.
    An unclosed fence (a truncated response) counts up to the end of the text.
    """
    return get_task(task).extract_code(response)


class _Names(Sequence[str]):
    """The registered names as a live tuple-like sequence (argparse ``choices``, ``in`` tests)."""

    def __getitem__(self, i: Any) -> Any:
        return task_names()[i]

    def __len__(self) -> int:
        return len(_REGISTRY)

    def __contains__(self, name: object) -> bool:
        return name in _REGISTRY

    def __iter__(self) -> Iterator[str]:
        return iter(task_names())

    def __repr__(self) -> str:
        return repr(task_names())


class _FieldView(Mapping[str, Any]):
    """task -> one field of its spec, read live from the registry."""

    def __init__(self, field_name: str):
        self._field = field_name

    def __getitem__(self, task: str) -> Any:
        return getattr(get_task(task), self._field)

    def __iter__(self) -> Iterator[str]:
        return iter(task_names())

    def __len__(self) -> int:
        return len(_REGISTRY)

    def __repr__(self) -> str:
        return repr(dict(self))


TASKS: Sequence[str] = _Names()
CATEGORIES: Mapping[str, tuple[str, ...]] = _FieldView("categories")  # the judge's error taxonomy per task
CATEGORY_KEY: Mapping[str, str] = _FieldView("category_key")  # tables name it "type" (and give no location)

for _builtin in (chart.SPEC, table.SPEC, svg.SPEC):
    register_task(_builtin)

__all__ = [
    "CATEGORIES", "CATEGORY_KEY", "OTHER_CATEGORY", "TASKS", "Ref", "TaskSpec", "TaskSpecError", "UnknownTaskError",
    "check_task", "extract_code", "get_task", "register_task", "resolve_ref", "task_names", "task_of_data_source",
    "unregister_task",
]
