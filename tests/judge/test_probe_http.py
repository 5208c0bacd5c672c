"""Probes of the http judge the way a real vLLM/SGLang server and a cluster network misbehave: raw HTTP
servers on 127.0.0.1 that refuse, hang, drip, redirect, compress, rate-limit or answer malformed bodies; and
``serve-judge`` fed malformed requests. Every failure must end as a typed status on the sample, never an
exception out of ``judge()`` and never a hang."""

from __future__ import annotations

import asyncio
import base64
import gzip
import io
import json
import socket
import threading
import time
from email.utils import formatdate

import httpx
import pytest
from PIL import Image

from tests.conftest import run_app_in_thread
from verm_rl.judge import JudgeRequest
from verm_rl.judge.http import HttpJudge

ANSWER = json.dumps({"errors": [{"category": "style_error", "severity": 2, "location": "bars", "description": "r"}]})


def _png(color="white", size=(64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


REQ = JudgeRequest("chart", _png(), _png("red"))


def completion(content=ANSWER, finish="stop", **message) -> bytes:
    return json.dumps({"choices": [{"index": 0, "finish_reason": finish,
                                    "message": {"role": "assistant", "content": content, **message}}]}).encode()


class RawServer:
    """An HTTP/1.1 server on 127.0.0.1 written on bare asyncio streams, so a test can misbehave at the byte
    level. ``handler(n, path, headers, body)`` is an async generator of byte chunks (or ``float`` pauses);
    ``None`` as the first item means: keep the connection open and never answer."""

    def __init__(self, handler, port: int = 0):
        self.handler, self.hits, self.paths, self.times = handler, 0, [], []
        self.loop = asyncio.new_event_loop()
        sock = socket.socket()
        sock.bind(("127.0.0.1", port))
        self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        started = threading.Event()

        async def main():
            self.server = await asyncio.start_server(self._serve, sock=sock)
            started.set()

        self.thread = threading.Thread(target=lambda: (self.loop.run_until_complete(main()), self.loop.run_forever()),
                                       daemon=True)
        self.thread.start()
        started.wait(10)

    async def _serve(self, reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                headers = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
                body = await reader.readexactly(int(headers.get("content-length", 0)))
                self.hits += 1
                self.paths.append(path)
                self.times.append(time.monotonic())
                async for chunk in self.handler(self.hits, path, headers, body):
                    if chunk is None:
                        await asyncio.sleep(3600)
                    elif isinstance(chunk, float):
                        await asyncio.sleep(chunk)
                    else:
                        writer.write(chunk)
                        await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    def close(self):
        async def stop():
            self.server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def response(status=200, body=b"", reason="X", **headers) -> bytes:
    head = [f"HTTP/1.1 {status} {reason}", f"content-length: {len(body)}"]
    head += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    if "content_type" not in headers:
        head.append("content-type: application/json")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


@pytest.fixture
def raw_server():
    servers = []

    def make(handler):
        servers.append(RawServer(handler))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


def static(*chunks):
    async def handler(n, path, headers, body):
        for c in chunks:
            yield c

    return handler


def judge_once(judge, requests=(REQ,)):
    async def go():
        try:
            return await judge.judge(list(requests))
        finally:
            await judge.close()

    start = time.monotonic()
    out = asyncio.run(go())
    return out, time.monotonic() - start


def fast(url, **kw):
    return HttpJudge(endpoints=[url] if isinstance(url, str) else url, backoff_s=kw.pop("backoff_s", 0.01),
                     on_parse_failure="keep", **kw)


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# --- transport ------------------------------------------------------------------------------------------


def test_connection_refused_is_bounded_judge_failed():
    [j], took = judge_once(fast(f"http://127.0.0.1:{free_port()}", retries=2))
    assert j.status == "judge_failed" and "ConnectError" in j.raw and took < 5


def test_accepts_and_never_answers_times_out_bounded(raw_server):
    server = raw_server(static(None))
    [j], took = judge_once(fast(server.url, timeout_s=0.4, retries=1))
    assert j.status == "judge_failed" and "Timeout" in j.raw
    assert server.hits == 2 and took < 3


def test_slow_drip_body_is_held_to_timeout(raw_server):
    """A body that arrives a byte every 0.1 s never trips httpx's per-read timeout: timeout_s must bound
    the whole request."""
    payload = completion()

    async def drip(n, path, headers, body):
        yield (f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len(payload)}\r\n\r\n"
               ).encode()
        for i in range(len(payload)):
            yield payload[i:i + 1]
            yield 0.1

    server = raw_server(drip)
    [j], took = judge_once(fast(server.url, timeout_s=0.6, retries=1))
    assert j.status == "judge_failed" and "timeout" in j.raw.lower(), j.raw
    assert took < 3


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_retried_then_succeeds(raw_server, status):
    async def flaky(n, path, headers, body):
        yield response(status, b'{"error": "busy"}') if n == 1 else response(200, completion())

    server = raw_server(flaky)
    [j], _ = judge_once(fast(server.url, retries=2))
    assert j.parse_ok and server.hits == 2


def test_5xx_exhausted_names_status(raw_server):
    server = raw_server(static(response(502, b"<html>Bad Gateway</html>", content_type="text/html")))
    [j], _ = judge_once(fast(server.url, retries=2))
    assert j.status == "judge_failed" and "502" in j.raw and server.hits == 3


def _retry_after_server(raw_server, value):
    async def limited(n, path, headers, body):
        if n == 1:
            yield response(429, b'{"error": "rate"}', **({"retry_after": value} if value is not None else {}))
        else:
            yield response(200, completion())

    return raw_server(limited)


@pytest.mark.parametrize("kind", ["seconds", "http-date"])
def test_429_honours_retry_after(raw_server, kind):
    value = "1" if kind == "seconds" else formatdate(time.time() + 2, usegmt=True)
    server = _retry_after_server(raw_server, value)
    [j], _ = judge_once(fast(server.url, retries=2))
    assert j.parse_ok and server.hits == 2
    assert server.times[1] - server.times[0] >= 0.9


def test_429_without_retry_after_uses_backoff(raw_server):
    server = _retry_after_server(raw_server, None)
    [j], _ = judge_once(fast(server.url, retries=2))
    assert j.parse_ok and server.times[1] - server.times[0] < 0.5


def test_retry_after_is_capped(raw_server):
    server = _retry_after_server(raw_server, "86400")
    [j], took = judge_once(fast(server.url, retries=2, timeout_s=1.0))
    assert j.parse_ok and took < 3


@pytest.mark.parametrize("status", [400, 404, 413, 422])
def test_client_errors_not_retried_and_named(raw_server, status):
    detail = b'{"object": "error", "message": "max_tokens is too large: 99999", "type": "BadRequestError"}'
    server = raw_server(static(response(status, detail)))
    [j], _ = judge_once(fast(server.url, retries=3))
    assert j.status == "judge_failed" and server.hits == 1
    assert str(status) in j.raw and "max_tokens is too large" in j.raw  # the server's reason reaches the sample


# --- malformed 200 answers -------------------------------------------------------------------------------


@pytest.mark.parametrize("body,cause", [
    (b"<html>gateway page</html>", "not json"),
    (b'{"id": "x", "object": "chat.completion"}', "choices"),
    (b'{"choices": []}', "choices"),
    (b'{"choices": [{"index": 0}]}', "message"),
    (b'[1, 2]', "choices"),
    (b'{"choices": [{"message": {"content": 42}}]}', "content"),
])
def test_malformed_200_is_judge_failed_naming_cause(raw_server, body, cause):
    server = raw_server(static(response(200, body)))
    [j], _ = judge_once(fast(server.url, retries=1))
    assert j.status == "judge_failed" and cause in j.raw.lower(), j.raw


def test_content_null_is_parse_failed_empty(raw_server):
    server = raw_server(static(response(200, completion(None))))
    [j], _ = judge_once(fast(server.url))
    assert j.status == "parse_failed"


@pytest.mark.parametrize("key", ["reasoning_content", "reasoning"])
def test_reasoning_only_answer_is_parsed(raw_server, key):
    """vLLM's reasoning parsers put an answer whose </think> never came into ``reasoning_content``
    (``reasoning`` in newer vLLM) and leave ``content`` null."""
    server = raw_server(static(response(200, completion(None, **{key: "Let me compare.\n" + ANSWER}))))
    [j], _ = judge_once(fast(server.url))
    assert j.parse_ok and j.total_severity == 2


def test_content_wins_over_reasoning(raw_server):
    server = raw_server(static(response(200, completion('{"errors": []}', reasoning_content=ANSWER))))
    [j], _ = judge_once(fast(server.url))
    assert j.parse_ok and j.errors == []


def test_truncated_answer_is_noted(raw_server):
    server = raw_server(static(response(200, completion(ANSWER[:40], finish="length"))))
    [j], _ = judge_once(fast(server.url))
    assert "finish_reason:length" in j.notes  # whatever the parser could repair, the cause is on the sample


def test_chunked_gzip_response(raw_server):
    data = gzip.compress(completion())
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(data[i:i + 7]), data[i:i + 7]) for i in range(0, len(data), 7))
    head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n" \
           b"content-encoding: gzip\r\n\r\n"
    server = raw_server(static(head + chunked + b"0\r\n\r\n"))
    [j], _ = judge_once(fast(server.url))
    assert j.parse_ok and j.total_severity == 2


def test_sse_stream_instead_of_json_is_judge_failed(raw_server):
    sse = b'data: {"choices": [{"delta": {"content": "{}"}}]}\n\ndata: [DONE]\n\n'
    server = raw_server(static(response(200, sse, content_type="text/event-stream")))
    [j], _ = judge_once(fast(server.url, retries=0))
    assert j.status == "judge_failed" and "not json" in j.raw.lower()


def test_huge_body_is_bounded(raw_server):
    """A 50 MB answer (a runaway server or proxy) must not be read whole and parsed."""
    big = completion("x" * (50 << 20))
    server = raw_server(static(response(200, big)))
    [j], took = judge_once(fast(server.url, retries=0))
    assert j.status == "judge_failed" and "too large" in j.raw.lower(), j.raw[:200]
    assert took < 10


@pytest.mark.parametrize("code", [307, 308])
def test_redirect_is_followed_with_body(raw_server, code):
    async def moved(n, path, headers, body):
        if path == "/v1/chat/completions":
            yield response(code, b"", location="/other/v1/chat/completions")
        else:
            assert json.loads(body)["messages"]
            yield response(200, completion())

    server = raw_server(moved)
    [j], _ = judge_once(fast(server.url, retries=0))
    assert j.parse_ok and server.paths == ["/v1/chat/completions", "/other/v1/chat/completions"]


@pytest.mark.parametrize("form", ["{url}", "{url}/", "{url}/v1", "{url}/v1/", "{url}/v1/chat/completions", "{host}",
                                  " {url}/v1 "])
def test_endpoint_forms_reach_the_server(raw_server, form):
    server = raw_server(static(response(200, completion())))
    endpoint = form.format(url=server.url, host=server.url.removeprefix("http://"))
    [j], _ = judge_once(fast(endpoint))
    assert j.parse_ok and server.paths == ["/v1/chat/completions"]


# --- several endpoints -----------------------------------------------------------------------------------


def test_fast_failing_dead_endpoint_does_not_attract_traffic(raw_server):
    """Least-outstanding balancing must not keep choosing a dead endpoint because it never has anything
    outstanding (it refuses at once): after failing it cools down while live endpoints take the traffic."""
    live = raw_server(static(0.02, response(200, completion())))
    dead = f"http://127.0.0.1:{free_port()}"
    judge = fast([dead, live.url], retries=2, backoff_s=1.0)

    async def go():
        try:
            first = await judge.judge([REQ] * 4)  # a burst before any failure is seen may try it
            seen = judge.failures[0]
            later = []
            for _ in range(4):  # a steady stream afterwards must not
                later += await judge.judge([REQ] * 6)
            return first + later, judge.failures[0] - seen
        finally:
            await judge.close()

    out, new_failures = asyncio.run(go())
    assert all(j.parse_ok for j in out)
    assert new_failures == 0 and live.hits == 28


def test_dead_endpoint_is_tried_again_after_cooldown(raw_server):
    live = raw_server(static(response(200, completion())))
    port = free_port()
    judge = fast([f"http://127.0.0.1:{port}", live.url], retries=2, backoff_s=0.05)

    async def go():
        first = await judge.judge([REQ] * 3)
        revived = RawServer(static(response(200, completion())), port=port)  # the dead endpoint comes back
        try:
            await asyncio.sleep(1.0)
            return first + await judge.judge([REQ] * 6), revived.hits
        finally:
            await judge.close()
            revived.close()

    out, hits = asyncio.run(go())
    assert all(j.parse_ok for j in out) and hits >= 1 and judge.failures[0] == 0


def test_hanging_endpoint_is_routed_around(raw_server):
    hang = raw_server(static(None))
    live = raw_server(static(response(200, completion())))
    out, took = judge_once(fast([hang.url, live.url], retries=2, timeout_s=0.5), [REQ] * 8)
    assert all(j.parse_ok for j in out) and took < 5


# --- the server (serve-judge) ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def judge_app(tiny_vlm_path):
    from verm_rl.judge.server import create_app

    app = create_app(tiny_vlm_path, served_model_name="tiny", engine="transformers", max_batch_size=8,
                     max_wait_ms=50)
    url, stop = run_app_in_thread(app)
    yield url, app
    stop()


PNG_URL = "data:image/png;base64," + base64.b64encode(_png()).decode()


def _msg(image_url=PNG_URL, text="compare"):
    return [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": image_url}},
                                         {"type": "text", "text": text}]}]


GOOD = {"model": "tiny", "messages": _msg(), "max_tokens": 4}
bomb = io.BytesIO()
Image.new("1", (20000, 20000)).save(bomb, format="PNG")
BOMB = "data:image/png;base64," + base64.b64encode(bomb.getvalue()).decode()


@pytest.mark.parametrize("body", [
    {"model": "tiny"},
    {"model": "tiny", "messages": "hello"},
    {"model": "tiny", "messages": ["hello"]},
    {"model": "tiny", "messages": [{"content": "no role"}]},
    {"model": "tiny", "messages": _msg("data:image/png;base64,!!!not-base64!!!")},
    {"model": "tiny", "messages": _msg("data:image/png;base64," + base64.b64encode(b"not an image").decode())},
    {"model": "tiny", "messages": _msg("data:image/png;base64," + base64.b64encode(_png()[:60]).decode())},
    {"model": "tiny", "messages": _msg("data:nocomma")},
    {"model": "tiny", "messages": _msg("http://example.com/x.png")},
    {"model": "tiny", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
    {"model": "tiny", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": 5}]}]},
    {"model": "tiny", "messages": _msg(BOMB)},
    {**GOOD, "max_tokens": -5},
    {**GOOD, "max_tokens": 0},
    {**GOOD, "top_p": 5},
    {**GOOD, "temperature": -1},
    {**GOOD, "temperature": "hot"},
    {**GOOD, "seed": "abc"},
    {**GOOD, "n": 3},
])
def test_malformed_request_is_4xx_json(judge_app, body):
    url, _ = judge_app
    r = httpx.post(url + "/v1/chat/completions", json=body, timeout=60)
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])
    assert isinstance(r.json(), dict)


@pytest.mark.parametrize("content,ctype", [(b"not json", "application/json"), (b"[1,2]", "application/json"),
                                           (b'{"messages": []}', "text/plain"), (b"\xff\xfe", "application/json")])
def test_non_json_request_is_4xx_json(judge_app, content, ctype):
    url, _ = judge_app
    r = httpx.post(url + "/v1/chat/completions", content=content, headers={"content-type": ctype}, timeout=30)
    assert 400 <= r.status_code < 500 and isinstance(r.json(), dict)


def test_bad_requests_do_not_poison_a_concurrent_batch(judge_app):
    """Good and bad requests arriving together (one batch): the good ones are answered, the bad ones get
    4xx, and the server keeps serving."""
    url, _ = judge_app

    async def go():
        async with httpx.AsyncClient(timeout=120) as client:
            bodies = [GOOD, {**GOOD, "max_tokens": -1}, GOOD, {**GOOD, "top_p": 7.0}, {**GOOD, "temperature": 0.5}]
            return await asyncio.gather(*(client.post(url + "/v1/chat/completions", json=b) for b in bodies))

    rs = asyncio.run(go())
    assert [r.status_code for r in rs] == [200, 400, 200, 400, 200], [r.text[:200] for r in rs]
    assert httpx.get(url + "/health", timeout=10).json()["status"] == "ok"


def test_generation_error_fails_only_its_request(judge_app, monkeypatch):
    """A request whose generation raises gets a 500 JSON error; requests batched with it are answered."""
    import verm_rl.judge.server as server

    url, _ = judge_app
    real = server.generate_grouped

    def flaky(engine, items):
        if any(conv.messages[-1]["content"][-1].get("text") == "boom" for conv, _ in items):
            raise RuntimeError("CUDA error: device-side assert triggered")
        return real(engine, items)

    monkeypatch.setattr(server, "generate_grouped", flaky)

    async def go():
        async with httpx.AsyncClient(timeout=120) as client:
            bodies = [GOOD, {**GOOD, "messages": _msg(text="boom")}, GOOD]
            return await asyncio.gather(*(client.post(url + "/v1/chat/completions", json=b) for b in bodies))

    rs = asyncio.run(go())
    assert [r.status_code for r in rs] == [200, 500, 200], [r.text[:200] for r in rs]
    assert "device-side assert" in rs[1].json()["error"]["message"]


def test_connection_closed_mid_body_is_retried(raw_server):
    payload = completion()

    async def cut(n, path, headers, body):
        head = f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len(payload)}\r\n\r\n"
        yield head.encode() + (payload[:10] if n == 1 else payload)
        if n == 1:
            raise ConnectionResetError  # the server dies mid-answer

    server = raw_server(cut)
    [j], _ = judge_once(fast(server.url, retries=1))
    assert j.parse_ok and server.hits == 2


def test_corrupt_gzip_is_judge_failed(raw_server):
    server = raw_server(static(response(200, b"\x1f\x8b\x08\x00garbage", content_encoding="gzip")))
    [j], _ = judge_once(fast(server.url, retries=0))
    assert j.status == "judge_failed"


@pytest.mark.parametrize("value", ["soon", "Wed, 21 Oct 2015 07:28:00 GMT", "-5"])
def test_odd_retry_after_falls_back_to_backoff(raw_server, value):
    server = _retry_after_server(raw_server, value)
    [j], took = judge_once(fast(server.url, retries=2))
    assert j.parse_ok and took < 2


def test_uppercase_scheme_endpoint(raw_server):
    server = raw_server(static(response(200, completion())))
    [j], _ = judge_once(fast(server.url.replace("http://", "HTTP://")))
    assert j.parse_ok and server.paths == ["/v1/chat/completions"]


def test_large_image_request_is_answered(judge_app):
    """A 6000x4000 reference (24 MP, a screenshot gone wrong) is downscaled by the processor, not a hang."""
    url, _ = judge_app
    big = io.BytesIO()
    Image.new("RGB", (6000, 4000), "white").save(big, format="PNG")
    body = {**GOOD, "messages": _msg("data:image/png;base64," + base64.b64encode(big.getvalue()).decode())}
    start = time.monotonic()
    r = httpx.post(url + "/v1/chat/completions", json=body, timeout=60)
    assert r.status_code in (200, 400, 413), r.text[:200]
    assert time.monotonic() - start < 30
