"""What every benchmark provides to the runner: items to generate for, a scorer and an aggregator."""

from __future__ import annotations

import io
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class DataError(ValueError):
    """The benchmark folder is missing files or holds records in an unexpected format."""


@dataclass
class BenchItem:
    """One generation: an id unique in the benchmark, the instruction (with ``<image>`` markers), a
    loader for the input images (loaded on demand: benchmarks hold thousands), what scoring needs,
    and a group (page, PDF, subset) for group-level aggregation."""

    id: str
    prompt: str
    load_images: Callable[[], list[bytes]] = field(repr=False)
    reference: dict[str, Any] = field(default_factory=dict, repr=False)
    group: str = ""

    def images(self) -> list[bytes]:
        return self.load_images()


@dataclass
class ScoreContext:
    """Shared by all scoring calls of one run: the render pool, where renders go, and options."""

    render_pool: Any  # LocalRenderPool (or anything with ``async render(task, source, **options)``)
    render_dir: Path | None = None
    cache_dir: Path | None = None  # per-run cache of reference-side work (e.g. ChartMimic's GT probes)
    options: dict[str, Any] = field(default_factory=dict)
    cpu_pool: Any = None  # a process pool for pure-Python scoring (TEDS); None = a thread of this process

    async def run_cpu(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` off the event loop: in the process pool when there is one (APTED is pure Python
        and holds the GIL), else in a thread."""
        import asyncio
        from functools import partial

        if self.cpu_pool is None:
            return await asyncio.to_thread(fn, *args)
        return await asyncio.get_running_loop().run_in_executor(self.cpu_pool, partial(fn, *args))

    def save_render(self, item_id: str, png: bytes | None, suffix: str = "") -> str | None:
        """Write a candidate render next to the results (for the worst-items page); its path or None."""
        if not png or self.render_dir is None:
            return None
        self.render_dir.mkdir(parents=True, exist_ok=True)
        path = self.render_dir / f"{safe_name(item_id)}{suffix}.png"
        path.write_bytes(png)
        return str(path)


def safe_name(item_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in item_id)[:180]


def png_bytes(image: Any) -> bytes:
    """A PIL image as PNG bytes."""
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


class Benchmark(ABC):
    """A benchmark: ``load`` its items, ``score`` one response, ``summarize`` the per-item records.

    A record is a JSON-able dict ``{"id", "group", "status", "metrics": {name: float}, "detail": {...}}``;
    ``status`` is ``"ok"`` or why the item scored as it did (``no_prediction``, ``render_failed``, …);
    ``"retry": true`` makes the next run score the item again (a transient failure such as a judge outage).
    ``headline`` names the per-item metric the worst-items page sorts by (ascending, or descending when
    ``lower_is_better``).
    """

    name: str = ""
    task: str = ""  # chart | table | svg
    headline: str = ""
    lower_is_better: bool = False

    @abstractmethod
    def load(self, data: Path, limit: int | None = None) -> list[BenchItem]:
        ...

    @abstractmethod
    async def score(self, item: BenchItem, response: str | None, ctx: ScoreContext) -> dict[str, Any]:
        ...

    @abstractmethod
    def summarize(self, records: list[dict[str, Any]], n_items: int) -> dict[str, Any]:
        """Headline numbers (×100 where the benchmark reports percentages) over all ``n_items``."""
        ...

    def responses_from_dir(self, path: Path) -> dict[str, str]:
        """Predictions stored as files (a benchmark's native candidate layout); JSONL otherwise."""
        raise DataError(f"{self.name}: predictions must be a JSONL file of {{id, response}}, not a folder")


def record(item: BenchItem, status: str, metrics: dict[str, float], **detail: Any) -> dict[str, Any]:
    return {"id": item.id, "group": item.group, "status": status, "metrics": metrics, "detail": detail}


def mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def policy_request(item: BenchItem, **sampling: Any) -> Any:
    """The ``verm_rl.policy.PolicyRequest`` for an item: its prompt as one user turn, each ``<image>``
    marker an image placeholder (an instruction without one gets the images first)."""
    from verm_rl.policy import PolicyRequest, user_content

    images = item.images()
    text = item.prompt
    missing = len(images) - text.count("<image>")
    if missing > 0:
        text = "<image>" * missing + text
    return PolicyRequest(images, [{"role": "user", "content": user_content(text)}], **sampling)
