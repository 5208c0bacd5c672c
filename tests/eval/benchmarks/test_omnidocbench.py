"""OmniDocBench table recognition end to end: normalisation, TEDS/TEDS-S, edit distance, the runner
with a scripted policy server on 127.0.0.1, predictions-only scoring and resume after interruption."""

from __future__ import annotations

import json

import pytest

from tests.eval.benchmarks.fixtures import ODB_COLOURS, TABLE, answer_by_colour, make_omnidocbench
from verm_rl.eval.benchmarks.edit_distance import normalized_edit_distance
from verm_rl.eval.benchmarks.omnidocbench import table_scores
from verm_rl.eval.benchmarks.runner import EvalConfig, evaluate, evaluate_async
from verm_rl.eval.benchmarks.table_normalize import normalized_html_table

NORM = '<html><body><table border="1" ><tr><td>a</td><td>b</td></tr><tr><td>1</td><td>2</td></tr></table></body></html>'


def test_normalisation_steps():
    raw = ("```html\n<table class='x'><thead><tr><th style=\"c\">a</th><th>b</th></tr></thead>\n<tbody><tr>"
           "<td><span>1</span></td><td width=\"3\">２</td></tr></tbody></table>\n```")  # full-width 2: NFKC
    assert normalized_html_table(raw) == NORM
    assert normalized_html_table("| a | b |\n|---|---|") == ""  # no <table: nothing
    assert normalized_html_table("<table><tr><td>a  &amp;\n b</td></tr></table>") == (
        '<html><body><table border="1" ><tr><td>a & b</td></tr></table></body></html>')
    assert "$x^2$" in normalized_html_table('<table><tr><td><math alttext="x^2">x</math></td></tr></table>')
    assert "<sup>" not in normalized_html_table("<table><tr><td>m<sup>2</sup></td></tr></table>")


def test_edit_distance_definition():
    assert normalized_edit_distance("abc", "abc") == 0.0
    assert normalized_edit_distance("abc", "abd") == pytest.approx(1 / 3)
    assert normalized_edit_distance("", "abcd") == 1.0 and normalized_edit_distance("", "") == 0.0
    assert normalized_edit_distance("ab", "AB") == 1.0  # case counts


def test_table_scores_worked_numbers():
    s = table_scores(TABLE.replace(">b<", ">c<"), TABLE)
    assert s["teds"] == pytest.approx(5 / 6) and s["teds_s"] == 1.0
    assert s["edit_num"] == 1 and s["edit_den"] == len(NORM)
    md = table_scores("| a | b |\n|---|---|\n| 1 | 2 |", TABLE)  # recognition protocol: markdown scores 0
    assert md["teds"] == 0.0 and md["edit_den"] == len(NORM)  # edit against the raw string
    assert table_scores("| a | b |\n|---|---|\n| 1 | 2 |", TABLE, markdown_tables=True)["teds"] == 1.0
    assert table_scores('<table><tr><td colspan="x">a</td></tr></table>', TABLE)["teds"] == 0.0  # raises -> 0


def test_end_to_end_with_scripted_policy_and_resume(tmp_path, scripted_server):
    data = make_omnidocbench(tmp_path / "odb")
    answers = {ODB_COLOURS[0]: f"```html\n{TABLE}\n```", ODB_COLOURS[1]: TABLE.replace(">b<", ">c<"),
               ODB_COLOURS[2]: ""}
    server = scripted_server(answer_by_colour(answers))
    out = tmp_path / "out"
    cfg = EvalConfig("omnidocbench-table", data, out, policy=server.url + "/v1", progress=False, render_workers=1,
                     policy_options={"model": "m", "retries": 0})
    summary = evaluate(cfg)
    assert len(server.requests) == 3
    m = summary["metrics"]
    assert m["n_scored"] == 2 and m["n_skipped_empty"] == 1  # the empty answer is skipped, as the official loader
    assert m["TEDS"] == pytest.approx(100 * (1 + 5 / 6) / 2)
    assert m["TEDS_S"] == pytest.approx(100.0)
    assert m["Edit"] == pytest.approx(100 * 1 / (2 * len(NORM)))  # one page: Σedit / Σmaxlen
    for name in ("summary.json", "summary.md", "worst.html", "items.jsonl", "predictions.jsonl"):
        assert (out / name).exists()
    page = (out / "worst.html").read_text()
    assert "p1.png#1" in page and "data:image/png;base64," in page  # the id, its input crop inline
    assert "&lt;td&gt;c&lt;/td&gt;" in page  # the response, escaped

    # a second run redoes nothing but the failed (empty) generation
    evaluate(cfg)
    assert len(server.requests) == 4

    # interruption: the last prediction line is torn and the scores are gone
    lines = (out / "predictions.jsonl").read_text().splitlines()
    kept = next(x for x in lines if json.loads(x)["id"] == "p1.png#0")
    (out / "predictions.jsonl").write_text(kept + "\n" + kept[:10])
    (out / "items.jsonl").unlink()
    again = evaluate(cfg)
    assert len(server.requests) == 4 + 2 and again["metrics"] == summary["metrics"]


async def test_predictions_only_and_count_empty(tmp_path):
    data = make_omnidocbench(tmp_path / "odb")
    preds = tmp_path / "preds.jsonl"
    preds.write_text("\n".join(json.dumps(r) for r in [
        {"id": "p1.png#0", "response": TABLE}, {"id": "p2.png#0", "prediction": "no table at all"}]))
    cfg = EvalConfig("omnidocbench-table", data, tmp_path / "out", predictions=preds, progress=False,
                     render_workers=1, cpu_workers=1, benchmark_options={"count_empty": True})  # a process pool
    summary = await evaluate_async(cfg)
    assert summary["status"] == {"ok": 1, "no_prediction": 1, "no_table": 1}
    assert summary["metrics"]["TEDS"] == pytest.approx(100 / 3)
    assert summary["metrics"]["TEDS[english]"] == pytest.approx(50.0)  # p1: 1 and 0 (no answer)
    assert summary["metrics"]["TEDS[simplified_chinese]"] == 0.0
    rows = [json.loads(x) for x in (tmp_path / "out" / "items.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["p1.png#0", "p1.png#1", "p2.png#0"]


@pytest.mark.slow
def test_local_model_folder_as_policy(tmp_path, tiny_vlm_path):
    """``--policy <model folder>``: the tiny random Qwen3-VL generates (nonsense) through LocalPolicy."""
    data = make_omnidocbench(tmp_path / "odb")
    cfg = EvalConfig("omnidocbench-table", data, tmp_path / "out", policy=tiny_vlm_path, limit=2, max_tokens=6,
                     progress=False, policy_options={"engine": "transformers", "device": "cpu"},
                     benchmark_options={"count_empty": True})
    summary = evaluate(cfg)
    rows = [json.loads(x) for x in (tmp_path / "out" / "predictions.jsonl").read_text().splitlines()]
    assert sorted(r["id"] for r in rows) == ["p1.png#0", "p1.png#1"] and all(r["response"] for r in rows)
    assert summary["n_items"] == 2 and summary["metrics"]["n_scored"] == 2
