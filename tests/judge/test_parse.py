"""parse_judgement: every tolerated deformation, worked cases, and property tests that it never raises."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from verm_rl.judge import parse_judgement
from verm_rl.tasks import CATEGORIES

CHART_OK = json.dumps({
    "structure_error_count": 0, "data_error_count": 1, "text_error_count": 1, "style_error_count": 0,
    "errors": [
        {"category": "data_error", "severity": 2, "location": "bar 3", "description": "too tall"},
        {"category": "text_error", "severity": 1, "location": "title", "description": "typo"},
    ],
})


def test_clean_chart_answer():
    j = parse_judgement("chart", CHART_OK)
    assert j.parse_ok and j.notes == []
    assert [(e.category, e.severity, e.location) for e in j.errors] == [("data_error", 2, "bar 3"), ("text_error", 1, "title")]
    assert j.total_severity == 3
    assert j.severity_by_category() == {"data_error": 2, "text_error": 1}


def test_fenced_with_prose_and_trailing_commas():
    text = "Here is my analysis.\n```json\n" + CHART_OK[:-2] + ",]}\n```\nHope this helps!"
    j = parse_judgement("chart", text)
    assert j.parse_ok and j.total_severity == 3 and "fenced" in j.notes


def test_prose_around_unfenced_object():
    j = parse_judgement("chart", f"Result: {CHART_OK} -- end of report")
    assert j.parse_ok and len(j.errors) == 2


def test_single_quotes_and_type_key_for_tables():
    text = "{'layout_error_count': 1, 'errors': [{'type': 'layout_error', 'description': 'split cell', 'severity': '3'}]}"
    j = parse_judgement("table", text)
    assert j.parse_ok and j.errors[0].category == "layout_error" and j.errors[0].severity == 3


@pytest.mark.parametrize("raw,expected,clamped", [
    (2, 2, False), ("2", 2, False), (" 3 ", 3, False), (7, 3, True), (0, 1, True), (-4, 1, True),
    (2.6, 3, True), ("severe", 3, False), ("minor", 1, False), ("high (3)", 3, False), (None, 2, True),
    ("n/a", 2, True), (True, 2, True),
])
def test_severity_normalisation(raw, expected, clamped):
    text = json.dumps({"errors": [{"category": "data_error", "severity": raw, "location": "x", "description": "y"}]})
    j = parse_judgement("chart", text)
    assert j.errors[0].severity == expected
    assert ("severity_clamped" in j.notes) == clamped


def test_counts_disagreeing_with_list_list_wins():
    text = json.dumps({"data_error_count": 5, "errors": [{"category": "data_error", "severity": 1,
                                                           "location": "a", "description": "b"}]})
    j = parse_judgement("chart", text)
    assert len(j.errors) == 1 and j.total_severity == 1 and "count_mismatch" in j.notes


def test_unknown_categories_kept_as_other_and_counted():
    text = json.dumps({"errors": [
        {"category": "vibes_error", "severity": 2, "location": "a", "description": "b"},
        {"category": "Data Error", "severity": 1, "location": "a", "description": "b"},
        {"category": "text", "severity": 1, "location": "a", "description": "b"},
    ]})
    j = parse_judgement("chart", text)
    assert [e.category for e in j.errors] == ["other", "data_error", "text_error"]
    assert j.notes.count("unknown_category") == 1


def test_svg_category_aliases():
    text = json.dumps({"errors": [{"category": "text_symbol", "severity": 1, "location": "", "description": ""},
                                  {"category": "shape", "severity": 2, "location": "", "description": ""}]})
    assert [e.category for e in parse_judgement("svg", text).errors] == ["text_symbol_error", "shape_error"]


def test_truncated_output_recovers_complete_errors():
    full = json.dumps({"errors": [
        {"category": "data_error", "severity": 2, "location": "bar 1", "description": "height"},
        {"category": "style_error", "severity": 3, "location": "legend", "description": "moved"},
        {"category": "text_error", "severity": 1, "location": "x label", "description": "missing word"},
    ]})
    cut = full[: full.index('"location": "x label"') + 8]  # inside the third error
    j = parse_judgement("chart", cut)
    assert j.parse_ok and "truncated" in j.notes
    assert [e.category for e in j.errors] == ["data_error", "style_error"]
    assert j.total_severity == 5


def test_think_block_is_ignored():
    j = parse_judgement("chart", '<think>maybe {"errors": [1]}</think>\n{"errors": []}')
    assert j.parse_ok and j.errors == []


def test_zero_counts_without_list_mean_no_errors():
    j = parse_judgement("table", '{"layout_error_count": 0, "text_error_count": 0, "numeric_error_count": 0}')
    assert j.parse_ok and j.errors == []


@pytest.mark.parametrize("text", ["", "   ", "The charts look identical.", "{", "[]]", "null", "42",
                                  '{"summary": "fine"}', '{"data_error_count": 2}', None, b"\x00\xff"])
def test_garbage_is_parse_failed_with_raw_kept(text):
    j = parse_judgement("chart", text)
    if text == "[]]":
        assert j.parse_ok and j.errors == []  # an empty list of errors, then junk
        return
    assert j.status == "parse_failed"
    assert j.raw == ("" if text is None else str(text))


def test_bare_list_of_errors_is_accepted():
    j = parse_judgement("svg", '[{"category": "shape_error", "severity": 2, "location": "circle", "description": "oval"}]')
    assert j.parse_ok and j.errors[0].category == "shape_error"


def test_round_trip_through_the_answer_schema():
    j = parse_judgement("table", json.dumps({"errors": [{"type": "numeric_error", "severity": 2, "description": "5 vs 6"}]}))
    answer = j.to_json_answer()
    assert answer["numeric_error_count"] == 1 and "location" not in answer["errors"][0]
    assert parse_judgement("table", json.dumps(answer)).to_json_answer() == answer


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(CATEGORIES)), st.text(max_size=400))
def test_random_text_never_raises(task, text):
    j = parse_judgement(task, text)
    assert j.status in ("ok", "parse_failed")
    assert all(1 <= e.severity <= 3 for e in j.errors)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(CATEGORIES)), json_values, st.integers(0, 300))
def test_random_json_and_truncations_never_raise(task, value, cut):
    text = json.dumps({"errors": value}) if not isinstance(value, dict) else json.dumps(value)
    j = parse_judgement(task, text[: len(text) - cut] if cut < len(text) else text)
    assert all(e.category in CATEGORIES[task] + ("other",) for e in j.errors)
    assert all(1 <= e.severity <= 3 for e in j.errors)


def test_list_of_non_objects_is_garbage():
    assert parse_judgement("chart", '["a", 1, null]').status == "parse_failed"
    assert parse_judgement("chart", '{"errors": ["bad", "worse"]}').status == "parse_failed"
