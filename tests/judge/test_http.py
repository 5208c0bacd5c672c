"""The http judge backend against real local HTTP servers: scripted answers, failures, and the
``serve-judge`` app running the tiny Qwen3-VL."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import socket

import pytest
from PIL import Image

from tests.conftest import run_app_in_thread
from verm_rl.judge import JudgeRequest, SamplingParams
from verm_rl.judge.http import HttpJudge, HttpJudgeConfig, verl_rm_judge


def png(color: str, size=(1500, 600)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


REF, CAND = png("white"), png("red", (300, 200))
ANSWER = json.dumps({"errors": [{"category": "style_error", "severity": 2, "location": "bars", "description": "red"}]})


def judge_all(judge, requests):
    async def go():
        try:
            return await judge.judge(requests)
        finally:
            await judge.close()

    return asyncio.run(go())


def test_request_shape_and_parsed_answer(scripted_server):
    server = scripted_server(lambda body: (200, ANSWER))
    cfg = HttpJudgeConfig(endpoints=[server.url], model="visual-erm", sampling=SamplingParams.upstream())
    [j] = judge_all(HttpJudge(cfg), [JudgeRequest("chart", REF, CAND)])
    assert j.parse_ok and j.total_severity == 2 and j.errors[0].category == "style_error"
    body = server.requests[0]
    assert body["model"] == "visual-erm" and body["temperature"] == 0.7 and body["top_k"] == 20
    parts = body["messages"][0]["content"]
    assert [p["type"] for p in parts] == ["image_url", "image_url", "text"]  # reference, candidate, prompt
    ref = Image.open(io.BytesIO(base64.b64decode(parts[0]["image_url"]["url"].split(",", 1)[1])))
    assert max(ref.size) == 1024  # downscaled like upstream
    assert "Experienced Specialist for Data Visualization" in parts[2]["text"]


def test_table_gets_system_prompt_and_default_is_greedy(scripted_server):
    server = scripted_server(lambda body: (200, '{"errors": []}'))
    [j] = judge_all(HttpJudge(endpoints=[server.url]), [JudgeRequest("table", REF, CAND)])
    assert j.parse_ok and j.errors == []
    body = server.requests[0]
    assert body["messages"][0] == {"role": "system", "content": "You are a helpful assistant."}
    assert body["temperature"] == 0.0


def test_custom_prompt_file(scripted_server, tmp_path):
    prompt = tmp_path / "svg_prompt.txt"
    prompt.write_text("MY RELEASED SVG PROMPT")
    server = scripted_server(lambda body: (200, "{}"))
    judge_all(HttpJudge(endpoints=[server.url], prompts={"svg": str(prompt)}), [JudgeRequest("svg", REF, CAND)])
    assert server.requests[0]["messages"][0]["content"][2]["text"] == "MY RELEASED SVG PROMPT"


def test_garbage_answer_is_parse_failed(scripted_server):
    server = scripted_server(lambda body: (200, "I think the charts are basically the same!!"))
    [j] = judge_all(HttpJudge(endpoints=[server.url]), [JudgeRequest("chart", REF, CAND)])
    assert j.status == "parse_failed" and "basically the same" in j.raw


def test_retries_with_backoff_then_succeeds(scripted_server):
    calls = {"n": 0}

    def flaky(body):
        calls["n"] += 1
        return (503, "busy") if calls["n"] <= 2 else (200, ANSWER)

    server = scripted_server(flaky)
    [j] = judge_all(HttpJudge(endpoints=[server.url], retries=3, backoff_s=0.01), [JudgeRequest("chart", REF, CAND)])
    assert j.parse_ok and calls["n"] == 3


def test_client_error_is_not_retried(scripted_server):
    server = scripted_server(lambda body: (400, "bad"))
    [j] = judge_all(HttpJudge(endpoints=[server.url], retries=3, backoff_s=0.01), [JudgeRequest("chart", REF, CAND)])
    assert j.status == "judge_failed" and len(server.requests) == 1


def unused_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_unreachable_endpoint_is_judge_failed_not_an_exception():
    judge = HttpJudge(endpoints=[f"127.0.0.1:{unused_port()}"], retries=1, backoff_s=0.01, connect_timeout_s=1)
    out = judge_all(judge, [JudgeRequest("svg", REF, CAND)] * 3)
    assert [j.status for j in out] == ["judge_failed"] * 3
    assert "ConnectError" in out[0].raw


def test_dead_endpoint_is_routed_around(scripted_server):
    good = scripted_server(lambda body: (200, ANSWER))
    judge = HttpJudge(endpoints=[f"127.0.0.1:{unused_port()}", good.url], retries=2, backoff_s=0.01)
    out = judge_all(judge, [JudgeRequest("chart", REF, CAND)] * 6)
    assert all(j.parse_ok for j in out)
    assert len(good.requests) == 6


def test_least_outstanding_balancing_and_concurrency_limit(scripted_server):
    in_flight = {"now": 0, "max": 0}
    import time

    def slow(body):
        in_flight["now"] += 1
        in_flight["max"] = max(in_flight["max"], in_flight["now"])
        time.sleep(0.05)
        in_flight["now"] -= 1
        return 200, ANSWER

    a, b = scripted_server(slow), scripted_server(slow)
    judge = HttpJudge(endpoints=[a.url, b.url], max_concurrency=4)
    out = judge_all(judge, [JudgeRequest("chart", REF, CAND)] * 16)
    assert all(j.parse_ok for j in out)
    assert abs(len(a.requests) - len(b.requests)) <= 2 and len(a.requests) + len(b.requests) == 16
    assert in_flight["max"] <= 4


def test_verl_rm_points_at_router(scripted_server):
    server = scripted_server(lambda body: (200, ANSWER))
    judge = verl_rm_judge(server.url.removeprefix("http://"), model="/models/visual-erm")
    assert judge.urls == [server.url + "/v1/chat/completions"]
    [j] = judge_all(judge, [JudgeRequest("chart", REF, CAND)])
    assert j.parse_ok and server.requests[0]["model"] == "/models/visual-erm"


def test_serve_judge_with_tiny_model(tiny_vlm_path):
    """The real transformers backend behind the OpenAI-compatible app; its random output is garbage,
    so every answer must come back as a counted parse failure, never an exception."""
    from verm_rl.judge.server import create_app

    app = create_app(tiny_vlm_path, served_model_name="tiny", engine="transformers", max_batch_size=8)
    url, stop = run_app_in_thread(app)
    try:
        judge = HttpJudge(endpoints=[url], model="tiny", sampling=SamplingParams(max_tokens=12),
                          on_parse_failure="keep")  # one call each: the request count below is exact
        out = judge_all(judge, [JudgeRequest(t, REF, CAND) for t in ("chart", "table", "svg", "chart")])
        assert all(j.status in ("ok", "parse_failed") for j in out), [(j.status, j.raw) for j in out]
        assert sum(j.status == "parse_failed" for j in out) >= 3, [j.raw for j in out]
        import httpx

        health = httpx.get(url + "/health").json()
        assert health["requests"] == 4 and health["batches"] >= 1 and health["errors"] == 0
        assert httpx.get(url + "/v1/models").json()["data"][0]["id"] == "tiny"
        bad = httpx.post(url + "/v1/chat/completions", json={"model": "tiny"})
        assert bad.status_code == 400
    finally:
        stop()


@pytest.mark.parametrize("endpoint", ["127.0.0.1:8000", "http://h:1/v1", "http://h:1/v1/chat/completions/"])
def test_endpoint_forms(endpoint):
    assert HttpJudge(endpoints=[endpoint]).urls[0].endswith(":8000/v1/chat/completions") or \
        HttpJudge(endpoints=[endpoint]).urls[0] == "http://h:1/v1/chat/completions"
