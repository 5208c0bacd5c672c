"""Error injection: perturb a reference program and say, in the judge's schema, what was changed.

One module per task, as the structural critic (``verm_rl.judge.structural``): ``chart`` edits the
AST (a data value, a dropped series, a swapped chart type, a colour, a text, the legend position,
the subplot layout), ``table`` the markup's cell grid (a cell's text or number, a dropped row or
column, a removed span), ``svg`` the element tree (a shape's geometry or colour, a removed element,
a text); ``base`` holds what they share. Every label's severity comes from the critic's rule book
(``verm_rl.judge.structural.rules``), so labels and critic agree by construction. Each task module
offers its ``INJECTOR`` (``base.Injector``: the perturbations, ``perturb``, ``apply_kinds``,
``conflict``, each kind's category, the kinds applied first and last), which the task's spec names
(``TaskSpec.injector``); this module looks it up in the task registry, so a new task brings its own.
Seedable; callers keep only perturbations that still render.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping

from verm_rl.data.inject.base import Injector, NotApplicable, Perturbation, hash_text
from verm_rl.data.inject.chart import CHART_PERTURBATIONS, perturb_chart
from verm_rl.data.inject.svg import SVG_PERTURBATIONS
from verm_rl.data.inject.table import TABLE_PERTURBATIONS
from verm_rl.tasks import get_task, task_names


def injector(task: str) -> Injector:
    """The error injector of ``task`` (its spec's ``injector``); a ValueError when it has none."""
    spec = get_task(task)
    if spec.injector is None:
        raise ValueError(f"no error injector for task {task!r}; tasks with one: {', '.join(task_names('injector'))}")
    found = spec.resolve("injector")
    if not isinstance(found, Injector):
        raise TypeError(f"task {task!r} injector is a {type(found).__name__}, not a verm_rl.data.inject.base.Injector")
    return found


def perturbations_for(task: str) -> Mapping[str, Callable]:
    return injector(task).perturbations


def inject(task: str, source: str, k: int = 3, seed: int = 0, kinds: list[str] | None = None) -> list[Perturbation]:
    """Up to ``k`` perturbations of ``source``, each of a different kind (seeded)."""
    inj = injector(task)
    rng = random.Random(f"{seed}:{task}:{hash_text(source)}")
    pool = list(kinds or inj.perturbations)
    rng.shuffle(pool)
    out: list[Perturbation] = []
    for kind in pool:
        if len(out) >= k:
            break
        try:
            p = inj.perturb(source, kind, rng)
        except (NotApplicable, SyntaxError, ValueError):
            continue
        if p.source.strip() != source.strip():
            out.append(p)
    return out


def _combine(task: str, source: str, kinds: list[str], rng: random.Random) -> Perturbation:
    """Apply ``kinds`` one after another; raise NotApplicable when one does not apply or two would
    touch the same place (an edit hidden or re-attributed by another)."""
    inj = injector(task)
    out, errors = inj.apply_kinds(source, kinds, rng)
    spec_key = get_task(task).location_key
    why = inj.conflict([spec_key(e.location) for e in errors], errors)
    if why:
        raise NotApplicable(why)
    return Perturbation("+".join(kinds), out, errors)


def inject_multi(task: str, source: str, n: int = 3, seed: int = 0, tries: int = 12) -> list[Perturbation]:
    """Up to ``n`` multi-error perturbations of ``source``, each with 2–4 errors of different
    categories at once (seeded). Combinations whose edits would overlap are skipped."""
    inj = injector(task)
    rng = random.Random(f"multi:{seed}:{task}:{hash_text(source)}")
    by_category: dict[str, list[str]] = {}
    for kind in inj.perturbations:
        by_category.setdefault(inj.category[kind], []).append(kind)
    out: list[Perturbation] = []
    seen: set[str] = set()
    for _ in range(tries):
        if len(out) >= n:
            break
        size = rng.randint(2, min(4, len(by_category)))
        kinds = [rng.choice(by_category[c]) for c in rng.sample(sorted(by_category), size)]
        # kinds that remove or re-index things go first, so that later edits are labelled on what is left
        kinds.sort(key=lambda k: (k not in inj.first, k in inj.last))
        try:
            p = _combine(task, source, kinds, rng)
        except (NotApplicable, SyntaxError, ValueError, IndexError):
            continue
        if p.source.strip() != source.strip() and p.source not in seen and len(p.errors) >= 2:
            seen.add(p.source)
            out.append(p)
    return out


__all__ = ["CHART_PERTURBATIONS", "Injector", "NotApplicable", "Perturbation", "SVG_PERTURBATIONS",
           "TABLE_PERTURBATIONS", "inject", "inject_multi", "injector", "perturb_chart", "perturbations_for"]
