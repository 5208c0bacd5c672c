"""Hostile programs: each must come back as a typed failure (or a harmless render), touch nothing
outside its sandbox, reach no network, and leave the warm worker alive."""

from __future__ import annotations

import os
import uuid

import pytest

from tests.render.programs import GOOD_CHART

PLT = "import matplotlib.pyplot as plt\n"


@pytest.fixture
def outside(tmp_path_factory):
    """A path outside the sandbox (in the repo tree: not under any tmpfs the child gets)."""
    path = os.path.join(os.path.dirname(__file__), f".hostile_{uuid.uuid4().hex}")
    yield path
    if os.path.exists(path):
        os.remove(path)


def run(renderer, source, task="chart", **opts):
    worker = renderer.worker(task)
    restarts = worker.restarts
    res = renderer.render(task, source, **{"timeout_s": 4, **opts})
    assert worker.restarts == restarts and worker.alive(), "the warm worker must survive"
    assert res.png is None or res.ok
    return res


CHART_CASES = {
    "infinite_loop": ("while True:\n    pass\n", {"timeout"}),
    "sleep_forever": ("import time\ntime.sleep(10_000)\n", {"timeout"}),
    "memory_bomb_list": ("x = [0] * (10 ** 10)\n", {"memory"}),
    "memory_bomb_numpy": ("import numpy as np\nx = np.ones((60000, 60000))\n", {"memory"}),
    "fork_bomb": ("import os\nwhile True:\n    os.fork()\n", {"forbidden"}),
    "subprocess": ("import subprocess\nsubprocess.run(['ls', '/'])\n", {"forbidden"}),
    "os_popen": ("import os\nos.popen('id').read()\n", {"forbidden"}),
    "os_execv": ("import os\nos.execv('/bin/sh', ['sh', '-c', 'true'])\n", {"forbidden"}),
    "kill_parent": ("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n", {"forbidden"}),
    "killpg_all": ("import os, signal\nos.killpg(0, signal.SIGKILL)\n", {"forbidden"}),
    "sys_exit_before_save": ("import sys\nsys.exit(1)\n" + PLT + "plt.plot([1])\n", {"runtime"}),
    "sys_exit_zero_no_figure": ("import sys\nsys.exit(0)\n", {"blank"}),
    "os_exit_before_save": (PLT + "plt.plot([1])\nimport os\nos._exit(0)\n", {"crash"}),
    "segfault_ctypes": ("import ctypes\nctypes.string_at(0)\n", {"crash"}),
    "abort": ("import os\nos.abort()\n", {"crash"}),
    "recursion_bomb": ("def f():\n    return f()\nf()\n", {"runtime"}),
    "deep_recursion_c_stack": (
        "import sys\nsys.setrecursionlimit(10**7)\ndef f(n):\n    return f(n + 1)\nf(0)\n",
        {"crash", "runtime", "memory", "timeout"},
    ),
    "gigantic_figure": (PLT + "plt.figure(figsize=(500, 500), dpi=1000)\nplt.plot([1])\n", {"too_large"}),
    "gigantic_dpi_in_rcparams": (PLT + "plt.rcParams['figure.figsize'] = (800, 800)\nplt.plot([1])\n", {"too_large"}),
    "scratch_file_too_big": ("f = open('big.bin', 'wb')\nf.write(b'0' * (200 * 2**20))\n", {"too_large", "memory"}),
    "threads_that_never_end": (
        "import threading, time\ndef wait():\n    while True: time.sleep(1)\n"
        "for _ in range(4): threading.Thread(target=wait).start()\n" + PLT + "plt.plot([1, 2])\n",
        {None},
    ),
    "cpu_burner_threads": (
        "import threading\ndef spin():\n    while True: pass\n"
        "for _ in range(4): threading.Thread(target=spin).start()\n" + PLT + "plt.plot([1, 2])\n",
        {None, "timeout"},
    ),
    "eval_import_trick": ("getattr(__import__('o' + 's'), 'sys' + 'tem')('true')\n", {"forbidden"}),
    "switch_backend": (PLT + "plt.switch_backend('TkAgg')\nplt.plot([1, 2])\nplt.show()\n", {None}),
    "patch_savefig": (
        PLT + "import matplotlib.figure\nmatplotlib.figure.Figure.savefig = None\nplt.plot([3, 1])\n", {None}
    ),
    "nul_bytes": ("print('a')\x00\n", {"syntax"}),
}


@pytest.mark.parametrize("name", sorted(CHART_CASES))
def test_hostile_chart(renderer, name):
    source, kinds = CHART_CASES[name]
    res = run(renderer, source)
    assert res.error_kind in kinds, (name, res.error_kind, res.message)


def test_stdout_flood_is_bounded(renderer):
    res = run(renderer, "import os, sys\nfor i in range(200000):\n    print('x' * 100)\n"
                        "os.write(1, b'y' * 10**6)\n" + PLT + "plt.plot([1, 2])\n")
    assert res.ok, res.message
    assert len(res.stdout) < 10_000 and "dropped" in res.stdout


def test_os_system_writes_nothing(renderer, outside):
    res = run(renderer, f"import os\nos.system('touch {outside}')\n")
    assert res.error_kind == "forbidden"
    assert not os.path.exists(outside)


def test_ctypes_system_bypassing_audit_hook_still_writes_nothing(renderer, outside):
    """ctypes gets past the audit hook; the read-only root, private /tmp and nobody uid still hold."""
    program = f"import ctypes\nctypes.CDLL(None).system(b'touch {outside} /tmp/x_{uuid.uuid4().hex}')\n"
    run(renderer, program)
    assert not os.path.exists(outside)


@pytest.mark.parametrize("target", ["repo", "tmp", "dev_shm"])
def test_writes_outside_scratch_are_refused(renderer, outside, target):
    path = {"repo": outside, "tmp": f"/tmp/pwned_{uuid.uuid4().hex}",
            "dev_shm": f"/dev/shm/pwned_{uuid.uuid4().hex}"}[target]
    res = run(renderer, f"open({path!r}, 'w').write('pwned')\n")
    assert res.error_kind == "forbidden", res.message
    assert not os.path.exists(path)


def test_writes_inside_scratch_are_fine_and_removed(renderer):
    res = run(renderer, "import os\nopen('data.csv', 'w').write('1,2')\nprint(os.getcwd())\n"
                        + PLT + "plt.plot([1, 2])\n")
    assert res.ok, res.message
    scratch = res.stdout.strip().splitlines()[-1]
    assert not os.path.exists(os.path.join(scratch, "data.csv"))


def test_socket_connect_reaches_nothing(renderer, listener):
    program = f"import socket\ns = socket.socket()\ns.connect(('127.0.0.1', {listener.port}))\n"
    res = run(renderer, program)
    assert res.error_kind == "forbidden"
    assert listener.hits == 0


def test_ctypes_connect_bypassing_audit_hook_reaches_nothing(renderer, listener):
    program = (
        "import ctypes, socket, struct\nlibc = ctypes.CDLL(None)\n"
        "fd = libc.socket(2, 1, 0)\n"
        f"addr = struct.pack('<HH4s8x', 2, socket.htons({listener.port}), bytes([127, 0, 0, 1]))\n"
        "libc.connect(fd, addr, 16)\n"
    )
    run(renderer, program)
    assert listener.hits == 0


def test_urllib_reaches_nothing(renderer, http_server):
    res = run(renderer, f"import urllib.request\nurllib.request.urlopen({http_server.url!r}, timeout=2)\n")
    assert not res.ok
    assert http_server.paths == []


SVG_NS = 'xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"'


def test_svg_external_href_is_not_fetched(renderer, http_server):
    svg = (f'<svg {SVG_NS} width="50" height="50"><rect width="50" height="50" fill="blue"/>'
           f'<image href="{http_server.url}/img.png" width="50" height="50"/>'
           f'<use xlink:href="{http_server.url}/sprite.svg#a"/></svg>')
    res = run(renderer, svg, task="svg")
    assert http_server.paths == []
    assert res.ok or res.error_kind in {"runtime", "forbidden"}


def test_svg_file_href_is_not_read(renderer, tmp_path):
    secret = tmp_path / "secret.svg"
    secret.write_text(f'<svg {SVG_NS} width="50" height="50"><rect width="50" height="50" fill="red"/></svg>')
    svg = f'<svg {SVG_NS} width="50" height="50"><image href="file://{secret}" width="50" height="50"/></svg>'
    res = run(renderer, svg, task="svg")
    assert res.error_kind == "blank", "the referenced file must not be drawn"


def test_svg_entity_bomb_is_refused(renderer):
    bomb = '<?xml version="1.0"?>\n<!DOCTYPE svg [\n<!ENTITY a "aaaaaaaaaa">\n'
    for i in range(1, 10):
        bomb += f'<!ENTITY {"a" * (i + 1)} "{("&" + "a" * i + ";") * 10}">\n'
    bomb += f']>\n<svg {SVG_NS}><text>&{"a" * 10};</text></svg>'
    assert run(renderer, bomb, task="svg").error_kind == "forbidden"


def test_svg_external_entity_is_refused(renderer):
    xxe = f'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]><svg {SVG_NS}><text>&x;</text></svg>'
    assert run(renderer, xxe, task="svg").error_kind == "forbidden"


def test_html_scripts_do_not_run(renderer, http_server):
    html = ("<table><tr><td id='c'>safe</td></tr></table>"
            f"<script>document.body.style.background='red'; fetch('{http_server.url}/js');</script>")
    res = run(renderer, html, task="table")
    assert res.ok, res.message
    from tests.render.test_render import pixels

    img = pixels(res.png)
    assert not ((img[..., 0] > 200) & (img[..., 1] < 50) & (img[..., 2] < 50)).any(), "script ran"
    assert http_server.paths == []


def test_html_remote_resources_are_not_loaded(renderer, http_server):
    html = (f"<link rel='stylesheet' href='{http_server.url}/x.css'>"
            f"<table style=\"background:url('{http_server.url}/bg.png')\"><tr><td>"
            f"<img src='{http_server.url}/img.png'><iframe src='{http_server.url}/frame'></iframe>"
            f"</td></tr></table><meta http-equiv='refresh' content='0;url={http_server.url}/go'>")
    res = run(renderer, html, task="table")
    assert http_server.paths == []
    assert res.ok or res.error_kind is not None


def test_pool_worker_still_renders_after_the_suite(renderer):
    """Run last in this module: every hostile program above went through the same workers."""
    assert renderer.render("chart", GOOD_CHART).ok
    assert renderer.render("svg", f'<svg {SVG_NS} width="9" height="9"><rect width="5" height="5"/></svg>').ok
    assert renderer.render("table", "<table><tr><td>ok</td></tr></table>").ok


def test_host_tmp_is_invisible_and_nothing_there_is_writable(renderer):
    """The host's /tmp is not part of a render's view (a virtualenv or checkout there is bound only
    where the interpreter needs it); writes there fail even via ctypes."""
    import pathlib
    import shutil
    import tempfile

    tmp_path = pathlib.Path(tempfile.mkdtemp(prefix="verm_visible_", dir="/tmp"))
    tmp_path.chmod(0o777)  # world-writable, like /tmp itself: only the view stops the write
    (tmp_path / "data.txt").write_text("visible")
    target = tmp_path / "created_by_ctypes"
    program = (
        "try:\n"
        f"    print(open({str(tmp_path / 'data.txt')!r}).read())\n"
        "except OSError as e:\n    print(type(e).__name__)\n"
        "import ctypes, os\n"
        f"fd = ctypes.CDLL(None).open({str(target).encode()!r}, os.O_WRONLY | os.O_CREAT, 0o644)\n"
        "print('fd', fd)\n" + PLT + "plt.plot([1, 2])\n"
    )
    res = run(renderer, program)
    assert res.ok, res.message
    assert "fd -1" in res.stdout
    if "fs_view" in res.meta["layers"]:
        assert "visible" not in res.stdout and "FileNotFoundError" in res.stdout
    assert not target.exists()
    shutil.rmtree(tmp_path)


def test_good_renders_after_the_suite_have_the_same_pixels_for_every_user(renderer):
    """CI renders these as root (writing their pixel digests to VERM_TEST_PIXELS_FILE) and then as
    an unprivileged user (comparing): the sandbox each user gets changes no pixel."""
    import hashlib
    import json

    from tests.render.programs import GOOD_SVG, GOOD_TABLE_HTML
    from tests.render.test_render import pixels

    digests = {}
    for task, source in (("chart", GOOD_CHART), ("table", GOOD_TABLE_HTML), ("svg", GOOD_SVG)):
        res = renderer.render(task, source)
        assert res.ok, (task, res.message)
        digests[task] = hashlib.sha256(pixels(res.png).tobytes()).hexdigest()
    path = os.environ.get("VERM_TEST_PIXELS_FILE")
    if not path:
        pytest.skip("set VERM_TEST_PIXELS_FILE to compare users (CI does)")
    if os.path.exists(path):
        with open(path) as f:
            reference = json.load(f)
        assert digests == reference["digests"], f"pixels differ from the run as uid {reference['uid']}"
    else:
        with open(path, "w") as f:
            json.dump({"uid": os.getuid(), "digests": digests}, f)
        os.chmod(path, 0o644)
