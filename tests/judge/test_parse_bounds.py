"""parse_judgement on long and adversarial answers: no pathological blow-up (speed itself is measured
in benchmarks/parse_judgement.py), the bounded repair keeps what the full repair finds, long answers
are parsed off the event loop."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest

from verm_rl.judge import parse
from verm_rl.judge.parse import parse_judgement, parse_timed_async
from verm_rl.testing.adversarial import adversarial_answers

ANSWERS = adversarial_answers(65536)


@pytest.mark.parametrize("shape", sorted(ANSWERS))
def test_64k_characters_of_any_shape_parse_without_blow_up(shape):
    start = time.perf_counter()
    j = parse_judgement("chart", ANSWERS[shape])
    assert time.perf_counter() - start < 2.0  # the old parser took 2.8 s on a 16k brace flood
    assert j.status in ("ok", "parse_failed")
    assert len(j.errors) <= parse.MAX_ERRORS


def test_the_brace_flood_is_refused_as_too_deep():
    j = parse_judgement("chart", "{" * 16384)
    assert j.status == "parse_failed"


def _errors(j):
    return [(e.category, e.severity, e.location, e.description) for e in j.errors]


@pytest.mark.parametrize("cut_after", ['"location": "subplot 14', '"location": "subplot 140", "descr', 'xx"}, ', '"description": "xxxx', '"severity": '])
def test_long_truncated_answer_keeps_what_an_unbounded_repair_keeps(monkeypatch, cut_after):
    errors = [{"category": "data_error", "severity": 1 + i % 3, "location": f"subplot {i}", "description": "x" * 40}
              for i in range(150)]
    full = json.dumps({"errors": errors})
    at = full.index(cut_after, full.index('"subplot 139"'))
    text = full[: at + len(cut_after)]
    assert len(text) > parse.REPAIR_BUDGET
    bounded = parse_judgement("chart", text)
    monkeypatch.setattr(parse, "REPAIR_BUDGET", 10**9)  # the old way: json_repair on everything
    unbounded = parse_judgement("chart", text)
    assert bounded.parse_ok and "truncated" in bounded.notes
    assert _errors(bounded) == _errors(unbounded)
    assert len(bounded.errors) >= 100


@pytest.mark.parametrize("truncate", [False, True])
def test_long_answer_with_trailing_commas_keeps_every_error(monkeypatch, truncate):
    items = [json.dumps({"category": "style_error", "severity": 1, "location": f"line {i}", "description": "dashed"})
             [:-1] + ", }" for i in range(120)]
    text = '{"style_error_count": 120, "errors": [' + ", ".join(items) + ", ]}"
    if truncate:
        text = text[: text.rindex('"location"')]
    assert len(text) > parse.REPAIR_BUDGET
    bounded = parse_judgement("chart", text)
    monkeypatch.setattr(parse, "REPAIR_BUDGET", 10**9)
    assert _errors(bounded) == _errors(parse_judgement("chart", text))
    assert len(bounded.errors) == (119 if truncate else 120) and "repair_bounded" not in bounded.notes


def test_long_answers_are_parsed_in_a_worker_thread(monkeypatch):
    threads = []
    real = parse.parse_timed

    def recording(task, text, start):
        threads.append(threading.get_ident())
        return real(task, text, start)

    monkeypatch.setattr(parse, "parse_timed", recording)
    short = json.dumps({"errors": []})
    long = json.dumps({"errors": [{"category": "data_error", "severity": 2, "location": "a", "description": "b"}] * 80})
    assert len(long) > parse.OFF_LOOP_CHARS >= len(short)

    async def main():
        return await parse_timed_async("chart", short, time.monotonic()), \
            await parse_timed_async("chart", long, time.monotonic())

    a, b = asyncio.run(main())
    loop_thread = threading.get_ident()
    assert threads[0] == loop_thread and threads[1] != loop_thread
    assert a.parse_ok and len(b.errors) == 80
