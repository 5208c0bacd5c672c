"""Policy evaluation on the paper's benchmarks (``verm-rl evaluate``).

One module per benchmark (data loading, prompt, per-item scoring, aggregation), one module per
metric (each cites its definition), and ``runner`` for generation, resume and reports:

- ``chartmimic``: ChartMimic Direct/Customized Mimic — exec rate, low-level text/layout/type/colour
  F1 (``chartmimic_metrics`` over figures probed by ``chartmimic_trace``), high-level judge score.
- ``omnidocbench``: OmniDocBench table recognition — TEDS, TEDS-S, normalised edit distance.
- ``olmocr``: olmOCR-Bench table tests ("TA") — cell relations (``olmocr_tables``).
- ``unisvg``: UniSVG ISVGEN — SSIM at 336, LPIPS, CLIP, composite score (``svg_metrics``).
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from verm_rl.eval.benchmarks.base import BenchItem, Benchmark

BENCHMARKS: dict[str, str] = {
    "chartmimic": "verm_rl.eval.benchmarks.chartmimic:ChartMimic",
    "omnidocbench-table": "verm_rl.eval.benchmarks.omnidocbench:OmniDocBenchTable",
    "olmocr-table": "verm_rl.eval.benchmarks.olmocr:OlmOCRTable",
    "unisvg": "verm_rl.eval.benchmarks.unisvg:UniSVG",
}


def benchmark_class(name: str) -> type[Benchmark]:
    if name not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}; expected one of {sorted(BENCHMARKS)}")
    module, cls = BENCHMARKS[name].split(":")
    return getattr(importlib.import_module(module), cls)


def accepted_options(name: str, options: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The options (``None`` = not given) that ``name``'s benchmark takes, and the given ones it does not."""
    params = inspect.signature(benchmark_class(name).__init__).parameters
    given = {k: v for k, v in options.items() if v is not None}
    return {k: v for k, v in given.items() if k in params}, sorted(k for k in given if k not in params)


def get_benchmark(name: str, **options: Any) -> Benchmark:
    """The benchmark registered as ``name``, built with its options (unknown options are a TypeError)."""
    return benchmark_class(name)(**options)


__all__ = ["BENCHMARKS", "BenchItem", "Benchmark", "get_benchmark"]
