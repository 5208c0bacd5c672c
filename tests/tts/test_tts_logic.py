"""The loop's decisions and reports on hand-made rounds (no renders, no models)."""

from __future__ import annotations

import math

from verm_rl.judge.schema import JudgedError
from verm_rl.tts.feedback import feedback_text, revision_request
from verm_rl.tts.loop import InputResult, Round, TTSConfig, TTSRunner, best_round
from verm_rl.tts.report import format_summary, summarize


def rnd(i, reward, errors=1, render_ok=True, judge="ok", kind=None):
    errs = [{"category": "data_error", "severity": 2, "location": "bar 1", "description": "d"}] * errors
    return Round(i, "resp", "code" if render_ok else None, render_ok, kind, "msg", judge if render_ok else None, errs,
                 reward, 2 * errors, "ok" if render_ok else "render_failed", {})


def runner(**cfg):
    return TTSRunner(None, None, "/nonexistent", TTSConfig(**cfg))


def test_stop_reasons():
    r = runner(max_revisions=2)
    assert r.stop_reason([rnd(0, 2.0, errors=0)]) == "no_errors"
    assert r.stop_reason([rnd(0, 1.5)]) is None
    assert r.stop_reason([rnd(0, 0.0, render_ok=False, kind="runtime")]) is None  # a failed render is revised
    assert r.stop_reason([rnd(0, 1.5, errors=0, judge="parse_failed")]) == "judge_failed"
    assert r.stop_reason([rnd(0, 1.5), rnd(1, 1.6), rnd(2, 1.7)]) == "max_revisions"
    assert runner(stop_reward=1.9).stop_reason([rnd(0, 1.95)]) == "reward_reached"


def test_best_round_ties_go_to_the_earliest():
    assert best_round([rnd(0, 1.8), rnd(1, 1.9), rnd(2, 1.9), rnd(3, 0.0)]) == 1
    assert best_round([]) == -1


def test_summary_carries_stopped_inputs_forward():
    a = InputResult("a", "chart", [rnd(0, 1.8), rnd(1, 2.0, errors=0)], "no_errors", 1, True)
    b = InputResult("b", "chart", [rnd(0, 1.9), rnd(1, 1.7), rnd(2, 1.8)], "max_revisions", 0, True)
    s = InputResult("s", "svg", [], "skipped", -1, False, "needs the reference program")
    summary = summarize([a, b, s])
    rows = {r["round"]: r for r in summary["rounds"]}
    assert summary["ran"] == 2 and summary["skipped_inputs"] == [("s", "needs the reference program")]
    assert rows["2"]["mean_reward"] == (2.0 + 1.8) / 2 and rows["2"]["generated"] == 1  # a carried forward
    assert rows["1"]["improved"] == 0.5 and rows["1"]["worsened"] == 0.5
    assert rows["best"]["mean_reward"] == (2.0 + 1.9) / 2 and rows["last"]["mean_reward"] == (2.0 + 1.8) / 2
    assert rows["1"]["no_errors"] == 0.5 and rows["0"]["mean_severity"] == 2.0
    assert "| best |" in format_summary(summary)
    assert math.isnan(summarize([s])["rounds"][0]["mean_reward"])


def test_feedback_turns():
    errors = [JudgedError("text_error", 3, "title", "reads Income instead of Revenue")]
    text = feedback_text("chart", True, None, "", errors)
    assert "[text_error, severity 3] at title: reads Income instead of Revenue" in text and "```python" in text
    assert "could not be rendered (timeout)" in feedback_text("svg", False, "timeout", "killed after 10 s", [])
    assert "did not contain" in feedback_text("table", False, "no_code", "", [])
    assert feedback_text("table", True, None, "", errors, template="fix {errors} in {lang}").startswith("fix 1.")
    req = revision_request("svg", b"png", None, "long reasoning ```svg\n<svg/>\n```", "<svg/>", "fix it",
                           max_tokens=9)
    assert [m["role"] for m in req.messages] == ["user", "assistant", "user"]
    assert req.messages[1]["content"] == "```svg\n<svg/>\n```" and req.max_tokens == 9 and req.image_slots() == 1
