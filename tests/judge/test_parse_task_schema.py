"""The answer parser reads each task's own schema from its spec: the key that names an error's
category (``category_key``) and whether errors carry a location (``error_location``). A toy task
registered here alone, whose judge names the category ``kind``, must parse as its own categories."""

from __future__ import annotations

import json

import pytest

from verm_rl.judge.parse import parse_judgement
from verm_rl.judge.schema import JudgedError, Judgement
from verm_rl.tasks import TaskSpec, register_task, unregister_task

TOY = TaskSpec(name="toy_kind", extract=lambda r: r, categories=("glyph_error", "layout_error"),
               category_key="kind", error_location=False)


@pytest.fixture
def toy():
    register_task(TOY)
    yield TOY
    unregister_task(TOY.name)


def test_the_category_is_read_from_the_tasks_own_key(toy):
    answer = {"errors": [{"kind": "glyph_error", "severity": 2, "description": "an O for a 0"},
                         {"kind": "layout", "severity": 3, "description": "one line missing"}]}
    judgement = parse_judgement("toy_kind", json.dumps(answer))
    assert judgement.status == "ok"
    assert [(e.category, e.severity) for e in judgement.errors] == [("glyph_error", 2), ("layout_error", 3)]
    assert "unknown_category" not in judgement.notes


def test_the_tasks_own_answer_round_trips(toy):
    sent = Judgement("toy_kind", [JudgedError("layout_error", 3, "", "two lines swapped")])
    answer = sent.to_json_answer()
    assert answer["errors"] == [{"kind": "layout_error", "severity": 3, "description": "two lines swapped"}]
    back = parse_judgement("toy_kind", json.dumps(answer))
    assert [(e.category, e.severity, e.description) for e in back.errors] == [
        ("layout_error", 3, "two lines swapped")]


def test_a_truncated_answer_keeps_complete_errors_without_a_location(toy):
    """A task without locations: an error is complete with its own key, severity and description."""
    text = ('{"errors": [{"kind": "glyph_error", "severity": 1, "description": "x"}, '
            '{"kind": "layout_error", "severity": 2, "descr')
    judgement = parse_judgement("toy_kind", text)
    assert [(e.category, e.severity) for e in judgement.errors] == [("glyph_error", 1)]
    complete = '{"errors": [{"kind": "glyph_error", "severity": 1, "description": "x"}, {"kind": "layout_error", '
    complete += '"severity": 2, "description": "y"}'
    assert [e.category for e in parse_judgement("toy_kind", complete).errors] == ["glyph_error", "layout_error"]


def test_the_usual_keys_still_work_for_builtin_tasks():
    table = parse_judgement("table", '{"errors": [{"type": "numeric_error", "severity": 2, "description": "d"}]}')
    chart = parse_judgement("chart", '{"errors": [{"error_type": "data", "severity": 1, "location": "subplot 1", '
                                     '"description": "d"}]}')
    assert [e.category for e in table.errors] == ["numeric_error"]
    assert [e.category for e in chart.errors] == ["data_error"]
