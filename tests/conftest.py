"""Shared fixtures: one warm Renderer, a local Ray cluster, loopback listeners that record hits."""

from __future__ import annotations

import http.server
import os
import socket
import threading

import pytest

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


@pytest.fixture(scope="session")
def renderer():
    from verm_rl.render import Renderer

    r = Renderer()
    yield r
    r.close()


@pytest.fixture(scope="session")
def ray_cluster():
    import ray

    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, ignore_reinit_error=True,
             logging_level="ERROR", log_to_driver=False)
    yield ray
    ray.shutdown()


class TcpListener:
    """A TCP server on 127.0.0.1 that counts every connection it gets."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.hits = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.hits += 1
            conn.close()

    def close(self):
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture
def listener():
    server = TcpListener()
    yield server
    server.close()


class RecordingHTTPServer:
    """An HTTP server on 127.0.0.1 that serves a tiny PNG and records every request path."""

    def __init__(self):
        paths: list[str] = []
        self.paths = paths

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                paths.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"hello")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def http_server():
    server = RecordingHTTPServer()
    yield server
    server.close()


def run_app_in_thread(app):
    """Serve an ASGI app with uvicorn on 127.0.0.1 in a daemon thread; returns (base_url, stop)."""
    import time

    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="error", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started and time.time() < deadline:
        time.sleep(0.02)

    def stop():
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()

    return f"http://127.0.0.1:{port}", stop


class ScriptedJudgeServer:
    """A real OpenAI-compatible HTTP server on 127.0.0.1 whose answers the test scripts: a callable
    from the request body to (status code, content). Records every request it gets."""

    def __init__(self, answer):
        from fastapi import FastAPI
        from fastapi.responses import JSONResponse

        self.answer = answer
        self.requests: list[dict] = []
        app = FastAPI()

        @app.post("/v1/chat/completions")
        async def chat(body: dict):
            self.requests.append(body)
            status, content = self.answer(body)
            if status != 200:
                return JSONResponse(status_code=status, content={"error": content})
            return {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}

        self.url, self._stop = run_app_in_thread(app)

    def close(self):
        self._stop()


@pytest.fixture
def scripted_server():
    servers = []

    def make(answer):
        server = ScriptedJudgeServer(answer)
        servers.append(server)
        return server

    yield make
    for s in servers:
        s.close()


@pytest.fixture(scope="session")
def tiny_vlm_path(tmp_path_factory):
    from verm_rl.testing.tiny_vlm import build_tiny_qwen3_vl

    return str(build_tiny_qwen3_vl(tmp_path_factory.mktemp("tiny_qwen3_vl")))
