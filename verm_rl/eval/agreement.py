"""How well a judge recovers known errors: per-category precision and recall over labelled pairs.

Errors are matched per pair by category (each predicted error can match one true error of the
same category), the way the structural judge's labels and the injector's labels line up.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from verm_rl.judge.schema import JudgedError


@dataclass
class Agreement:
    tp: Counter = field(default_factory=Counter)
    fp: Counter = field(default_factory=Counter)
    fn: Counter = field(default_factory=Counter)
    pairs: int = 0

    def add(self, predicted: Iterable[JudgedError], true: Iterable[JudgedError]) -> None:
        pc, tc = Counter(e.category for e in predicted), Counter(e.category for e in true)
        for c in set(pc) | set(tc):
            m = min(pc[c], tc[c])
            self.tp[c] += m
            self.fp[c] += pc[c] - m
            self.fn[c] += tc[c] - m
        self.pairs += 1

    @staticmethod
    def _pr(tp: int, fp: int, fn: int) -> dict[str, float]:
        return {"precision": tp / (tp + fp) if tp + fp else 1.0, "recall": tp / (tp + fn) if tp + fn else 1.0,
                "support": float(tp + fn)}

    def per_category(self) -> dict[str, dict[str, float]]:
        cats = sorted(set(self.tp) | set(self.fp) | set(self.fn))
        return {c: self._pr(self.tp[c], self.fp[c], self.fn[c]) for c in cats}

    def overall(self) -> dict[str, float]:
        return self._pr(sum(self.tp.values()), sum(self.fp.values()), sum(self.fn.values()))
