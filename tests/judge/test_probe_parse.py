"""Probes of ``parse_judgement`` with what the released Visual-ERM model or an OpenAI-compatible server may
answer (reference: the schema of visual-erm-paper.md §1.2): reasoning templates, wrappers, errors given
as an object, capitalised keys, the chart vocabulary on an SVG; plus the cases that already parse right,
kept as guards."""

from __future__ import annotations

import json

import pytest

from verm_rl.judge.parse import parse_judgement

E = {"category": "data_error", "severity": 3, "location": "bar 2", "description": "height 5, should be 9"}
ES = json.dumps(E)


def summary(task, text):
    j = parse_judgement(task, text)
    return j.status, [(e.category, e.severity) for e in j.errors]


OK_DATA3 = ("ok", [("data_error", 3)])


@pytest.mark.parametrize("text", [
    # Qwen3-style thinking templates put <think> in the prompt: the answer has only the closing tag
    f'The bars differ, e.g. {{"x": [1]}}.\n</think>\n\n{{"errors": [{ES}]}}',
    f'<think>first</think> more thoughts {{"a": 1}} </think>{{"errors": [{ES}]}}',
    # wrappers an API or a fine-tune may add
    f'{{"result": {{"data_error_count": 1, "errors": [{ES}]}}}}',
    f'{{"output": {{"judgement": {{"errors": [{ES}]}}}}}}',
    f'[{{"errors": [{ES}]}}]',
    # errors given as one object, an object of objects, or grouped by category
    f'{{"data_error_count": 1, "errors": {ES}}}',
    f'{{"errors": {{"1": {ES}}}}}',
    '{"errors": {"data_error": [{"severity": 3, "location": "bar 2", "description": "x"}]}}',
    # capitalised keys
    '{"Errors": [{"Category": "Data Error", "Severity": 3, "Location": "bar 2", "Description": "x"}]}',
    # bytes from a raw HTTP body
    f'{{"errors": [{ES}]}}'.encode(),
])
def test_answers_the_parser_used_to_fail_or_misread(text):
    assert summary("chart", text) == OK_DATA3


def test_wrapped_zero_counts_mean_no_errors():
    assert summary("chart", '{"result": {"data_error_count": 0, "text_error_count": 0}}') == ("ok", [])
    assert summary("chart", '{"result": {"data_error_count": 2}}')[0] == "parse_failed"


@pytest.mark.parametrize("label", ["text_error", "text", "Text Error", "text and symbol error"])
def test_the_chart_text_category_on_an_svg_is_its_text_symbol_category(label):
    answer = json.dumps({"errors": [{"category": label, "severity": 1, "location": "<text> 1", "description": "x"}]})
    assert summary("svg", answer) == ("ok", [("text_symbol_error", 1)])


@pytest.mark.parametrize("text, expected", [
    # guards: these already parse as the schema means
    (f'Here is my analysis:\n```json\n{{"errors": [{ES}]}}\n```\nHope this helps.', OK_DATA3),
    (f'{{"errors": [{ES},],}}', OK_DATA3),
    ('{\n// found\n"errors": [' + ES + '] /* end */\n}', OK_DATA3),
    ("{'errors': [{'category': 'data_error', 'severity': 3, 'location': None, 'description': 'x'}]}", OK_DATA3),
    (f'<think>I might say {{"errors": []}}</think>\n{{"errors": [{ES}]}}', OK_DATA3),
    ('<think>reasoning cut off by max_tokens {"errors": [', ("parse_failed", [])),
    (f'\ufeff{{"errors": [{ES}]}}', OK_DATA3),
    ('{“errors”: [{“category”: “data_error”, “severity”: 3, “location”: “x”, “description”: “y”}]}', OK_DATA3),
    (f'{{"data_error_count": 2, "errors": [{ES}, {{"category": "style_error", "sev', OK_DATA3),
    ("", ("parse_failed", [])),
    (None, ("parse_failed", [])),
    ("No visible errors.", ("parse_failed", [])),
    ('{"errors": null}', ("parse_failed", [])),
    ('{"structure_error_count": 0, "data_error_count": 0, "errors": null}', ("ok", [])),
    ("\udcff\x00\ufffd" * 50, ("parse_failed", [])),
])
def test_guard_cases(text, expected):
    assert summary("chart", text) == expected


@pytest.mark.parametrize("severity, expected", [
    ('"2"', 2), ('"high"', 3), ("2.0", 2), ("4", 3), ("-1", 1), ("null", 2), ('"Severe"', 3), ('"1 (minor)"', 1),
    ("0", 1), ("NaN", 2), ("Infinity", 3), ('"two"', 2), ("[3]", 2),
])
def test_severities_land_in_one_to_three(severity, expected):
    answer = '{"errors": [{"category": "data_error", "severity": SEV, "location": "", "description": ""}]}'
    answer = answer.replace("SEV", severity)
    assert summary("chart", answer) == ("ok", [("data_error", expected)])


@pytest.mark.parametrize("task, label, expected", [
    ("chart", "DATA_ERROR", "data_error"), ("chart", " data-error ", "data_error"), ("chart", "Style", "style_error"),
    ("chart", "layout_error", "other"), ("chart", "other_error", "other"), ("chart", None, "other"),
    ("table", "Layout Error", "layout_error"), ("table", "numerical", "numeric_error"),
    ("table", "style_error", "other"), ("svg", "Text/Symbol Error", "text_symbol_error"),
    ("svg", "data_error", "other"),
])
def test_categories_are_normalised_within_the_tasks_set(task, label, expected):
    key = "type" if task == "table" else "category"
    answer = json.dumps({"errors": [{key: label, "severity": 2, "location": "", "description": "x"}]})
    assert summary(task, answer) == ("ok", [(expected, 2)])


def test_a_wrapper_without_a_judgement_inside_is_no_judgement():
    assert summary("chart", json.dumps({"meta": {"model": "x"}, "result": {"errors": [E]}})) == OK_DATA3
    assert summary("chart", '{"meta": {"model": "x"}, "note": {"a": {"b": {"c": {"errors": []}}}}}')[0] == "parse_failed"
    assert summary("chart", '{"meta": {"model": "x"}}')[0] == "parse_failed"


@pytest.mark.parametrize("text", [
    f'<thinking>bar 2 looks off, maybe {{"bar": 2}}</thinking>\n{{"errors": [{ES}]}}',
    f'<reasoning>x {{"y": 1}}</reasoning>{{"errors": [{ES}]}}',
    f'notes {{"y": 1}} </thinking>\n{{"errors": [{ES}]}}',
])
def test_other_reasoning_tags_are_skipped_too(text):
    assert summary("chart", text) == OK_DATA3


def test_a_task_whose_category_key_has_capitals_still_reads_it():
    from verm_rl.tasks import TaskSpec, register_task, unregister_task

    spec = register_task(TaskSpec(name="toy_capital_key", extract=lambda r: r, categories=("glyph_error",),
                                  category_key="Kind", error_location=False))
    try:
        answer = '{"errors": [{"Kind": "glyph_error", "severity": 2, "description": "x"}]}'
        assert summary(spec.name, answer) == ("ok", [("glyph_error", 2)])
        assert summary(spec.name, answer.replace('"Kind"', '"kind"')) == ("ok", [("glyph_error", 2)])
    finally:
        unregister_task(spec.name)
