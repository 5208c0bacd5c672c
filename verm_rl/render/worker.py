"""The warm render worker: a long-lived process that renders on request.

``python -m verm_rl.render.worker python`` pre-imports the plotting stack, renders a warm-up chart,
then forks one sandboxed child per chart/SVG request (the child starts with everything imported).
``python -m verm_rl.render.worker browser`` keeps one headless Chromium open for tables.
Requests and answers are pickles on stdin/stdout (see ``protocol``); stdout is kept for them alone.
"""

from __future__ import annotations

import errno
import gc
import importlib
import io
import logging
import os
import select
import shutil
import signal
import sys
import tempfile
import time
from typing import Any

from verm_rl.render.fsview import FsView
from verm_rl.render.protocol import decode_child_frame, encode_child_frame, read_message, write_message
from verm_rl.render.result import RenderFailure
from verm_rl.render.sandbox import (
    USERNS_REFUSED,
    ForbiddenOperation,
    Layers,
    SandboxConfig,
    current_vsize,
    enter_browser_sandbox,
    enter_network_namespace,
    enter_sandbox,
    fork_isolated,
)
from verm_rl.render.svg_server import RECYCLE_EVERY, SvgServer

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
VIEW: FsView | None = None  # the filesystem a render sees, computed once per worker after the imports
SIGNAL_KINDS = {signal.SIGXCPU: "timeout", signal.SIGXFSZ: "too_large"}


class BoundedText(io.TextIOBase):
    """A text stream that keeps the first ``limit`` characters and drops the rest."""

    def __init__(self, limit: int):
        self.limit, self.parts, self.size, self.dropped = limit, [], 0, 0

    def write(self, s: str) -> int:
        room = self.limit - self.size
        if room > 0:
            self.parts.append(s[:room])
            self.size += min(len(s), room)
        self.dropped += max(0, len(s) - max(room, 0))
        return len(s)

    def getvalue(self) -> str:
        tail = f"\n[... {self.dropped} more characters dropped]" if self.dropped else ""
        return "".join(self.parts) + tail


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


def sandbox_config(options: dict[str, Any]) -> SandboxConfig:
    return SandboxConfig(
        timeout_s=float(options["timeout_s"]), memory_mb=int(options["memory_mb"]),
        file_size_mb=int(options["file_size_mb"]), stdout_bytes=int(options["stdout_bytes"]),
    )


def _run_program(task: str, source: str, options: dict[str, Any], header: dict[str, Any]) -> bytes:
    if task == "chart":
        from verm_rl.render.chart import render_chart

        trace: dict[str, Any] | None = {} if options.get("trace") else None
        dpi = options["dpi"] if options["dpi"] == "figure" else int(options["dpi"])
        png = render_chart(source, dpi=dpi, max_pixels=int(options["max_pixels"]), trace=trace,
                           output=options.get("chart_output", "requested"))
        if trace is not None:
            header["trace"] = trace
        return png
    from verm_rl.render.svg import render_svg

    return render_svg(source, int(options["svg_width"]), int(options["svg_height"]), caps=options)


def _classify(exc: BaseException, guard_violation: str | None) -> tuple[str, str]:
    text = f"{type(exc).__name__}: {exc}"[:1000]
    if isinstance(exc, RenderFailure):
        if guard_violation and exc.kind == "runtime":
            return "forbidden", f"sandbox refused {guard_violation}; {exc.message}"
        return exc.kind, exc.message
    if isinstance(exc, ForbiddenOperation) or guard_violation:
        return "forbidden", f"sandbox refused {guard_violation or exc}"
    if isinstance(exc, MemoryError):
        return "memory", text or "MemoryError"
    if isinstance(exc, OSError) and exc.errno == errno.EFBIG:
        return "too_large", f"file size limit: {text}"
    return "runtime", text


def child_main(request: dict[str, Any], result_fd: int, base_vsize: int, fallback_scratch: str,
               layers: Layers) -> None:
    """Runs in the forked child: sandbox, run the program, write one frame, exit."""
    options = request["options"]
    cfg = sandbox_config(options)
    header: dict[str, Any] = {"ok": False}
    png = None
    capture = BoundedText(cfg.stdout_bytes)
    guard = None
    marks = {"start": time.monotonic()}
    try:
        _, layers, guard = enter_sandbox(cfg, base_vsize, fallback_scratch, layers, VIEW, {result_fd})
        header["layers"] = layers.summary()
        sys.argv = ["script.py"]
        sys.stdout = sys.stderr = capture
        from verm_rl.render.images import is_blank

        marks["sandboxed"] = time.monotonic()
        png = _run_program(request["task"], request["source"], options, header)
        marks["rendered"] = time.monotonic()
        if guard.violation:
            raise ForbiddenOperation(guard.violation)
        if len(png) > int(options["max_png_mb"]) * 2**20:
            raise RenderFailure("too_large", f"PNG of {len(png)} bytes")
        if request["task"] != "chart" and is_blank(png):  # charts are checked on the canvas
            raise RenderFailure("blank", "the render is all white")
        header["ok"] = True
    except BaseException as exc:  # noqa: BLE001 - everything becomes a typed result
        png = None
        refused = (guard.violation or guard.network) if guard else None
        header["error_kind"], header["message"] = _classify(exc, refused)
    header["stdout"] = capture.getvalue()
    marks["checked"] = time.monotonic()
    header["marks"] = marks
    try:
        frame = encode_child_frame(header, png)
        view = memoryview(frame)
        while view:
            view = view[os.write(result_fd, view):]
        os.close(result_fd)  # EOF now: the worker answers without waiting for our exit
    finally:
        os._exit(0)


def _read_frame(pid: int, fd: int, deadline: float, cap: int) -> tuple[bytes, str | None]:
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


class ChildReaper:
    """Kills and reaps finished render children off the critical path (before the next fork)."""

    def __init__(self) -> None:
        self.pending: list[tuple[int, str]] = []

    def defer(self, pid: int, scratch: str) -> None:
        self.pending.append((pid, scratch))

    def reap_all(self) -> None:
        for pid, scratch in self.pending:
            _kill_group(pid)
            os.waitpid(pid, 0)
            shutil.rmtree(scratch, ignore_errors=True)
        self.pending.clear()


REAPER = ChildReaper()


def _kill_group(pid: int) -> None:
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _wait(pid: int, deadline: float) -> int | None:
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
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


def render_in_child(request: dict[str, Any], protocol_fds: tuple[int, int]) -> dict[str, Any]:
    """Fork a sandboxed child for one chart/SVG request and turn what happens into a result."""
    REAPER.reap_all()
    options = request["options"]
    start = time.monotonic()
    fallback_scratch = tempfile.mkdtemp(prefix="verm_render_")
    base_vsize = current_vsize()
    read_fd, write_fd = os.pipe()
    pid, layers = fork_isolated()
    if pid == 0:  # child
        try:
            os.close(read_fd)
            devnull = os.open(os.devnull, os.O_RDWR)
            for fd in protocol_fds:
                os.close(fd)
            for fd in (0, 1, 2):
                os.dup2(devnull, fd)
            child_main(request, write_fd, base_vsize, fallback_scratch, layers)
        finally:
            os._exit(70)
    os.close(write_fd)
    try:
        cap = int(options["max_png_mb"]) * 2**20 + 2**20
        data, cut = _read_frame(pid, read_fd, start + float(options["timeout_s"]), cap)
    finally:
        os.close(read_fd)
    seconds = time.monotonic() - start
    try:
        if cut:
            raise ValueError(cut)
        header, png = decode_child_frame(data)
    except ValueError:
        if cut:
            _kill_group(pid)
        status = _wait(pid, time.monotonic() + 5)
        _kill_group(pid)
        shutil.rmtree(fallback_scratch, ignore_errors=True)
        if cut == "timeout":
            return _failure("timeout", f"killed after {options['timeout_s']} s wall clock", seconds)
        if cut == "too_large":
            return _failure("too_large", "the render produced too much output", seconds)
        kind, message = _status_failure(status)
        return _failure(kind, message, seconds)
    REAPER.defer(pid, fallback_scratch)  # the child has answered; its exit is not on our clock
    return {
        "ok": bool(header.get("ok")) and png is not None, "png": png,
        "error_kind": None if header.get("ok") else header.get("error_kind", "crash"),
        "message": str(header.get("message", ""))[:2000], "seconds": seconds,
        "stdout": str(header.get("stdout", ""))[:65536],
        "meta": {"layers": header.get("layers", ""), "timings": _timings(start, header.get("marks")),
                 **({"trace": header["trace"]} if isinstance(header.get("trace"), dict) else {})},
    }


def _timings(start: float, marks: Any) -> dict[str, float]:
    """Seconds spent in each phase of a sandboxed render: fork, sandbox, program, checks, exit."""
    try:
        points = [("fork", marks["start"]), ("sandbox", marks["sandboxed"]), ("program", marks["rendered"]),
                  ("checks", marks["checked"])]
    except (KeyError, TypeError):
        return {}
    out, prev = {}, start
    for name, t in points:
        out[name] = round(float(t) - prev, 6)
        prev = float(t)
    out["answer"] = round(time.monotonic() - prev, 6)
    return out


def _failure(kind: str, message: str, seconds: float) -> dict[str, Any]:
    return {"ok": False, "png": None, "error_kind": kind, "message": message, "seconds": seconds,
            "stdout": "", "meta": {}}


def render_table(browser: Any, request: dict[str, Any]) -> dict[str, Any]:
    from verm_rl.render.result import RenderResult

    options = request["options"]
    start = time.monotonic()
    try:
        png = browser.render(request["source"], timeout_s=float(options["timeout_s"]),
                             max_pixels=int(options["max_pixels"]), padding=int(options["table_padding"]),
                             caps=options)
        result = RenderResult(ok=True, png=png)
    except RenderFailure as e:
        result = RenderResult.failure(e.kind, e.message)
    except Exception as e:  # noqa: BLE001
        result = RenderResult.failure("crash", f"{type(e).__name__}: {e}")
    result.seconds = time.monotonic() - start
    result.meta["layers"] = browser.layers
    return result.to_dict()


PROBE_SVG = ('<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20"><rect width="9" height="9"/>'
             '<text x="10" y="15" font-family="sans-serif" font-size="12">Ag</text></svg>')


def probe_layers(svg_server: SvgServer) -> str:
    """Start the SVG child with a probe render (text: fontconfig is warm too) and report which
    isolation layers the kernel granted."""
    from verm_rl.render.client import RenderOptions

    options = RenderOptions().resolved("svg")
    out = svg_server.render({"task": "svg", "source": PROBE_SVG, "options": options}, sandbox_config(options))
    return out["meta"].get("layers") or f"probe failed: {out['message']}"


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    family = argv[0] if argv else "python"
    logging.basicConfig(level=os.environ.get("VERM_RL_LOG", "WARNING"), stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    in_fd, out_fd = 0, os.dup(1)
    os.dup2(2, 1)  # stray prints go to stderr, never into the protocol
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    info: dict[str, Any] = {"family": family, "pid": os.getpid()}
    browser = svg_server = None
    if family == "python":
        modules = tuple(filter(None, os.environ.get("VERM_RL_PREIMPORT", "").split(","))) or DEFAULT_PREIMPORT
        info["missing_modules"] = preimport(modules)
        from verm_rl.render import chart_trace, images, svg  # noqa: F401 - children cannot import later
        from verm_rl.render.chart import WARMUP_PROGRAM, render_chart

        images.is_blank(render_chart(WARMUP_PROGRAM, trace={}))
        _open_bundled_fonts()
        global VIEW
        VIEW = FsView.for_python()
        info["view"] = VIEW.describe()
        # warm fontconfig for SVG text in this process (children inherit it)
        images.is_blank(svg.render_svg(PROBE_SVG, 40, 20))
        gc.collect()
        gc.freeze()  # children then never walk (and copy-on-write) the warm objects in a gc pass
        svg_server = SvgServer(view=VIEW, close_in_child=(in_fd, out_fd),
                               recycle_every=int(os.environ.get("VERM_RL_SVG_RECYCLE", RECYCLE_EVERY)))
        info["layers"] = probe_layers(svg_server)
        if USERNS_REFUSED:
            info["degraded"] = USERNS_REFUSED["reason"]
    else:
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
        except Exception as e:  # noqa: BLE001 - reported per request as a crash
            info["browser_error"] = f"{type(e).__name__}: {e}"
            info["view_applied"] = "fs_view" in applied
    write_message(out_fd, {"ready": True, **info})
    while True:
        if REAPER.pending and not select.select([in_fd], [], [], 0.05)[0]:
            REAPER.reap_all()  # idle: tidy up now rather than before the next fork
        try:
            request = read_message(in_fd)
        except Exception:
            break
        if request is None:
            break
        if family == "python" and request.get("task") == "svg":
            answer = svg_server.render(request, sandbox_config(request["options"]))
        elif family == "python":
            answer = render_in_child(request, (in_fd, out_fd))
        elif browser is None:
            answer = _failure("crash", info.get("browser_error", "no browser"), 0.0)
        else:
            answer = render_table(browser, request)
        if info.get("degraded"):  # a per-render flag the reward pipeline can count (a metric)
            answer.setdefault("meta", {})["sandbox_degraded"] = info["degraded"]
        write_message(out_fd, answer)
    if browser is not None:
        browser.close()
    if svg_server is not None:
        svg_server.stop()


if __name__ == "__main__":
    main()


