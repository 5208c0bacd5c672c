"""The warm render worker, loop side: a long-lived process that serves one client over a pipe.

``python -m verm_rl.render.worker python`` pre-imports the plotting stack, renders a warm-up chart,
computes the filesystem view and the copy-on-write profile once, then serves chart (and other
user-code) requests with one sandboxed child per render (``child``: the child side) and SVG with one
long-lived sandboxed child (``svg_server``). ``python -m verm_rl.render.worker browser`` keeps one
headless Chromium open for tables. Which function renders a task comes with the request
(``renderers``). Requests and answers are typed pickles on stdin/stdout (``protocol``: a
``RenderRequest`` in, a ``RenderResult`` out); stdout is kept for them alone.

A child for the next render is forked as soon as an answer is written (a *spare*): the fork, the
namespaces, the filesystem view and the pre-faulting then happen between requests rather than on a
render's clock. A spare is used only for a request with the same sandbox limits and renderers it
was set up with; otherwise it is discarded and a fresh child forked at once.
"""

from __future__ import annotations

import fcntl
import gc
import importlib
import logging
import os
import select
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from verm_rl.render.child import serve_one
from verm_rl.render.fsview import FsView
from verm_rl.render.images import png_problem
from verm_rl.render.options import RenderOptions
from verm_rl.render.prefault import Runs, profile
from verm_rl.render.protocol import ChildRequest, RenderRequest, decode_child_frame, read_message, write_message
from verm_rl.render.renderers import RendererSpec, renderer_for
from verm_rl.render.result import RenderFailure, RenderResult
from verm_rl.render.sandbox import (
    USERNS_REFUSED,
    SandboxConfig,
    current_vsize,
    enter_browser_sandbox,
    enter_network_namespace,
    fork_isolated,
)
from verm_rl.render.svg_server import RECYCLE_EVERY, SvgServer
from verm_rl.tasks import task_names

log = logging.getLogger("verm_rl.render.worker")

# Modules imported before forking. A child dropped to `nobody` may not be able to read the Python
# installation (e.g. under /root), so whatever user programs may import must be imported here.
DEFAULT_PREIMPORT = (
    "numpy", "matplotlib", "matplotlib.pyplot", "matplotlib.patches", "matplotlib.colors",
    "matplotlib.cm", "matplotlib.ticker", "matplotlib.dates", "matplotlib.gridspec",
    "matplotlib.lines", "matplotlib.collections", "matplotlib.path", "matplotlib.transforms",
    "matplotlib.font_manager", "matplotlib.patheffects", "matplotlib.table", "matplotlib.sankey",
    "matplotlib.colorbar", "matplotlib.markers", "matplotlib.image", "matplotlib.legend_handler",
    "mpl_toolkits.mplot3d", "mpl_toolkits.axes_grid1", "mpl_toolkits.axes_grid1.inset_locator",
    "pandas", "scipy", "scipy.stats", "scipy.interpolate", "scipy.signal", "scipy.ndimage",
    "seaborn", "squarify", "networkx", "cairosvg", "defusedxml.ElementTree",
    "math", "random", "json", "collections", "itertools", "functools", "datetime", "re", "string",
    "statistics", "decimal", "fractions", "csv", "io", "textwrap", "copy", "operator", "typing",
    "dataclasses", "enum", "time", "calendar", "warnings", "colorsys", "numbers", "bisect",
    "heapq", "array", "struct", "hashlib", "base64", "uuid", "pprint", "abc", "contextlib",
    "zoneinfo", "locale", "unicodedata", "difflib", "glob", "pathlib", "ctypes", "threading",
    # codecs are imported lazily by name (np.load(encoding=...), open(..., encoding=...)): have them
    # all loaded even where the view cannot show the standard library
    "encodings.latin_1", "encodings.cp1252", "encodings.cp437", "encodings.utf_16", "encodings.utf_16_le",
    "encodings.utf_16_be", "encodings.utf_32", "encodings.ascii", "encodings.iso8859_15", "encodings.cp850",
    "encodings.idna", "encodings.unicode_escape", "encodings.raw_unicode_escape", "encodings.punycode",
    "pickle", "gzip", "zipfile", "bz2", "lzma", "tempfile", "shutil", "urllib.request", "urllib.parse",
    "http.client", "email", "html", "xml.etree.ElementTree", "sqlite3", "argparse", "logging", "inspect",
    "traceback", "secrets", "hmac", "platform", "weakref", "types", "cmath", "shlex", "io", "os.path",
)


def preimport(modules: tuple[str, ...]) -> list[str]:
    missing = []
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:
            missing.append(name)
    return missing


def _open_bundled_fonts() -> None:
    """Open matplotlib's bundled fonts now: a child dropped to ``nobody`` may not be able to read
    them (e.g. a virtualenv under /root), but inherits the already-open font objects."""
    import matplotlib
    from matplotlib import font_manager

    data = matplotlib.get_data_path()
    for entry in font_manager.fontManager.ttflist:
        if entry.fname.startswith(data):
            try:
                font_manager.get_font(entry.fname)
            except Exception:
                pass


SIGNAL_KINDS = {signal.SIGXCPU: "timeout", signal.SIGXFSZ: "too_large"}
F_SETPIPE_SZ = 1031


def _kill_group(pid: int) -> None:
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _wait(pid: int, deadline: float) -> int | None:
    while True:
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return None
        if done:
            return status
        if time.monotonic() > deadline:
            _kill_group(pid)
            return os.waitpid(pid, 0)[1]
        time.sleep(0.002)


def _status_failure(status: int | None) -> tuple[str, str]:
    if status is None:
        return "crash", "the render process vanished"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        return SIGNAL_KINDS.get(sig, "crash"), f"render process killed by {name}"
    return "crash", f"render process exited with status {os.WEXITSTATUS(status)} before returning a result"


def _read_frame(fd: int, deadline: float, cap: int) -> tuple[bytes, str | None]:
    """Read the child's frame until EOF; returns (data, why it was cut short: timeout/too_large)."""
    chunks, total = [], 0
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return b"".join(chunks), "timeout"
        if not select.select([fd], [], [], min(left, 0.5))[0]:
            continue
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks), None
        chunks.append(chunk)
        total += len(chunk)
        if total > cap:
            return b"".join(chunks), "too_large"


@dataclass
class Child:
    """A forked render child and the worker's ends of its pipes."""

    pid: int
    req_fd: int  # write end: one ChildRequest
    res_fd: int  # read end: one frame, then EOF
    scratch: str
    cfg: SandboxConfig
    targets: frozenset[str]  # renderers it can run (loaded before its fork)
    forked_at: float

    def close_fds(self) -> None:
        for fd in (self.req_fd, self.res_fd):
            try:
                os.close(fd)
            except OSError:
                pass
        self.req_fd = self.res_fd = -1


class Forker:
    """Forks sandboxed render children, one per render, keeping one spare ready between requests."""

    def __init__(self, view: FsView | None = None, close_in_child: tuple[int, ...] = (), prefault: Runs = ()):
        self.view = view
        self.close_in_child = close_in_child
        self.prefault = list(prefault)
        self.renderers: dict[str, Callable[..., bytes]] = {}  # target -> function, imported in this process
        self.spare: Child | None = None
        self.finished: list[Child] = []  # answered children to reap off the critical path
        self.last_cfg: SandboxConfig | None = None

    def load(self, spec: RendererSpec) -> None:
        if spec.target not in self.renderers:
            self.renderers[spec.target] = spec.load()

    def _fork(self, cfg: SandboxConfig) -> Child:
        scratch = tempfile.mkdtemp(prefix="verm_render_")
        base_vsize = current_vsize()
        req_r, req_w = os.pipe()
        try:  # room for a whole request (max_source_kb 512 by default): sending it never blocks
            fcntl.fcntl(req_w, F_SETPIPE_SZ, 1 << 20)
        except OSError:
            pass
        res_r, res_w = os.pipe()
        forked_at = time.monotonic()
        pid, layers = fork_isolated()
        if pid == 0:  # child
            try:
                for fd in (req_w, res_r, *self.close_in_child):
                    os.close(fd)
                devnull = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(devnull, fd)
                serve_one(req_r, res_w, cfg, base_vsize, scratch, layers, self.view, self.renderers, self.prefault)
            finally:
                os._exit(70)
        os.close(req_r)
        os.close(res_w)
        return Child(pid, req_w, res_r, scratch, cfg, frozenset(self.renderers), forked_at)

    def prepare(self) -> None:
        """Reap answered children, and fork a spare for limits like the last request's."""
        self.reap()
        if self.spare is None and self.last_cfg is not None:
            self.spare = self._fork(self.last_cfg)

    def reap(self) -> None:
        for child in self.finished:
            _kill_group(child.pid)
            try:
                os.waitpid(child.pid, 0)
            except ChildProcessError:
                pass
            shutil.rmtree(child.scratch, ignore_errors=True)
        self.finished.clear()

    def discard_spare(self) -> None:
        if self.spare is not None:
            self.spare.close_fds()  # EOF: a spare waiting for its request exits by itself
            _kill_group(self.spare.pid)
            self.finished.append(self.spare)
            self.spare = None

    def _take(self, cfg: SandboxConfig, target: str) -> tuple[Child, bool]:
        spare = self.spare
        self.spare = None
        if spare is not None and spare.cfg == cfg and target in spare.targets and _running(spare.pid):
            return spare, True
        if spare is not None:
            self.spare = spare
            self.discard_spare()
        self.reap()
        return self._fork(cfg), False

    def render(self, request: RenderRequest) -> RenderResult:
        """One render in a sandboxed child; whatever happens becomes a ``RenderResult``."""
        start = time.monotonic()
        options = request.options
        cfg = SandboxConfig.from_options(options)
        self.last_cfg = cfg
        try:
            self.load(request.renderer)
        except Exception as e:  # noqa: BLE001 - a bad registration is this request's crash
            return RenderResult.failure("crash", f"renderer {request.renderer.target!r} cannot be loaded: "
                                                 f"{type(e).__name__}: {e}", time.monotonic() - start)
        child, spare = self._take(cfg, request.renderer.target)
        message = ChildRequest(request.task, request.source, options, request.renderer.target,
                               request.renderer.check_blank).encode()
        try:
            _write_all(child.req_fd, message)
        except OSError:  # a spare that died in the meantime is not this render's failure: a fresh child
            if spare:
                self.spare = child
                self.discard_spare()
                self.reap()
                child, spare = self._fork(cfg), False
                try:
                    _write_all(child.req_fd, message)
                except OSError:  # it died too: its exit status becomes the result below
                    pass
        try:  # the next render's child forks and sets up while this one runs (on another core when there is one)
            self.prepare()
        except OSError as e:
            log.warning("could not fork a spare render child: %s", e)
        cap = int(options.max_png_mb) * 2**20 + 2**20
        try:
            data, cut = _read_frame(child.res_fd, start + options.timeout, cap)
        finally:
            child.close_fds()
        seconds = time.monotonic() - start
        try:
            if cut:
                raise ValueError(cut)
            result = decode_child_frame(data)
        except ValueError:
            if cut:
                _kill_group(child.pid)
            # no answer (EOF): the exit is on the render's wall clock too; a child still running at its
            # deadline (it closed the pipe and hung) is killed there and timed out
            deadline = start + options.timeout
            status = _wait(child.pid, max(deadline, time.monotonic() + 0.5))
            _kill_group(child.pid)
            shutil.rmtree(child.scratch, ignore_errors=True)
            if not cut and time.monotonic() > deadline and status is not None and os.WIFSIGNALED(status) \
                    and os.WTERMSIG(status) == signal.SIGKILL:
                cut = "timeout"
            seconds = time.monotonic() - start
            if cut == "timeout":
                return RenderResult.failure("timeout", f"killed after {options.timeout_s} s wall clock", seconds)
            if cut == "too_large":
                return RenderResult.failure("too_large", "the render produced too much output", seconds)
            kind, message_text = _status_failure(status)
            return RenderResult.failure(kind, message_text, seconds)  # type: ignore[arg-type]
        self.finished.append(child)  # the child has answered; its exit is not on our clock
        result = _checked(result, options)
        result.seconds = seconds
        result.meta["timings"] = _timings(start, child.forked_at, result.meta.pop("marks", None), spare)
        return result

    def stop(self) -> None:
        self.discard_spare()
        self.reap()


def _checked(result: RenderResult, options: RenderOptions) -> RenderResult:
    """``result``, or a failure when its PNG is not one (``images.png_problem``)."""
    problem = png_problem(result.png or b"", int(options.max_pixels)) if result.ok else None
    if problem is None:
        return result
    return RenderResult.failure(problem[0], problem[1], stdout=result.stdout,  # type: ignore[arg-type]
                                meta={"layers": result.meta.get("layers")})


def _running(pid: int) -> bool:
    """Whether a child of ours has not exited yet (an exited one stays a zombie for ``reap``)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None
    except ChildProcessError:
        return False


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _timings(start: float, forked_at: float, marks: Any, spare: bool) -> dict[str, float]:
    """Seconds per phase: ``setup`` (fork, sandbox, pre-faulting: on this render's clock only when no
    spare was ready), ``wait`` (request sent → child has it), ``program``, ``answer``; ``spare`` 1/0."""
    try:
        forked, sandboxed, got, rendered = (float(marks[k]) for k in ("forked", "sandboxed", "request", "rendered"))
    except (KeyError, TypeError, ValueError):
        return {}
    return {"spare": float(spare), "setup": round(sandboxed - forked_at, 6), "fork": round(forked - forked_at, 6),
            "wait": round(max(0.0, got - start), 6), "program": round(rendered - got, 6),
            "answer": round(time.monotonic() - rendered, 6)}


def render_browser(browser: Any, renderers: dict[str, Callable[..., bytes]], request: RenderRequest) -> RenderResult:
    """One render in the table browser's worker."""
    start = time.monotonic()
    meta: dict[str, Any] = {}
    try:
        if request.renderer.target not in renderers:
            renderers[request.renderer.target] = request.renderer.load()
        png = renderers[request.renderer.target](browser, request.source, request.options, meta)
        if request.renderer.check_blank:
            from verm_rl.render.images import is_blank

            if is_blank(png):
                raise RenderFailure("blank", "the render is all white")
        result = RenderResult(ok=True, png=png, meta=meta)
    except RenderFailure as e:
        result = RenderResult.failure(e.kind, e.message)
    except Exception as e:  # noqa: BLE001
        result = RenderResult.failure("crash", f"{type(e).__name__}: {e}")
    result.seconds = time.monotonic() - start
    result.meta["layers"] = browser.layers
    return result


PROBE_SVG = ('<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20"><rect width="9" height="9"/>'
             '<text x="10" y="15" font-family="sans-serif" font-size="12">Ag</text></svg>')


def probe_layers(svg_server: SvgServer) -> str:
    """Start the SVG child with a probe render (text: fontconfig is warm too) and report which
    isolation layers the kernel granted."""
    out = svg_server.render(RenderRequest("svg", PROBE_SVG, RenderOptions().resolved("svg"), renderer_for("svg")))
    return out.meta.get("layers") or f"probe failed: {out.message}"


def _warm_chart() -> None:
    from verm_rl.render.chart import WARMUP_PROGRAM, render_chart
    from verm_rl.render.images import is_blank

    is_blank(render_chart(WARMUP_PROGRAM, trace={}))


def start_python(in_fd: int, out_fd: int, info: dict[str, Any]) -> tuple[Forker, SvgServer]:
    modules = tuple(filter(None, os.environ.get("VERM_RL_PREIMPORT", "").split(","))) or DEFAULT_PREIMPORT
    info["missing_modules"] = preimport(modules)
    from verm_rl.render import chart_trace, images, svg  # noqa: F401 - children cannot import later

    _warm_chart()
    _open_bundled_fonts()
    view = FsView.for_python()
    info["view"] = view.describe()
    images.is_blank(svg.render_svg(PROBE_SVG, 40, 20))  # warm fontconfig for SVG text (children inherit it)
    gc.collect()
    gc.freeze()  # children then never walk (and copy-on-write) the warm objects in a gc pass
    runs = profile(_warm_chart) if os.environ.get("VERM_RL_PREFAULT", "1") != "0" else []
    info["prefault_kb"] = sum(size for _, size in runs) // 1024
    forker = Forker(view=view, close_in_child=(in_fd, out_fd), prefault=runs)
    forked = [spec for spec in map(renderer_for, task_names("renderer")) if spec.family == "python"
              and not spec.long_lived]  # the registered per-render-child tasks: imported before any fork
    for spec in forked:
        try:
            forker.load(spec)
        except Exception as e:  # noqa: BLE001 - that task's requests report it as a crash
            log.warning("renderer %s of task %s does not load: %s", spec.target, spec.task, e)
    if forked:
        forker.last_cfg = SandboxConfig.from_options(RenderOptions().resolved(forked[0].task))
    svg_server = SvgServer(view=view, close_in_child=(in_fd, out_fd),
                           recycle_every=int(os.environ.get("VERM_RL_SVG_RECYCLE", RECYCLE_EVERY)))
    info["layers"] = probe_layers(svg_server)
    if USERNS_REFUSED:
        info["degraded"] = USERNS_REFUSED["reason"]
    return forker, svg_server


def start_browser(info: dict[str, Any]) -> Any:
    from verm_rl.render.table import TableBrowser, find_chromium

    chromium = find_chromium()
    scratch = tempfile.mkdtemp(prefix="verm_browser_")
    if os.environ.get("VERM_RL_BROWSER_VIEW", "1") != "0":
        view = FsView.for_browser(chromium)
        info["view"] = view.describe()
        applied = enter_browser_sandbox(view, scratch)
    else:
        applied = ["netns"] if enter_network_namespace() else []
    info["layers"] = ", ".join(applied + ["request blocking"])
    if USERNS_REFUSED:
        info["degraded"] = USERNS_REFUSED["reason"]
    try:
        browser = TableBrowser(chromium, scratch=scratch)
        browser.layers = info["layers"]
        return browser
    except Exception as e:  # noqa: BLE001 - reported per request as a crash
        info["browser_error"] = f"{type(e).__name__}: {e}"
        info["view_applied"] = "fs_view" in applied
        return None


def serve(request: RenderRequest, family: str, forker: Forker | None, svg_server: SvgServer | None,
          browser: Any, browser_renderers: dict[str, Callable[..., bytes]], info: dict[str, Any]) -> RenderResult:
    """Dispatch one request by its renderer's family (the task → renderer mapping is ``renderers``)."""
    spec = request.renderer
    if spec.family != family:
        return RenderResult.failure("crash", f"a {family} worker got a {spec.family} renderer ({spec.task})")
    if family == "browser":
        if browser is None:
            return RenderResult.failure("crash", info.get("browser_error", "no browser"))
        return render_browser(browser, browser_renderers, request)
    if spec.long_lived:
        return svg_server.render(request)
    return forker.render(request)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    family = argv[0] if argv else "python"
    logging.basicConfig(level=os.environ.get("VERM_RL_LOG", "WARNING"), stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    in_fd, out_fd = 0, os.dup(1)
    os.dup2(2, 1)  # stray prints go to stderr, never into the protocol
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    info: dict[str, Any] = {"family": family, "pid": os.getpid()}
    forker = svg_server = browser = None
    browser_renderers: dict[str, Callable[..., bytes]] = {}
    if family == "python":
        forker, svg_server = start_python(in_fd, out_fd, info)
        forker.prepare()  # the first spare
    else:
        browser = start_browser(info)
    write_message(out_fd, {"ready": True, **info})
    while True:
        try:
            request = read_message(in_fd)
        except Exception:
            break
        if request is None:
            break
        if not isinstance(request, RenderRequest):
            answer = RenderResult.failure("crash", f"bad request {type(request).__name__}")
        else:
            try:
                answer = serve(request, family, forker, svg_server, browser, browser_renderers, info)
            except Exception as e:  # noqa: BLE001 - whatever a child sent, this worker keeps serving
                log.exception("render failed in the worker")
                answer = RenderResult.failure("crash", f"render worker error: {type(e).__name__}: {e}")
        if info.get("degraded"):  # a per-render flag the reward pipeline can count (a metric)
            answer.meta["sandbox_degraded"] = info["degraded"]
        write_message(out_fd, answer)
        if forker is not None:
            forker.prepare()  # reap, and the next render's child, between requests
    if browser is not None:
        browser.close()
    if svg_server is not None:
        svg_server.stop()
    if forker is not None:
        forker.stop()


if __name__ == "__main__":
    main()
