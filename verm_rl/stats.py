"""Running statistics of renders (and other timed steps): counts, error kinds, latency quantiles."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class TimingStats:
    """Counts outcomes and keeps a bounded reservoir of latencies for p50/p95."""

    reservoir_size: int = 4096
    count: int = 0
    ok: int = 0
    errors: Counter = field(default_factory=Counter)
    _seconds: list[float] = field(default_factory=list)
    _rng: random.Random = field(default_factory=lambda: random.Random(0))

    def add(self, ok: bool, seconds: float, error_kind: str | None = None) -> None:
        self.count += 1
        self.ok += int(ok)
        if not ok:
            self.errors[error_kind or "unknown"] += 1
        if len(self._seconds) < self.reservoir_size:
            self._seconds.append(seconds)
        else:
            j = self._rng.randrange(self.count)
            if j < self.reservoir_size:
                self._seconds[j] = seconds

    def merge(self, other: TimingStats) -> None:
        self.count += other.count
        self.ok += other.ok
        self.errors.update(other.errors)
        self._seconds.extend(other._seconds)

    def summary(self) -> dict[str, Any]:
        secs = np.asarray(self._seconds) if self._seconds else np.zeros(1)
        return {
            "count": self.count,
            "ok_rate": self.ok / self.count if self.count else 0.0,
            "errors": dict(self.errors),
            "seconds_p50": float(np.percentile(secs, 50)),
            "seconds_p95": float(np.percentile(secs, 95)),
            "seconds_mean": float(secs.mean()),
        }
