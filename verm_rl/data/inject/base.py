"""What every injector shares: the injector record a task spec names, the perturbation record, the
not-applicable signal, the error constructor, and the pools new colours and words are drawn from."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from verm_rl.judge.schema import JudgedError

COLOR_POOL = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
              "#17becf", "#000000", "#ffd700", "#00ced1", "#ff1493"]
WORD_SWAPS = ["Income", "Loss", "Speed", "Weight", "Count", "Ratio", "Total", "Share", "Rate", "Size"]
# a new colour is drawn this many CIEDE2000 units beyond the critic's top colour threshold, so that
# it stays visibly different after alpha blending and antialiasing
COLOR_MARGIN = 5.0


class NotApplicable(Exception):
    """This perturbation cannot be applied to this program."""


@dataclass
class Perturbation:
    """A perturbed program and the errors that were injected into it."""

    kind: str
    source: str
    errors: list[JudgedError] = field(default_factory=list)


@dataclass(frozen=True)
class Injector:
    """One task's error injector: what ``TaskSpec.injector`` names (``"<module>:INJECTOR"``).

    ``perturbations``: kind -> the perturbation function; ``category``: kind -> the category it produces (a
    multi-error perturbation mixes categories); ``first``/``last``: kinds applied first/last in one
    (re-indexing edits). Markup injectors (``fn(source, rng) -> Perturbation``) need nothing else; one that
    edits a parsed form (charts: a syntax tree) also gives ``perturb(source, kind, rng)`` and
    ``apply_kinds(source, kinds, rng) -> (program, errors)`` (several kinds, one after another).
    ``conflict(location_keys, errors)``: why those errors cannot be injected together (default: never).
    """

    perturbations: Mapping[str, Callable]
    category: Mapping[str, str]
    perturb: Callable[[str, str, random.Random], Perturbation] | None = None
    apply_kinds: Callable[[str, list[str], random.Random], tuple[str, list[JudgedError]]] | None = None
    conflict: Callable[[list[str], list[JudgedError]], str | None] | None = None
    first: frozenset[str] = frozenset()
    last: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        defaults = {"perturb": self._perturb_markup, "apply_kinds": self._apply_in_order, "conflict": _no_conflict}
        for name, fn in defaults.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, fn)

    def _perturb_markup(self, source: str, kind: str, rng: random.Random) -> Perturbation:
        return self.perturbations[kind](source, rng)

    def _apply_in_order(self, source: str, kinds: list[str], rng: random.Random) -> tuple[str, list[JudgedError]]:
        errors: list[JudgedError] = []
        for kind in kinds:
            p = self.perturb(source, kind, rng)
            source, errors = p.source, errors + p.errors
        return source, errors


def _no_conflict(keys: list[str], errors: list[JudgedError]) -> str | None:
    return None


def error(category: str, severity: int, location: str, description: str) -> JudgedError:
    return JudgedError(f"{category}_error", severity, location, description)


def hash_text(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()
