"""Probes of the chart and SVG sandbox the way a hostile or degenerate RL policy would write them
(root and, through ``scripts/ci_nonroot.sh``, an unprivileged user): every render comes back as a
typed ``RenderResult`` within its wall clock, shows no secret, changes nothing outside its
scratch, and the next good render still gives the same pixels."""

from __future__ import annotations

import hashlib
import os
import uuid

import pytest

import verm_rl
from tests.render.programs import GOOD_CHART, GOOD_SVG
from tests.render.test_render import pixels

PLT = "import matplotlib.pyplot as plt\n"
DRAW = PLT + "plt.plot([1, 3, 2])\n"
PKG = os.path.dirname(os.path.abspath(verm_rl.__file__))  # bound read-only in the view (owned by the test user)


def digest(png: bytes) -> str:
    return hashlib.sha256(pixels(png).tobytes()).hexdigest()


@pytest.fixture(scope="module")
def good(renderer):
    """Pixel digests of a good chart and SVG before any probe ran."""
    return {task: digest(renderer.render(task, src).png) for task, src in (("chart", GOOD_CHART), ("svg", GOOD_SVG))}


def probe(renderer, good, source, task="chart", **opts):
    """Render ``source``; check the worker survived and the next good chart and SVG are unchanged."""
    worker = renderer.worker(task)
    restarts = worker.restarts
    res = renderer.render(task, source, **{"timeout_s": 4, **opts})
    assert worker.restarts == restarts and worker.alive(), "the warm worker must survive"
    assert res.ok or res.error_kind is not None
    for t, src in (("chart", GOOD_CHART), ("svg", GOOD_SVG)):
        after = renderer.render(t, src)
        assert after.ok and digest(after.png) == good[t], f"a good {t} changed after the probe"
    return res


def test_mount_namespace_cannot_be_reopened_even_with_ctypes(renderer, good):
    """Remounting the view's binds writable, unmounting them, a nested user+mount namespace, chroot
    escapes, setns and ptrace: nothing gets a file written next to the package the view binds."""
    target = os.path.join(PKG, f".pwned_{uuid.uuid4().hex}")
    program = (
        "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        f"pkg, target = {PKG!r}.encode(), {target!r}.encode()\n"
        "def tries():\n"
        "    print('remount', libc.mount(None, pkg, None, 32 | 4096, None), ctypes.get_errno())\n"
        "    print('remount_root', libc.mount(None, b'/', None, 32, None), ctypes.get_errno())\n"
        "    fd = libc.open(target, os.O_WRONLY | os.O_CREAT, 0o644)\n"
        "    print('open', fd, ctypes.get_errno())\n"
        "    if fd >= 0:\n        libc.write(fd, b'pwned', 5)\n        libc.close(fd)\n"
        "tries()\n"
        "print('unshare', libc.unshare(0x10000000 | 0x00020000), ctypes.get_errno())\n"
        "tries()\n"
        "os.mkdir('jail')\nprint('chroot', libc.chroot(b'jail'), ctypes.get_errno())\n"
        "for _ in range(30):\n    os.chdir('..')\n"
        "print('chroot_up', libc.chroot(b'.'))\ntries()\n"
        "fd = os.open('/proc/self/ns/mnt', os.O_RDONLY)\nprint('setns', libc.setns(fd, 0))\n"
        "print('ptrace', libc.ptrace(16, os.getppid(), 0, 0))\n"
        "print('umount', libc.umount2(pkg, 2), 'tmpfs', libc.mount(b'tmpfs', pkg, b'tmpfs', 0, None))\n" + DRAW
    )
    try:
        res = probe(renderer, good, program)
        assert res.ok or res.error_kind in {"runtime", "crash", "forbidden"}, res.message
        assert not os.path.exists(target), f"the program wrote {target} on the host:\n{res.stdout}"
    finally:
        if os.path.exists(target):
            os.remove(target)


def _host_processes_named(name: str) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() == name:
                    found.append(int(pid))
        except OSError:
            pass
    return found


def test_ctypes_forks_are_capped_and_die_with_the_render(renderer, good):
    """fork() through ctypes (the audit hook never sees it) is capped by the process limit for every
    user (as non-root the user namespace's own count: a fork bomb must not take the host's PIDs),
    and whatever the program forked is gone when its render is."""
    name = f"vp{uuid.uuid4().hex[:10]}"
    program = (
        "import ctypes\nlibc = ctypes.CDLL(None)\nn = 0\n"
        "for _ in range(100):\n"
        "    pid = libc.fork()\n"
        "    if pid == 0:\n"
        f"        libc.prctl(15, {name.encode()!r}, 0, 0, 0)\n"
        "        while True:\n            libc.pause()\n"
        "    if pid < 0:\n        break\n"
        "    n += 1\n"
        "print('forked', n)\n" + DRAW
    )
    res = probe(renderer, good, program, timeout_s=15)  # forking a warm worker 64 times: slow on a loaded machine
    assert res.ok, res.message
    forked = int(res.stdout.split()[-1])
    assert forked < 64, f"{forked} processes forked: no process cap"
    assert _host_processes_named(name) == [], "a forked process outlived its render"


_BOMB_PNG = (  # a valid PNG header claiming 200000 x 200000 pixels: a decompression bomb for whoever decodes it
    "import struct, zlib\n"
    "def chunk(t, d):\n    return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))\n"
    "png = (b'\\x89PNG\\r\\n\\x1a\\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', 200000, 200000, 8, 2, 0, 0, 0))\n"
    "       + chunk(b'IDAT', zlib.compress(b'\\x00' * 4096)) + chunk(b'IEND', b''))\n"
)
_PATCH_PRINT_PNG = (PLT + "from matplotlib.backends.backend_agg import FigureCanvasAgg\n"
                    "FigureCanvasAgg.print_png = lambda self, f, **kw: f.write(PNG)\nplt.plot([1, 2])\n")
_FORGE_FRAME = (  # write an 'ok' frame on the result pipe (found through /proc/self/fd) and leave
    "import json, os, struct\n"
    "head = json.dumps({'ok': True, 'error_kind': None, 'message': '', 'stdout': '', 'meta': {},"
    " 'png_len': len(PNG)}).encode()\n"
    "for fd in map(int, os.listdir('/proc/self/fd')):\n"
    "    try:\n"
    "        if os.readlink(f'/proc/self/fd/{fd}').startswith('pipe:'):\n"
    "            os.write(fd, PNG + head + struct.pack('!Q', len(head)))\n"
    "    except OSError:\n        pass\n"
    "os._exit(0)\n"
)


@pytest.mark.parametrize("png, how, kind", [
    ("PNG = b'not a png at all'\n", _PATCH_PRINT_PNG, "crash"),
    (_BOMB_PNG.replace("png = ", "PNG = "), _PATCH_PRINT_PNG, "too_large"),
    ("PNG = b'GIF89a' + bytes(64)\n", _FORGE_FRAME, "crash"),
    (_BOMB_PNG.replace("png = ", "PNG = "), _FORGE_FRAME, "too_large"),
])
def test_output_that_is_not_a_sane_png_is_refused(renderer, good, png, how, kind):
    """The program owns its process: it can patch matplotlib's PNG writer or forge the result frame.
    The worker (trusted) checks what comes back: a PNG, and no larger than ``max_pixels``."""
    res = probe(renderer, good, png + how)
    assert not res.ok and res.error_kind == kind, (res.error_kind, res.message)


SVG_NS = 'xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"'


def _svg_image(href: str) -> str:
    return f'<svg {SVG_NS} width="50" height="50"><image href="{href}" width="50" height="50"/></svg>'


def _data_url(data: bytes, mediatype: str, gz: bool = False) -> str:
    import base64
    import gzip

    return f"data:{mediatype};base64," + base64.b64encode(gzip.compress(data) if gz else data).decode()


def _red_png() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (255, 0, 0)).save(buf, "PNG")
    return buf.getvalue()


def _colour_share(png: bytes, rgb: tuple[int, int, int]) -> float:
    img = pixels(png)[..., :3].astype(int)
    return float((abs(img - rgb).sum(-1) < 60).mean())


@pytest.mark.parametrize("href, colour", [
    (_data_url(_red_png(), "image/png"), (255, 0, 0)),
    (_data_url(f'<svg {SVG_NS} width="9" height="9" viewBox="0 0 9 9"><rect width="9" height="9" fill="lime"/></svg>'.encode(),
               "image/svg+xml"), (0, 255, 0)),
    (_data_url(f'<svg {SVG_NS} width="9" height="9" viewBox="0 0 9 9"><rect width="9" height="9" fill="lime"/></svg>'.encode(),
               "image/svg+xml", gz=True), (0, 255, 0)),
])
def test_svg_embedded_data_images_render(renderer, good, href, colour):
    """Images embedded as data: URLs are part of the SVG (icons carry them): they render; they were
    refused as a network call (cairosvg reads data: URLs through urllib)."""
    res = probe(renderer, good, _svg_image(href), task="svg")
    assert res.ok, res.message
    assert _colour_share(res.png, colour) > 0.5


def test_svg_embedded_svg_gets_the_same_checks(renderer, good):
    """An SVG inside a data: URL is parsed too: no entities, the same caps, no files; an embedded PNG
    claiming a decompression bomb is refused from its header."""
    import matplotlib

    bomb = ('<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
            f'<svg {SVG_NS}><text>&b;</text></svg>')
    res = probe(renderer, good, _svg_image(_data_url(bomb.encode(), "image/svg+xml")), task="svg")
    assert res.error_kind == "forbidden", res.message
    many = f'<svg {SVG_NS}>' + '<rect width="1" height="1"/>' * 25_000 + "</svg>"
    res = probe(renderer, good, _svg_image(_data_url(many.encode(), "image/svg+xml", gz=True)), task="svg")
    assert res.error_kind == "too_large", res.message
    ns = {}
    exec(_BOMB_PNG, ns)  # a PNG header claiming 200000 x 200000 pixels
    res = probe(renderer, good, _svg_image(_data_url(ns["png"], "image/png")), task="svg")
    assert res.error_kind == "too_large", res.message
    in_view = os.path.join(matplotlib.get_data_path(), "sample_data", "grace_hopper.jpg")  # readable in the view
    inner = _svg_image(f"file://{in_view}")
    for svg in (inner, _svg_image(_data_url(inner.encode(), "image/svg+xml"))):
        assert probe(renderer, good, svg, task="svg").error_kind == "blank", "a file was drawn"


@pytest.mark.parametrize("svg", [
    f'<svg {SVG_NS} width="50" height="50"><style>@import url("file:///etc/passwd");'
    f' circle {{fill: url(file:///etc/passwd#p)}}</style><rect width="50" height="50" fill="blue"/>'
    f'<circle r="9"/></svg>',
    f'<svg {SVG_NS} width="50" height="50"><style>@font-face {{font-family: X; src: url(file:///etc/passwd)}}'
    f'</style><rect width="50" height="50" fill="blue"/><text font-family="X" y="20">hi</text></svg>',
    f'<?xml-stylesheet href="file:///etc/passwd"?><svg {SVG_NS} width="50" height="50">'
    f'<rect width="50" height="50" fill="blue"/></svg>',
    f'<svg {SVG_NS} xmlns:xi="http://www.w3.org/2001/XInclude" width="50" height="50">'
    f'<xi:include href="file:///etc/passwd" parse="text"/><rect width="50" height="50" fill="blue"/></svg>',
    f'<svg {SVG_NS} width="50" height="50"><rect width="50" height="50" fill="blue"/>'
    f'<use href="file:///etc/passwd#x"/><image href="/etc/passwd" width="9" height="9"/></svg>',
])
def test_svg_references_to_files_are_ignored(renderer, good, svg):
    res = probe(renderer, good, svg, task="svg")
    assert res.ok, res.message
    assert "root:" not in res.message + res.stdout


_FIND_PIPES = "import os\npipes = [fd for fd in map(int, os.listdir('/proc/self/fd')) if fd > 2 and " \
              "os.path.exists(f'/proc/self/fd/{fd}') and os.readlink(f'/proc/self/fd/{fd}').startswith('pipe:')]\n"


def test_a_child_that_closes_its_result_pipe_and_hangs_is_killed_on_the_wall_clock(renderer, good):
    """EOF on the result pipe is not an answer: the worker still ends the render at its timeout
    (it used to wait 5 s more for the exit, whatever the timeout)."""
    import time

    program = _FIND_PIPES + "for fd in pipes:\n    os.close(fd)\nwhile True:\n    pass\n"
    began = time.monotonic()
    res = probe(renderer, good, program, timeout_s=1.5)
    assert res.error_kind == "timeout", res.message
    assert res.seconds < 1.5 + 0.8
    assert time.monotonic() - began < 1.5 + 3  # the good renders after it included


@pytest.mark.parametrize("program, kind", [
    ("import mmap\nm = mmap.mmap(-1, 64 * 2**30)\n", "memory"),  # over the address-space limit: ENOMEM
    ("i = 0\nwhile True:\n    open(f'f{i}', 'wb').write(b'0' * (32 * 2**20))\n    i += 1\n", "too_large"),  # scratch full
])
def test_limits_hit_through_os_errors_are_typed_as_limits(renderer, good, program, kind):
    """A limit the sandbox sets is that limit's kind, also when Python reports it as an OSError
    (ENOMEM from mmap, ENOSPC when the scratch tmpfs is full), not a program's runtime error."""
    res = probe(renderer, good, program)
    assert res.error_kind == kind, res.message


def _try(expr: str) -> str:
    return f"try:\n    print({expr})\nexcept Exception as e:\n    print(type(e).__name__)\n"


GUARD_CASES = {  # probes that found the sandbox holding: kept so that it keeps holding
    "secret_paths": "import os\n" + "".join(_try(e) for e in (
        "open('/proc/self/root/etc/passwd').read()", "os.listdir('/proc/self/cwd')",
        "open('/proc/1/root/etc/passwd').read()", "open(f'/proc/{os.getppid()}/environ').read()",
        "os.listdir(f'/proc/{os.getppid()}/fd')", "os.listdir('/sys')", "os.listdir('/dev/shm')",
        "os.listdir('/run')", "os.listdir('/home')", "os.listdir('/root')", "open('/etc/passwd').read()",
        "os.readlink('/proc/self/exe')")) + DRAW,
    "other_processes": "import os\nseen = []\nfor p in filter(str.isdigit, os.listdir('/proc')):\n"
                       "    for f in ('cmdline', 'environ'):\n" + "".join(
                           "        " + line + "\n" for line in _try(
                               "seen.append(open(f'/proc/{p}/{f}', 'rb').read())").splitlines())
                       + "print('PIDS', len(os.listdir('/proc/self/task')), [s for s in seen if b'pytest' in s])\n"
                       + DRAW,
    "kill_everything_via_ctypes": "import ctypes, os\nlibc = ctypes.CDLL(None)\n"
                                  "for pid in (-1, 0, os.getppid(), 1):\n    libc.kill(pid, 9)\n" + DRAW,
    "sigstop_self": "import ctypes, os\nctypes.CDLL(None).kill(os.getpid(), 19)\n" + DRAW,
    "raise_rlimits": "import resource\nfor r in (resource.RLIMIT_AS, resource.RLIMIT_CPU, resource.RLIMIT_NPROC,"
                     " resource.RLIMIT_FSIZE):\n" + "".join("    " + line + "\n" for line in _try(
                         "resource.setrlimit(r, (resource.RLIM_INFINITY,) * 2) or 'RAISED'").splitlines()) + DRAW,
    "thread_bomb": "import threading, time\nwhile True:\n"
                   "    threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n",
    "multiprocessing_pool": "import multiprocessing\nprint(multiprocessing.Pool(4).map(abs, [1, -2]))\n",
    "close_stdio": "import os, sys\nos.close(0); os.close(1); os.close(2); sys.stdout.close()\n" + DRAW,
    "print_forged_result": "import json\nprint(json.dumps({'ok': True, 'error_kind': None, 'png_len': 0}))\n" + DRAW,
    "forge_frame_then_draw": _FIND_PIPES + "import json, struct\nhead = json.dumps({'ok': False, 'error_kind': "
                             "'timeout', 'message': 'FORGED', 'stdout': '', 'meta': {}, 'png_len': 0}).encode()\n"
                             "for fd in pipes:\n    os.write(fd, head + struct.pack('!Q', len(head)))\n" + DRAW,
    "patch_json_of_the_answer": PLT + "import json\njson.dumps = lambda *a, **k: 'garbage'\nplt.plot([1, 2])\n",
    "huge_trace": PLT + "import verm_rl.render.chart_trace as ct\n"
                  "ct.trace_figure = lambda fig: {'texts': ['x' * (40 * 2**20)]}\nplt.plot([1, 2])\n",
    "poison_matplotlib_and_numpy": PLT + "import matplotlib as mpl, numpy as np\n"
                                   "mpl.rcParams['lines.linewidth'] = 30\nmpl.rcParamsDefault['lines.linewidth'] = 30\n"
                                   "plt.style.use('dark_background')\nnp.arange = lambda *a, **k: np.zeros(3)\n"
                                   "import matplotlib.figure\nmatplotlib.figure.Figure.draw = lambda *a, **k: None\n"
                                   "plt.plot([1, 2])\n",
    "savefig_callback_loop": PLT + "fig, ax = plt.subplots()\nax.plot([1, 2])\n"
                             "fig.canvas.mpl_connect('draw_event', lambda event: [0 for _ in iter(int, 1)])\n",
    "surrogate_in_source": "x = '\ud800'\n" + DRAW,  # a lone surrogate: not encodable source
}
GUARD_KINDS = {
    "secret_paths": {None}, "other_processes": {None}, "kill_everything_via_ctypes": {None, "crash"},
    "sigstop_self": {None, "timeout"}, "raise_rlimits": {None}, "thread_bomb": {"runtime", "memory"},
    "multiprocessing_pool": {"runtime", "forbidden"}, "close_stdio": {None}, "print_forged_result": {None},
    "forge_frame_then_draw": {None}, "patch_json_of_the_answer": {"crash"}, "huge_trace": {"too_large"},
    "poison_matplotlib_and_numpy": {None, "runtime", "blank"}, "savefig_callback_loop": {"timeout"},
    "surrogate_in_source": {"syntax"},
}


@pytest.mark.parametrize("name", sorted(GUARD_CASES))
def test_hostile_chart_probe(renderer, good, name):
    res = probe(renderer, good, GUARD_CASES[name], trace=True, timeout_s=1.5 if name == "savefig_callback_loop" else 4)
    assert res.error_kind in GUARD_KINDS[name], (name, res.error_kind, res.message)
    seen = res.stdout + res.message + str(res.meta.get("trace"))
    for secret in ("root:x:0:0", "NETRC_DECOY_51c2", "PYTHONPATH=", "RAISED", "FORGED"):
        assert secret not in seen, (name, secret, seen[:2000])
    if name == "other_processes" and "pidns" in res.meta.get("layers", ""):
        assert "[]" in res.stdout


def test_a_killed_worker_leaves_no_scratch_behind(tmp_path, monkeypatch):
    """A worker the client kills (hung past its grace, or lost) cannot clean up: its spare child's
    and SVG child's scratch dirs stayed in /tmp for good (hundreds on a busy machine). Each worker's
    temporary files live in one directory of the client's, removed when the worker goes."""
    import tempfile

    from verm_rl.render import Renderer

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    r = Renderer()
    try:
        assert r.render("chart", DRAW).ok  # the worker starts (and its SVG child)
        assert os.listdir(tmp_path), "the worker's scratch dirs are where this test looks"
        worker = r.worker("chart")
        os.killpg(worker.proc.pid, 9)  # as the client does to a hung worker
        worker.proc.wait()
    finally:
        r.close()
    assert os.listdir(tmp_path) == []


_DEEP_META = "'{\"ok\": false, \"error_kind\": \"runtime\", \"meta\": {\"a\": ' + '[' * 600 + ']' * 600 + '}}'"


@pytest.mark.parametrize("header", [_DEEP_META, "'[' * 200_000 + ']' * 200_000", "'{\"ok\": ' + '1' * 5000 + '}'",
                                    "'{\"ok\": true, \"png_len\": 1e400}'", "'\"\\\\ud800\"'"])
def test_a_forged_answer_the_parser_chokes_on_does_not_kill_the_worker(renderer, good, header):
    """The worker parses the child's answer: a header nested 200k deep (RecursionError in json), a
    ``meta`` nested 600 deep (json takes it, pickling the answer for the client does not), an integer
    too long to convert, a float overflow, a lone surrogate must all end as a typed result."""
    program = _FIND_PIPES + "import struct\n" + f"head = ({header}).encode()\n" + (
        "for fd in pipes:\n    os.write(fd, head + struct.pack('!Q', len(head)))\nos._exit(0)\n")
    res = probe(renderer, good, program)
    assert res.error_kind == "crash", res.message
