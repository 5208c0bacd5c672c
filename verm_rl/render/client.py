"""Rendering from any process: ``render(task, source, **options)`` with lazily started warm workers."""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

from verm_rl.render.options import RenderOptions
from verm_rl.render.protocol import RenderRequest, WorkerGone, read_message, write_message
from verm_rl.render.renderers import renderer_for
from verm_rl.render.result import RenderResult
from verm_rl.tasks import extract_code

log = logging.getLogger(__name__)


# Variables a worker may inherit; everything else (API keys, tokens, cloud credentials) stays out.
ENV_ALLOW = ("PATH", "PYTHONPATH", "LANG", "LANGUAGE", "TZ", "HOME", "TMPDIR", "LD_LIBRARY_PATH", "VIRTUAL_ENV",
             "MPLCONFIGDIR", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "FONTCONFIG_PATH", "FONTCONFIG_FILE",
             "PLAYWRIGHT_BROWSERS_PATH")
ENV_ALLOW_PREFIXES = ("LC_", "VERM_RL_")


def worker_environment(environ: Any) -> dict[str, str]:
    """The environment a warm worker starts with: an allow-list, single-threaded BLAS, a fixed hash
    seed (set iteration order, hence pixels, is the same in every worker)."""
    env = {k: v for k, v in environ.items() if k in ENV_ALLOW or k.startswith(ENV_ALLOW_PREFIXES)}
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="Agg",
               PYTHONHASHSEED="0")
    return env


class WarmWorker:
    """One warm worker subprocess (``verm_rl.render.worker``) and the pipe to it."""

    def __init__(self, family: str, start_timeout_s: float = 180.0, grace_s: float = 10.0):
        self.family = family
        self.start_timeout_s = start_timeout_s
        self.grace_s = grace_s  # slack on top of a request's own timeout before the worker is killed
        self.proc: subprocess.Popen | None = None
        self.info: dict[str, Any] = {}
        self.restarts = 0
        self.tmp = ""  # this worker's TMPDIR
        self._lock = threading.Lock()

    def _start(self, env_overrides: dict[str, str] | None = None) -> None:
        # the worker's scratch dirs (its children's, the SVG child's, the browser's) go in one dir of
        # ours: a worker killed with SIGKILL cannot remove them, ``_kill`` does
        self.tmp = tempfile.mkdtemp(prefix=f"verm_worker_{self.family}_")
        os.chmod(self.tmp, 0o755)
        env = {**worker_environment(os.environ), "TMPDIR": self.tmp, **(env_overrides or {})}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "verm_rl.render.worker", self.family],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, start_new_session=True,
        )
        try:
            self.info = read_message(self.proc.stdout.fileno(), time.monotonic() + self.start_timeout_s)
        except WorkerGone as e:
            self._kill()
            raise RuntimeError(f"render worker ({self.family}) failed to start: {e}") from None
        if self.info.get("view_applied") and self.info.get("browser_error") and not env_overrides:
            log.warning("the table browser failed inside its filesystem view (%s); restarting it without the "
                        "view (VERM_RL_BROWSER_VIEW=0): it can read what this user can", self.info["browser_error"])
            self._kill()
            self._start({"VERM_RL_BROWSER_VIEW": "0"})
            return
        if self.info.get("degraded"):
            log.warning("render sandbox DEGRADED in worker %s: %s", self.family, self.info["degraded"])
        log.info("render worker %s ready: %s", self.family, self.info)

    def _kill(self) -> None:
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, 9)
            except (ProcessLookupError, PermissionError):
                pass
            self.proc.wait()
            self.proc = None
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def request(self, request: RenderRequest, timeout_s: float) -> RenderResult:
        """Send one request; on a dead or hung worker, restart it and return a crash/timeout."""
        with self._lock:
            if not self.alive():
                if self.proc is not None:
                    self.restarts += 1
                    self._kill()
                self._start()
            try:
                write_message(self.proc.stdin.fileno(), request)
                answer = read_message(self.proc.stdout.fileno(), time.monotonic() + timeout_s + self.grace_s)
            except (WorkerGone, BrokenPipeError, OSError) as e:
                hung = self.alive()
                self._kill()
                self.restarts += 1
                return RenderResult.failure("timeout" if hung else "crash", f"render worker lost: {e}")
            if not isinstance(answer, RenderResult):
                return RenderResult.failure("crash", f"bad answer from the render worker: {type(answer).__name__}")
            return answer

    def close(self) -> None:
        with self._lock:
            if self.alive():
                try:
                    write_message(self.proc.stdin.fileno(), None)
                    self.proc.wait(timeout=5)
                except Exception:
                    pass
            self._kill()


class Renderer:
    """Renders chart/table/SVG sources in warm, sandboxed workers owned by this object."""

    def __init__(self, **defaults: Any):
        self.options = RenderOptions().replace(**defaults)
        self._workers: dict[str, WarmWorker] = {}
        self._lock = threading.Lock()

    def worker(self, task: str) -> WarmWorker:
        family = renderer_for(task).family
        with self._lock:
            if family not in self._workers:
                self._workers[family] = WarmWorker(family)
            return self._workers[family]

    def worker_info(self) -> dict[str, dict[str, Any]]:
        """What each started worker reported at start-up (pid, isolation layers, missing modules)."""
        return {family: dict(w.info, restarts=w.restarts) for family, w in self._workers.items()}

    def render(self, task: str, source: str | None, **options: Any) -> RenderResult:
        """Render ``source`` for ``task``. Never raises for bad programs: see ``RenderResult``."""
        start = time.monotonic()
        spec = renderer_for(task)
        opts = self.options.replace(**options).resolved(task)
        if not isinstance(source, str) or not source.strip():
            return RenderResult.failure("no_code", "no program to render")
        if len(source.encode("utf-8", "replace")) > opts.max_source_kb * 1024:
            return RenderResult.failure("too_large", f"source longer than {opts.max_source_kb} KB")
        result = self.worker(task).request(RenderRequest(task, source, opts, spec), opts.timeout)
        if not result.seconds:
            result.seconds = time.monotonic() - start
        return result

    def render_response(self, task: str, response: str, **options: Any) -> RenderResult:
        """Extract the program from a model response, then render it (``no_code`` if none)."""
        return self.render(task, extract_code(task, response), **options)

    def close(self) -> None:
        for worker in list(self._workers.values()):
            worker.close()
        self._workers.clear()

    def __enter__(self) -> Renderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_default: Renderer | None = None
_default_lock = threading.Lock()


def default_renderer() -> Renderer:
    global _default
    with _default_lock:
        if _default is None:
            _default = Renderer()
            atexit.register(_default.close)
        return _default


def render(task: str, source: str | None, **options: Any) -> RenderResult:
    """Render with this process's shared warm workers (started on first use, reused after)."""
    return default_renderer().render(task, source, **options)
