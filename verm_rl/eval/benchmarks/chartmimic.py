"""ChartMimic Direct / Customized Mimic (evaluation.md §2): the policy writes matplotlib code for a chart
image; the code's first ```python block is rewritten as the official harness does (everything from the
first ``plt.savefig(`` and from the first ``plt.show(`` deleted; for Customized Mimic the ground truth's
data block is prepended), then it and the ground-truth script run through the ChartMimic probe
(``chartmimic_trace``) in our render sandbox. Scores over all N items of a split (×100):

- Exec rate: items whose program reached the end and saved its PDF;
- Text, Layout, Type, Color: mean F1 (``chartmimic_metrics``; 0 for items that did not execute);
  Low = their mean;
- High: the judge's 0–100 score (``chartmimic_judge``) of our PNG render vs the dataset's PNG, when a
  judge endpoint is given (else not reported); Overall = (Low + High) / 2.

Data: ``--data`` is one split folder (``direct_600/``, ``customized_600/``, … of ``<type>_<n>.py`` with a
sibling ``<type>_<n>.png``) or a folder of such splits, each scored separately and averaged (the
paper's "Avg" = mean of the Direct and Customized Overall). The task of a split is taken from its name
(``customized`` in it → Customized) unless ``task`` is given.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import defaultdict
from functools import partial
from pathlib import Path
from typing import Any

from verm_rl.eval.benchmarks.base import BenchItem, Benchmark, DataError, ScoreContext, mean, record, safe_name
from verm_rl.eval.benchmarks.chartmimic_metrics import low_level_scores
from verm_rl.eval.benchmarks.chartmimic_trace import decode_report, probe_source

DIRECT_PROMPT = (
    "<image>You are an expert Python developer who writes matplotlib code from chart images. Write Python code "
    "that reproduces this chart as exactly as possible: the same chart type, layout, data, text, colours and "
    "style. Return the complete, runnable code in a single ```python code block.")
CUSTOMIZED_PROMPT = (
    "<image>You are an expert Python developer who writes matplotlib code from chart images. Write Python code "
    "that draws a chart in the same style as this one (chart type, layout, colours, fonts, legend) but with "
    "the following data:\n{data}\nReturn the complete, runnable code in a single ```python code block.")
# What the official harness puts before the ground truth's data block for Customized Mimic (the
# optional libraries guarded here, so a missing one only fails the programs that use it).
DATA_IMPORTS = """import matplotlib.pyplot as plt
import numpy as np
np.random.seed(0)
try:
    import pandas as pd
    import seaborn as sns
    import scipy
    import networkx as nx
    import matplotlib_venn
except ImportError:
    pass
"""
_PART2 = re.compile(r"^.*Part 2: Data Preparation.*$", re.MULTILINE)
_PART3 = re.compile(r"^.*Part 3: Plot Configuration and Rendering.*$", re.MULTILINE)
_FIRST_PYTHON = re.compile(r"```python\s*\n(.*?)```", re.DOTALL)
_CUT = (re.compile(r"plt\.savefig\(.*", re.DOTALL), re.compile(r"plt\.show\(.*", re.DOTALL))


def extract_python(response: str | None) -> str | None:
    """The first ```python block (the official rule; no block → the item scores 0 and did not execute)."""
    m = _FIRST_PYTHON.search(response or "")
    return m.group(1) if m else None


def rewrite(code: str) -> str:
    """Delete ``plt.savefig(`` and everything after it, then the same for ``plt.show(`` (official)."""
    for pattern in _CUT:
        code = pattern.sub("", code)
    return code


def data_block(gt_code: str) -> str:
    """The ground truth's data preparation: between the Part 2 and Part 3 header comments ("" if absent)."""
    start, end = _PART2.search(gt_code), _PART3.search(gt_code)
    if not start or not end or end.start() < start.end():
        return ""
    return gt_code[start.end():end.start()].strip("\n")


def probe_program(code: str, graph: bool) -> str:
    """The program between the probe's install (prefix) and report (suffix)."""
    head = f"{probe_source()}\n__verm_cm__ = _Probe()\n__verm_cm__.install()\n"
    return f"{head}{code}\n__verm_cm__.report(graph={graph})\n"


def _read(path: Path) -> list[bytes]:
    return [path.read_bytes()]


class ChartMimic(Benchmark):
    name = "chartmimic"
    task = "chart"
    headline = "low"

    def __init__(self, task: str = "auto", judge: str | None = None, judge_model: str | None = None,
                 judge_api_key: str | None = None, dpi: int = 100, prompt_file: str | None = None,
                 timeout_s: float = 60.0):
        if task not in ("auto", "direct", "customized"):
            raise ValueError(f"task must be auto, direct or customized, not {task!r}")
        self.task_mode = task
        self.dpi = int(dpi)
        self.timeout_s = float(timeout_s)
        self.prompt_override = Path(prompt_file).read_text().strip() if prompt_file else None
        self.judge = None
        if judge:
            from verm_rl.eval.benchmarks.chartmimic_judge import ChartJudge

            self.judge = ChartJudge(judge, judge_model, judge_api_key)
        self._gt_cache: dict[str, Any] = {}
        self._gt_locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    def _split_task(self, folder: Path) -> str:
        if self.task_mode != "auto":
            return self.task_mode
        return "customized" if "custom" in folder.name.lower() else "direct"

    def load(self, data: Path, limit: int | None = None) -> list[BenchItem]:
        data = Path(data)
        if not data.is_dir():
            raise DataError(f"{data} is not a folder of ChartMimic scripts")
        splits = [data] if any(data.glob("*.py")) else sorted(p for p in data.iterdir() if p.is_dir()
                                                              and any(p.glob("*.py")))
        if not splits:
            raise DataError(f"no <type>_<n>.py scripts in {data} or its sub-folders")
        items = []
        for split in splits:
            task = self._split_task(split)
            prefix = "" if split == data else f"{split.name}/"
            for script in sorted(split.glob("*.py")):
                png = script.with_suffix(".png")
                if not png.exists():
                    raise DataError(f"{script}: no sibling {png.name} (the input image)")
                gt = script.read_text(encoding="utf-8", errors="replace")
                block = data_block(gt) if task == "customized" else ""
                if self.prompt_override:
                    prompt = self.prompt_override.replace("{data}", block)
                else:
                    prompt = CUSTOMIZED_PROMPT.format(data=block) if task == "customized" else DIRECT_PROMPT
                items.append(BenchItem(
                    id=f"{prefix}{script.stem}", prompt=prompt, group=split.name, load_images=partial(_read, png),
                    reference={"code": gt, "task": task, "graph": script.stem.startswith("graph"),
                               "data_block": block}))
                if limit is not None and len(items) >= limit:
                    return items
        return items

    async def _probe(self, ctx: ScoreContext, code: str, graph: bool) -> tuple[dict | None, Any]:
        result = await ctx.render_pool.render("chart", probe_program(code, graph), dpi=self.dpi,
                                              stdout_bytes=65536, timeout_s=self.timeout_s, max_source_kb=2048)
        return decode_report(result.stdout), result

    async def _gold(self, item: BenchItem, ctx: ScoreContext) -> dict | None:
        """The ground truth's probe report, computed once per item (cached on disk across runs)."""
        async with self._gt_locks[item.id]:
            if item.id in self._gt_cache:
                return self._gt_cache[item.id]
            path = ctx.cache_dir / "gt_probe" / f"{safe_name(item.id)}.json" if ctx.cache_dir else None
            if path is not None and path.exists():
                report = json.loads(path.read_text())
            else:
                report, _ = await self._probe(ctx, rewrite(item.reference["code"]), item.reference["graph"])
                if path is not None and report is not None:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text(json.dumps(report))
            self._gt_cache[item.id] = report
            return report

    def _zero(self) -> dict[str, float]:
        out = {"exec": 0.0, "text": 0.0, "layout": 0.0, "type": 0.0, "color": 0.0, "low": 0.0}
        if self.judge is not None:
            out["high"] = 0.0
        return out

    async def score(self, item: BenchItem, response: str | None, ctx: ScoreContext) -> dict[str, Any]:
        code = extract_python(response)
        if code is None:
            return record(item, "no_code" if response else "no_prediction", self._zero())
        code = rewrite(code)
        if item.reference["task"] == "customized":
            code = f"{DATA_IMPORTS}{item.reference['data_block']}\n{code}"
        (gen, result), gold = await asyncio.gather(self._probe(ctx, code, item.reference["graph"]),
                                                   self._gold(item, ctx))
        metrics = self._zero()
        detail: dict[str, Any] = {"render": ctx.save_render(item.id, result.png)}
        if gold is None or not gold.get("pdf"):
            detail["gt_error"] = "the ground-truth script did not run through the probe"
        executed = bool(gen and gen.get("pdf"))
        if not executed:
            detail["error"] = f"{result.error_kind}: {result.message[:500]}" if not result.ok else "no probe report"
            return record(item, "not_executed", metrics, **detail)
        metrics["exec"] = 1.0
        metrics.update(low_level_scores(gen, gold))
        metrics["low"] = mean([metrics[k] for k in ("text", "layout", "type", "color")])
        status = "ok" if gold and gold.get("pdf") else "gt_failed"
        if self.judge is not None:
            if result.png:
                metrics["high"], detail["judge_reply"] = await self.judge.rate(item.images()[0], result.png)
                if not detail["judge_reply"]:  # no answer after retries: 0 now, judged again next run
                    status = "judge_failed"
            else:
                detail["judge_reply"] = f"no image to judge ({result.error_kind})"
        out = record(item, status, metrics, **detail)
        if status == "judge_failed":
            out["retry"] = True
        return out

    def summarize(self, records: list[dict[str, Any]], n_items: int) -> dict[str, Any]:
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in records:
            groups[r["group"]].append(r["metrics"])
        out: dict[str, Any] = {}
        overall = []
        for name, ms in groups.items():
            n = len(ms)
            s = {"exec_rate": 100 * sum(m.get("exec", 0.0) for m in ms) / n}
            for key in ("text", "layout", "type", "color"):
                s[key] = 100 * sum(m.get(key, 0.0) for m in ms) / n
            s["low"] = mean([s["text"], s["layout"], s["type"], s["color"]])
            if self.judge is not None:
                s["high"] = sum(m.get("high", 0.0) for m in ms) / n
                s["overall"] = (s["low"] + s["high"]) / 2
                overall.append(s["overall"])
            prefix = "" if len(groups) == 1 else f"{name}/"
            out.update({f"{prefix}{k}": v for k, v in s.items()})
        if len(groups) > 1 and overall:
            out["avg_overall"] = mean(overall)
        if self.judge is None:
            out["high"] = None
            out["note"] = "high-level score skipped: pass --judge (an OpenAI-compatible vision model endpoint)"
        else:
            out["judge_failures"] = self.judge.stats()["failures"]
        return out

    async def close(self) -> None:
        if self.judge is not None:
            await self.judge.close()
