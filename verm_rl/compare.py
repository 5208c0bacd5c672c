"""``verm-rl compare``: reward arms side by side, from wandb or from offline run folders.

Runs come from the wandb API (project + group, or run ids) or from local ``wandb/offline-run-*``
folders (no network: the ``.wandb`` transaction log is read record by record and decoded with
wandb's own protobuf ``Record``; wandb 0.31 ships no Python reader for it). Runs are grouped by
arm (the ``verm.summary.arm`` config the recipe logs, else the run name
``<task>__<arm>__<model>__s<seed>``), aligned by step, and written to a folder as

- ``compare.md``: final and best value per metric and arm (mean over seeds, ± std when > 1 seed;
  ``—`` where an arm never logged the metric), with the number of seeds and steps per arm;
- ``<section>.png``: one panel per metric, one line per arm (mean over seeds), seeds as a band;
- ``index.html``: the table and the plots on one page (``--open`` prints its path).
"""

from __future__ import annotations

import fnmatch
import html
import json
import logging
import math
import re
import struct
import zlib
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_METRICS = ("val-common/*", "verm/*/render_rate", "verm/*/reward/*", "verm/*/severity/*")
EXCLUDE = ("*/samples",)  # counts, not outcomes
LOWER_IS_BETTER = ("severity", "failure_rate", "fallback_rate", "latency", "seconds")
NAME = re.compile(r"^(?P<task>.+?)__(?P<arm>.+?)__(?P<model>.+?)__s(?P<seed>\d+)$")
_HEADER = b":W&B"
_BLOCK = 32768
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


class CompareError(ValueError):
    """No runs, unreadable runs, or nothing to compare."""


@dataclass
class RunData:
    id: str
    name: str
    group: str | None = None
    tags: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    history: dict[str, dict[int, float]] = field(default_factory=dict)  # metric -> step -> value
    source: str = ""

    @property
    def summary(self) -> dict[str, Any]:
        verm = self.config.get("verm")
        return (verm.get("summary") or {}) if isinstance(verm, dict) else {}

    @property
    def arm(self) -> str:
        m = NAME.match(self.name or "")
        return str(self.summary.get("arm") or (m.group("arm") if m else self.name or self.id))

    @property
    def seed(self) -> str:
        m = NAME.match(self.name or "")
        seed = self.summary.get("seed")
        return str(seed if seed is not None else (m.group("seed") if m else self.id))

    @property
    def last_step(self) -> int:
        return max((max(v) for v in self.history.values() if v), default=-1)


# ------------------------------------------------------------------ reading runs


def iter_records(path: str | Path) -> Iterator[Any]:
    """wandb ``Record`` protobufs of a ``.wandb`` file (a LevelDB-style log: 32 KiB blocks of chunks
    with a crc32 of type+data). A torn or corrupt tail (a run still writing, a crash) ends the scan."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = Path(path).read_bytes()
    if data[:4] != _HEADER:
        raise CompareError(f"{path}: not a wandb transaction log")
    pos, pending = 7, b""
    while pos + 7 <= len(data):
        left = _BLOCK - pos % _BLOCK
        if left < 7:  # block trailer: zero padding
            pos += left
            continue
        crc, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        chunk = data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind == 0 and length == 0:
            continue
        if len(chunk) < length or zlib.crc32(bytes([kind]) + chunk) != crc:
            log.warning("%s: corrupt or partial record at byte %d; reading stops there", path, pos)
            return
        if kind in (_FULL, _FIRST):
            pending = chunk
        else:
            pending += chunk
        if kind in (_FULL, _LAST):
            record = pb.Record()
            record.ParseFromString(pending)
            pending = b""
            yield record


def _item_key(item: Any) -> str:
    return ".".join(item.nested_key) if len(item.nested_key) else item.key


def _number(value_json: str) -> float | None:
    try:
        value = json.loads(value_json)
    except ValueError:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def read_offline_run(path: str | Path) -> RunData:
    """One run from its ``.wandb`` file or its ``offline-run-*`` folder."""
    path = Path(path)
    files = [path] if path.is_file() else sorted(path.glob("run-*.wandb"))
    if not files:
        raise CompareError(f"{path}: no run-*.wandb file")
    run = RunData(id=files[0].stem.removeprefix("run-"), name="", source=str(path))
    for record in iter_records(files[0]):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            r = record.run
            run.id, run.name = r.run_id or run.id, r.display_name or run.name
            run.group, run.tags = r.run_group or None, list(r.tags)
            _apply_config(run.config, r.config.update)
        elif kind == "config":
            _apply_config(run.config, record.config.update)
        elif kind == "history":
            step = record.history.step.num
            values = {_item_key(i): _number(i.value_json) for i in record.history.item}
            step = int(values.get("_step") if values.get("_step") is not None else step)
            for key, value in values.items():
                if value is not None and not key.startswith("_"):
                    run.history.setdefault(key, {})[step] = value
    run.name = run.name or run.id
    return run


def _apply_config(config: dict[str, Any], updates: Iterable[Any]) -> None:
    for item in updates:
        try:
            value = json.loads(item.value_json)
        except ValueError:
            continue
        key = _item_key(item)
        if isinstance(value, dict) and set(value) == {"value"}:  # the cloud's {"value": …} wrapping
            value = value["value"]
        config[key] = value


def find_offline_runs(paths: Iterable[str | Path]) -> list[Path]:
    """``.wandb`` files under each path (a run folder, a ``wandb`` folder, or any folder above)."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_file() and p.suffix == ".wandb":
            found.append(p)
        elif p.is_dir():
            found.extend(sorted(p.rglob("run-*.wandb")))
        else:
            raise CompareError(f"{p}: no such file or folder")
    if not found:
        raise CompareError(f"no wandb runs (run-*.wandb) under {', '.join(map(str, paths))}")
    return found


def load_api_runs(project: str, group: str | None = None, run_ids: Iterable[str] = (), entity: str | None = None,
                  api: Any = None) -> list[RunData]:
    """Runs of a wandb project (all of ``group``, or the given ids) through the public API."""
    import wandb

    api = api or wandb.Api()
    prefix = f"{entity}/{project}" if entity else project
    ids = list(run_ids)
    if ids:
        runs = [api.run(f"{prefix}/{i}") for i in ids]
    elif group:
        runs = list(api.runs(prefix, filters={"group": group}))
    else:
        raise CompareError("give --group or --runs with --project")
    out = []
    for r in runs:
        run = RunData(id=r.id, name=r.name, group=r.group, tags=list(r.tags or []), config=dict(r.config),
                      source=f"wandb:{prefix}/{r.id}")
        for row in r.scan_history():
            step = row.get("_step")
            if step is None:
                continue
            for key, value in row.items():
                if not key.startswith("_") and isinstance(value, (int, float)) and not isinstance(value, bool):
                    run.history.setdefault(key, {})[int(step)] = float(value)
        out.append(run)
    if not out:
        raise CompareError(f"no runs in {prefix} for group={group!r} runs={ids}")
    return out


# ------------------------------------------------------------------ aggregation


def select_metrics(runs: list[RunData], patterns: Iterable[str] = DEFAULT_METRICS) -> list[str]:
    patterns = list(patterns)
    keys = {k for r in runs for k in r.history}
    return sorted(k for k in keys if any(fnmatch.fnmatchcase(k, p) for p in patterns)
                  and not any(fnmatch.fnmatchcase(k, p) for p in EXCLUDE))


def lower_is_better(metric: str) -> bool:
    return any(word in metric for word in LOWER_IS_BETTER)


def _seed_order(run: RunData) -> tuple:
    seed = str(run.seed)
    return (0, int(seed), run.name) if seed.isdigit() else (1, seed, run.name)


def by_arm(runs: list[RunData]) -> dict[str, list[RunData]]:
    """Runs grouped by arm, arms by name, and within an arm by seed (numeric), then run name."""
    arms: dict[str, list[RunData]] = defaultdict(list)
    for r in runs:
        arms[r.arm].append(r)
    return {arm: sorted(rs, key=_seed_order) for arm, rs in sorted(arms.items())}


def final_and_best(runs: list[RunData], metric: str) -> tuple[list[float], list[float]]:
    """Per run that logged ``metric``: its value at its last logged step, and its best value."""
    finals, bests = [], []
    for r in runs:
        series = r.history.get(metric)
        if not series:
            continue
        finals.append(series[max(series)])
        bests.append(min(series.values()) if lower_is_better(metric) else max(series.values()))
    return finals, bests


def _fmt(values: list[float]) -> str:
    if not values:
        return "—"
    mean = sum(values) / len(values)
    if len(values) == 1:
        return f"{mean:.4g}"
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    return f"{mean:.4g} ± {std:.2g}"


def markdown_table(runs: list[RunData], metrics: list[str]) -> str:
    arms = by_arm(runs)
    names = list(arms)
    lines = ["| metric | " + " | ".join(f"{a} final | {a} best" for a in names) + " |",
             "|---|" + "---|---|" * len(names)]
    for metric in metrics:
        cells = []
        for arm in names:
            finals, bests = final_and_best(arms[arm], metric)
            cells += [_fmt(finals), _fmt(bests)]
        direction = " (↓)" if lower_is_better(metric) else ""
        lines.append(f"| `{metric}`{direction} | " + " | ".join(cells) + " |")
    runs_line = ["| arm | runs (seeds) | steps | run names |", "|---|---|---|---|"]
    for arm, rs in arms.items():
        runs_line.append(f"| {arm} | {len(rs)} ({', '.join(str(r.seed) for r in rs)}) | "
                         f"{', '.join(str(r.last_step + 1) for r in rs)} | {', '.join(r.name for r in rs)} |")
    return "\n".join(runs_line) + "\n\n" + "\n".join(lines) + "\n"


def aligned(runs: list[RunData], metric: str) -> tuple[list[int], list[float], list[float], list[float]]:
    """Steps, and per step the mean, min and max over the runs (seeds) that logged it there."""
    steps = sorted({s for r in runs for s in r.history.get(metric, {})})
    mean, low, high = [], [], []
    for s in steps:
        values = [r.history[metric][s] for r in runs if s in r.history.get(metric, {})]
        mean.append(sum(values) / len(values))
        low.append(min(values))
        high.append(max(values))
    return steps, mean, low, high


def section_of(metric: str) -> str:
    if metric.startswith("val-common/"):
        return "val-common"
    if "/severity/" in metric:
        return "severity"
    if "/reward/" in metric:
        return "reward"
    return metric.split("/")[0] if "/" in metric else "other"


def plot_sections(runs: list[RunData], metrics: list[str], out: Path) -> list[Path]:
    """One PNG per section: one panel per metric, one line per arm, the seeds' min–max as a band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    arms = by_arm(runs)
    sections: dict[str, list[str]] = defaultdict(list)
    for m in metrics:
        sections[section_of(m)].append(m)
    paths = []
    colors = plt.get_cmap("tab10")
    for section, ms in sorted(sections.items()):
        cols = min(4, len(ms))
        rows = math.ceil(len(ms) / cols)
        fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), squeeze=False)
        for ax, metric in zip(axes.flat, ms):
            for i, (arm, rs) in enumerate(arms.items()):
                steps, mean, low, high = aligned(rs, metric)
                if not steps:
                    continue
                color = colors(i % 10)
                ax.plot(steps, mean, marker="o" if len(steps) < 20 else None, ms=3, color=color,
                        linestyle=("-", "--", ":", "-.")[i % 4], label=f"{arm} (n={len(rs)})")
                if len(rs) > 1:
                    ax.fill_between(steps, low, high, color=color, alpha=0.2, linewidth=0)
            ax.set_title(metric.split("/", 1)[-1] if section == "val-common" else metric, fontsize=8)
            ax.set_xlabel("step", fontsize=7)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
        for ax in list(axes.flat)[len(ms):]:
            ax.axis("off")
        handles, labels = [], []
        for ax in axes.flat:
            for h, lab in zip(*ax.get_legend_handles_labels()):
                if lab not in labels:
                    handles.append(h)
                    labels.append(lab)
        fig.legend(handles, labels, loc="upper center", ncol=max(1, len(labels)), fontsize=8, frameon=False)
        fig.suptitle(section, y=1.0, fontsize=10, x=0.02, ha="left")
        fig.tight_layout(rect=(0, 0, 1, 0.94))
        path = out / f"{section}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def html_page(table_md: str, pngs: list[Path], out: Path) -> Path:
    """index.html: the markdown table (rendered as HTML tables) and the plots."""
    blocks, rows = [], []
    for line in table_md.splitlines() + [""]:
        if line.startswith("|"):
            if set(line.replace("|", "").strip()) <= {"-"}:
                continue
            rows.append([html.escape(c.strip().strip("`")) for c in line.strip("|").split("|")])
        elif rows:
            head, *body = rows
            blocks.append("<table><tr>" + "".join(f"<th>{c}</th>" for c in head) + "</tr>"
                          + "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in body)
                          + "</table>")
            rows = []
    images = "".join(f'<h2>{html.escape(p.stem)}</h2><img src="{html.escape(p.name)}">' for p in pngs)
    page = ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>verm-rl compare</title><style>"
            "body{font-family:sans-serif;margin:20px} td,th{border:1px solid #ccc;padding:4px 8px;font-size:13px}"
            "table{border-collapse:collapse;margin-bottom:16px} img{max-width:100%}</style></head><body>"
            f"<h1>Reward arms compared</h1>{''.join(blocks)}{images}</body></html>")
    path = out / "index.html"
    path.write_text(page)
    return path


@dataclass
class CompareResult:
    table: str
    markdown: Path
    pngs: list[Path]
    html: Path
    runs: list[RunData]


def compare(runs: list[RunData], out: str | Path, patterns: Iterable[str] = DEFAULT_METRICS) -> CompareResult:
    """Write compare.md, one PNG per section and index.html into ``out``."""
    if not runs:
        raise CompareError("no runs to compare")
    metrics = select_metrics(runs, patterns)
    if not metrics:
        raise CompareError(f"none of the runs logged a metric matching {list(patterns)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    table = markdown_table(runs, metrics)
    md = out / "compare.md"
    md.write_text("# Reward arms compared\n\n" + table)
    pngs = plot_sections(runs, metrics, out)
    return CompareResult(table, md, pngs, html_page(table, pngs, out), runs)


def load_runs(paths: Iterable[str] = (), project: str | None = None, group: str | None = None,
              run_ids: Iterable[str] = (), entity: str | None = None) -> list[RunData]:
    """Offline folders when ``paths`` are given, else the wandb API."""
    paths = list(paths)
    if paths:
        runs = [read_offline_run(p) for p in find_offline_runs(paths)]
        if group:
            runs = [r for r in runs if r.group == group]
        return runs
    if not project:
        raise CompareError("give offline run folders, or --project with --group/--runs")
    return load_api_runs(project, group, run_ids, entity)
