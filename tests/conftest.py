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
