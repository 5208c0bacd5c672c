"""TTS summary per round and the HTML page with each input's rounds side by side.

Round k of an input that stopped earlier carries its last round forward (that is its answer at
budget k), so every row covers the same inputs and rows compare. ``best`` takes each input's best
round, ``last`` its final one.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

from verm_rl.tts.loop import InputResult, Round

EPS = 1e-9


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else float("nan")


def _row(label: str, states: list[Round], previous: list[Round] | None, active: int | None = None) -> dict[str, Any]:
    judged = [r for r in states if r.render_ok and r.judge_status == "ok"]
    row: dict[str, Any] = {
        "round": label, "inputs": len(states),
        "render_rate": _mean([float(r.render_ok) for r in states]),
        "mean_reward": _mean([r.reward for r in states]),
        "mean_severity": _mean([float(r.severity) for r in judged]),  # Σseverity over judged rounds
        "no_errors": _mean([float(r.clean()) for r in states]),
    }
    if previous is not None:
        row["improved"] = _mean([float(a.reward > b.reward + EPS) for a, b in zip(states, previous, strict=True)])
        row["worsened"] = _mean([float(a.reward < b.reward - EPS) for a, b in zip(states, previous, strict=True)])
    if active is not None:
        row["generated"] = active
    return row


def summarize(results: list[InputResult]) -> dict[str, Any]:
    """Per-round rows (render rate, mean reward, mean Σseverity, share improved/worsened vs the round
    before, inputs generated at that round), plus best/last rows and stop reasons."""
    done = [r for r in results if r.rounds]
    depth = max((len(r.rounds) for r in done), default=0)
    rows, previous = [], None
    for k in range(depth):
        states = [r.rounds[min(k, len(r.rounds) - 1)] for r in done]
        rows.append(_row(str(k), states, previous, active=sum(len(r.rounds) > k for r in done)))
        previous = states
    first = [r.rounds[0] for r in done]
    rows.append(_row("best", [r.best for r in done], first))
    rows.append(_row("last", [r.last for r in done], first))
    reasons: dict[str, int] = {}
    for r in results:
        reasons[r.stop_reason] = reasons.get(r.stop_reason, 0) + 1
    by_task: dict[str, dict[str, float]] = {}
    for task in sorted({r.task for r in done}):
        sel = [r for r in done if r.task == task]
        by_task[task] = {"inputs": len(sel), "draft_reward": _mean([r.rounds[0].reward for r in sel]),
                         "best_reward": _mean([r.best.reward for r in sel]),
                         "last_reward": _mean([r.last.reward for r in sel])}
    return {"inputs": len(results), "ran": len(done), "skipped": len(results) - len(done), "rounds": rows,
            "stop_reasons": reasons, "by_task": by_task,
            "skipped_inputs": [(r.id, r.skipped) for r in results if r.skipped]}


def _fmt(x: Any) -> str:
    if isinstance(x, float):
        return "—" if math.isnan(x) else f"{x:.3f}"
    return str(x)


def format_summary(summary: dict[str, Any]) -> str:
    cols = ["round", "generated", "render_rate", "mean_reward", "mean_severity", "no_errors", "improved", "worsened"]
    lines = [f"inputs {summary['inputs']} (ran {summary['ran']}, skipped {summary['skipped']}); stop reasons: "
             + ", ".join(f"{k} {v}" for k, v in sorted(summary["stop_reasons"].items())), "",
             "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in summary["rounds"]:
        lines.append("| " + " | ".join(_fmt(row.get(c, "")) for c in cols) + " |")
    lines.append("")
    lines.append("improved/worsened: share of inputs whose reward rose/fell against the round before "
                 "(best/last: against the draft); mean_severity over rounds that were judged.")
    if summary["by_task"]:
        lines += ["", "| task | inputs | draft reward | best reward | last reward |", "|---|---|---|---|---|"]
        for task, t in summary["by_task"].items():
            lines.append(f"| {task} | {t['inputs']} | {_fmt(t['draft_reward'])} | {_fmt(t['best_reward'])} | "
                         f"{_fmt(t['last_reward'])} |")
    return "\n".join(lines) + "\n"


_CSS = """body{font-family:sans-serif;margin:16px}table{border-collapse:collapse}td,th{border:1px solid #ccc;
padding:6px;vertical-align:top;font-size:12px}img{max-width:260px;max-height:220px}.best{background:#e8f6e8}
.fail{color:#b00}ul{padding-left:16px;margin:4px 0}pre{white-space:pre-wrap;max-width:260px;font-size:11px}"""


def _round_cell(result: InputResult, r: Round, base: str) -> str:
    cls = ' class="best"' if r.index == result.best_round else ""
    parts = [f"<b>round {r.index}</b>{' (best)' if cls else ''} · reward {r.reward:.3f} · Σsev {r.severity}"]
    if r.render_ok:
        parts.append(f'<br><img src="{base}/round_{r.index}/render.png" loading="lazy">')
        if r.judge_status != "ok":
            parts.append(f'<div class="fail">judge: {html.escape(str(r.judge_status))}</div>')
        elif r.errors:
            items = "".join(f"<li>[{html.escape(e['category'])}·{e['severity']}] {html.escape(e.get('location') or '')}"
                            f" {html.escape(e.get('description') or '')}</li>" for e in r.errors[:20])
            parts.append(f"<ul>{items}</ul>")
        else:
            parts.append("<div>no errors</div>")
    else:
        parts.append(f'<div class="fail">{html.escape(str(r.render_error))}: '
                     f'{html.escape(r.render_message[:300])}</div>')
    return f"<td{cls}>{''.join(parts)}</td>"


def write_html(results: list[InputResult], summary_md: str, path: Path) -> None:
    """``index.html``: the summary, then one row per input: its image and every round's render,
    reward and errors (the best round highlighted). Images are linked, not embedded."""
    depth = max((len(r.rounds) for r in results), default=0)
    head = "".join(f"<th>round {k}</th>" for k in range(depth))
    rows = []
    for res in results:
        base = f"inputs/{res.id}"
        cells = [f'<td><b>{html.escape(res.id)}</b><br>{res.task} · stop: {html.escape(res.stop_reason)}'
                 f'<br><img src="{base}/input.png" loading="lazy">'
                 + (f'<div class="fail">{html.escape(res.skipped)}</div>' if res.skipped else "") + "</td>"]
        cells += [_round_cell(res, r, base) for r in res.rounds]
        cells += ["<td></td>"] * (depth - len(res.rounds))
        rows.append("<tr>" + "".join(cells) + "</tr>")
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>verm-rl tts</title><style>{_CSS}</style>"
            f"</head><body><h2>Test-time scaling</h2><pre style='max-width:none'>{html.escape(summary_md)}</pre>"
            f"<table><tr><th>input</th>{head}</tr>{''.join(rows)}</table></body></html>")
    path.write_text(page)


def write_reports(results: list[InputResult], out: Path) -> tuple[dict[str, Any], str]:
    summary = summarize(results)
    text = format_summary(summary)

    def safe(v: Any) -> Any:
        if isinstance(v, float) and math.isnan(v):
            return None
        if isinstance(v, dict):
            return {k: safe(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [safe(x) for x in v]
        return v

    (out / "summary.json").write_text(json.dumps(safe(summary), indent=2))
    (out / "summary.md").write_text(text)
    with (out / "results.jsonl").open("w") as f:
        for r in results:
            f.write(json.dumps(r.to_dict()) + "\n")
    write_html(results, text, out / "index.html")
    return summary, text
