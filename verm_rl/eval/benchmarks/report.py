"""Reports of one run: ``summary.json``, ``summary.md`` and ``worst.html`` (the lowest-scoring items
with their input, the candidate's render, the response and the per-item details)."""

from __future__ import annotations

import base64
import html
import io
import json
import logging
from pathlib import Path
from typing import Any

from verm_rl.eval.benchmarks.base import BenchItem, Benchmark

log = logging.getLogger(__name__)


def summary_markdown(summary: dict[str, Any]) -> str:
    lines = [f"# {summary['benchmark']}", "",
             f"- data: `{summary['data']}`", f"- predictions: `{summary['predictions']}`",
             f"- items: {summary['n_items']} (with a prediction: {summary['n_predictions']})",
             f"- status: {', '.join(f'{k} {v}' for k, v in sorted(summary['status'].items()))}", "",
             "| metric | value |", "|---|---:|"]
    for key, value in summary["metrics"].items():
        shown = f"{value:.2f}" if isinstance(value, float) else ("—" if value is None else str(value))
        lines.append(f"| {key} | {shown} |")
    return "\n".join(lines) + "\n"


def _thumb(png: bytes | None, side: int = 480) -> str:
    if not png:
        return "<em>none</em>"
    try:
        from PIL import Image

        with Image.open(io.BytesIO(png)) as im:
            im = im.convert("RGB")
            im.thumbnail((side, side))
            buf = io.BytesIO()
            im.save(buf, format="PNG")
        data = base64.b64encode(buf.getvalue()).decode()
        return f'<img src="data:image/png;base64,{data}">'
    except Exception as e:  # noqa: BLE001 - a bad image must not break the report
        return f"<em>unreadable image: {html.escape(str(e))}</em>"


def worst_items(bench: Benchmark, records: list[dict[str, Any]], k: int) -> list[dict[str, Any]]:
    """The ``k`` worst records by the benchmark's headline metric (records without it count worst)."""
    sign = -1.0 if bench.lower_is_better else 1.0

    def key(r: dict[str, Any]) -> float:
        value = r.get("metrics", {}).get(bench.headline)
        return float("-inf") if value is None else sign * float(value)

    return sorted(records, key=key)[:k]


def worst_html(bench: Benchmark, items: dict[str, BenchItem], worst: list[dict[str, Any]],
               responses: dict[str, str], summary: dict[str, Any]) -> str:
    rows = []
    for r in worst:
        item = items[r["id"]]
        try:
            inputs = "".join(_thumb(png) for png in item.images())
        except Exception as e:  # noqa: BLE001
            inputs = f"<em>input unavailable: {html.escape(str(e))}</em>"
        render_path = r.get("detail", {}).get("render")
        render = _thumb(Path(render_path).read_bytes()) if render_path and Path(render_path).exists() else "<em>—</em>"
        metrics = ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in r["metrics"].items())
        detail = {k: v for k, v in r.get("detail", {}).items() if k != "render"}
        response = responses.get(r["id"]) or ""
        rows.append(
            f"<tr><td><b>{html.escape(r['id'])}</b><br>{html.escape(r['status'])}<br>{html.escape(metrics)}</td>"
            f"<td>{inputs}</td><td>{render}</td>"
            f"<td><pre>{html.escape(response[:4000])}</pre></td>"
            f"<td><pre>{html.escape(json.dumps(detail, indent=1, ensure_ascii=False, default=str)[:4000])}</pre></td>"
            "</tr>")
    head = html.escape(json.dumps(summary["metrics"], indent=1))
    return ("<!doctype html><meta charset='utf-8'><title>worst items: " + html.escape(bench.name) + "</title>"
            "<style>body{font-family:sans-serif} td{vertical-align:top;border-top:1px solid #ccc;padding:6px}"
            "pre{white-space:pre-wrap;max-width:560px;font-size:11px} img{max-width:480px}</style>"
            f"<h1>{html.escape(bench.name)}: {len(worst)} worst items by {html.escape(bench.headline)}</h1>"
            f"<pre>{head}</pre><table><tr><th>item</th><th>input</th><th>candidate render</th>"
            "<th>response</th><th>details</th></tr>" + "".join(rows) + "</table>")


def write_reports(bench: Benchmark, items: list[BenchItem], records: list[dict[str, Any]],
                  responses: dict[str, str], summary: dict[str, Any], out: Path, k: int) -> None:
    (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8")
    (out / "summary.md").write_text(summary_markdown(summary), encoding="utf-8")
    by_id = {it.id: it for it in items}
    page = worst_html(bench, by_id, worst_items(bench, records, k), responses, summary)
    (out / "worst.html").write_text(page, encoding="utf-8")
    log.info("wrote %s/summary.{json,md} and worst.html", out)
