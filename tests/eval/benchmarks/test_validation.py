"""The per-item validation functions give the benchmark numbers for one item, and the CLI wiring."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from tests.eval.benchmarks.fixtures import TABLE, make_omnidocbench
from tests.eval.benchmarks.test_chartmimic import GT_BAR, GT_LINE
from verm_rl.cli import main
from verm_rl.eval.benchmarks.validation import chart_item_metrics, item_metrics, olmocr_item_metrics


def png(color, size=(336, 336)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def test_table_and_olmocr_items():
    out = item_metrics("table", TABLE.replace(">b<", ">c<"), TABLE)
    assert out["teds"] == pytest.approx(5 / 6) and out["teds_s"] == 1.0 and 0 < out["edit"] < 1
    assert item_metrics("table", "| a | b |\n|---|---|\n| 1 | 2 |", TABLE)["teds"] == 1.0  # markdown converted
    tests = [{"id": "1", "cell": "2", "left": "1"}, {"id": "2", "cell": "2", "up": "a"}]
    assert olmocr_item_metrics(TABLE, tests) == {"table_test_pass_rate": 0.5}
    with pytest.raises(ValueError):
        olmocr_item_metrics(TABLE, [])


def test_svg_item(renderer):
    svg = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 4 4"><rect width="4" height="4" fill="#f00"/></svg>'
    assert item_metrics("svg", f"```svg\n{svg}\n```", png("red"), renderer=renderer)["ssim"] == pytest.approx(1.0)
    assert item_metrics("svg", "<svg><rect></svg>", png("red"), renderer=renderer) == {"ssim": 0.0}


def test_chart_item(renderer):
    same = chart_item_metrics(f"```python\n{GT_BAR}\n```", GT_BAR, renderer=renderer)
    assert same == {"exec": 1.0, "text": 1.0, "layout": 1.0, "type": 1.0, "color": 1.0, "low": 1.0}
    other = chart_item_metrics(f"```python\n{GT_LINE}\n```", GT_BAR, renderer=renderer)
    assert other["exec"] == 1.0 and other["type"] == 0.0 and other["low"] < 0.5
    assert chart_item_metrics("```python\nraise SystemExit(3)\n```", GT_BAR, renderer=renderer)["exec"] == 0.0


def test_cli_evaluate(tmp_path, capsys):
    data = make_omnidocbench(tmp_path / "odb")
    preds = tmp_path / "p.jsonl"
    preds.write_text(json.dumps({"id": "p1.png#0", "response": TABLE}) + "\n")
    out = tmp_path / "out"
    assert main(["evaluate", "--benchmark", "omnidocbench-table", "--data", str(data), "--predictions", str(preds),
                 "--out", str(out), "--no-progress", "--count-empty", "--lpips-path", "x"]) == 0
    text = capsys.readouterr()
    assert "| TEDS |" in text.out and "ignores --lpips-path" in text.err
    assert json.loads((out / "summary.json").read_text())["metrics"]["n_scored"] == 3
    assert main(["evaluate", "--benchmark", "unisvg", "--data", str(tmp_path), "--out", str(tmp_path / "o2")]) == 2
    assert main(["evaluate", "--benchmark", "unisvg", "--data", str(tmp_path / "missing"),
                 "--predictions", str(preds), "--out", str(tmp_path / "o3")]) == 2
