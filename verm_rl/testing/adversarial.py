"""Judge answers of adversarial shapes (floods, unclosed strings, deep nesting, repeated partial
JSON) at a given length: the inputs of the parse benchmark and of its blow-up test."""

from __future__ import annotations

_ITEM = '{"category": "data_error", "severity": 2, "location": "subplot 1", "description": "values differ"}, '


def _fill(unit: str, n: int) -> str:
    return (unit * (n // len(unit) + 1))[:n]


def adversarial_answers(n: int) -> dict[str, str]:
    """Name -> a text of about ``n`` characters."""
    return {
        "brace_flood": "{" * n,
        "bracket_flood": "[" * n,
        "quote_flood": '"' * n,
        "object_of_quotes": "{" + '"' * n,
        "closer_flood": "}" * n,
        "unclosed_string": '{"errors": [{"description": "' + "a" * n,
        "escaped_quotes": '{"errors": "' + _fill('\\"', n),
        "trailing_backslashes": '{"a": "' + "\\" * n,
        "repeated_partial_json": _fill('{"errors": [{"category": "data_error", "severity": 2, ', n),
        "deep_nesting": _fill('{"a": [', n),
        "mixed_openers": _fill('{["', n),
        "empty_pairs": '{"errors": [' + _fill("{},", n),
        "bare_words": "{" + _fill("word ", n),
        "single_quoted_errors": "{'errors': [" + _fill(_ITEM.replace('"', "'"), n),
        "truncated_errors": '{"errors": [' + _fill(_ITEM, n),
        "valid_errors": '{"errors": [' + _fill(_ITEM, n).rsplit("}, ", 1)[0] + "}]}",
        "fence_flood": _fill("```json\n{", n),
        "think_flood": _fill("<think>", n),
        "plain_text": _fill("the chart looks right to me ", n),
    }
