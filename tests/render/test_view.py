"""What a render can see: secrets and files outside its view stay out of its output, as root and
as an unprivileged user (``scripts/ci_nonroot.sh`` runs this file as one)."""

from __future__ import annotations

import json
import os
import shutil
import uuid

import pytest

from verm_rl.render.fsview import FsView

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SNOOP = """
import json, os
found = []
for path in json.loads({targets!r}):
    try:
        found.append(open(os.path.expanduser(path), errors="replace").read(300))
    except Exception as e:
        found.append(type(e).__name__)
for folder in ("/home", {repo!r}, os.path.expanduser("~"), "/root", "/tmp"):
    try:
        found.append(repr(sorted(os.listdir(folder))))
    except Exception as e:
        found.append(type(e).__name__)
print(found)
import matplotlib.pyplot as plt
plt.plot([1, 2])
plt.title(" | ".join(found)[:400])
plt.xlabel(" ".join(found)[-300:])
"""


@pytest.fixture
def decoys():
    """Marker texts planted where a render must not look: the checkout, the real home, another
    user's world-readable file (root creates one; CI's non-root run passes one in)."""
    marker = f"DECOY_{uuid.uuid4().hex}"
    made, paths, markers = [], [], [marker]
    repo_decoy = os.path.join(REPO, f".decoy_{uuid.uuid4().hex}.txt")
    home_decoy = os.path.join(os.path.expanduser("~"), f".decoy_{uuid.uuid4().hex}")
    for path in (repo_decoy, home_decoy):
        with open(path, "w") as f:
            f.write(marker)
        made.append(path)
        paths.append(path)
    if os.environ.get("VERM_TEST_OTHER_USER_FILE"):
        paths.append(os.environ["VERM_TEST_OTHER_USER_FILE"])
        markers.append(os.environ["VERM_TEST_OTHER_USER_TEXT"])
    elif os.getuid() == 0:
        other = f"/home/verm_other_{uuid.uuid4().hex[:8]}"
        os.makedirs(other, mode=0o755)
        with open(f"{other}/notes.txt", "w") as f:
            f.write(marker + "_other")
        os.chmod(f"{other}/notes.txt", 0o644)
        made.append(other)
        paths.append(f"{other}/notes.txt")
    paths += ["~/.netrc", os.path.join(os.path.expanduser("~"), ".netrc"), "/etc/passwd", "/etc/shadow",
              "/proc/1/environ", "/proc/self/environ", "/proc/1/cmdline"]
    yield paths, markers
    for path in made:
        shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)


def _leaks(text: str, markers: list[str]) -> list[str]:
    secrets = [*markers, "NETRC_DECOY_51c2", "root:x:0:0", "PYTHONPATH=", "PATH=/", "HOME=/"]
    return [s for s in secrets if s in text]


def test_render_sees_no_secrets(renderer, decoys):
    paths, markers = decoys
    res = renderer.render("chart", SNOOP.format(targets=json.dumps(paths), repo=REPO), trace=True, timeout_s=10)
    assert res.ok, res.message
    seen = res.stdout + json.dumps(res.meta.get("trace")) + res.message
    assert _leaks(seen, markers) == [], _leaks(seen, markers)
    listing = res.stdout
    assert os.path.basename(REPO) not in listing or "README.md" not in listing, "the checkout is visible"
    layers = res.meta["layers"]
    if os.getuid() == 0 or "userns" in layers:  # root, or a user namespace: the full set
        for layer in ("fs_view", "private_proc", "netns", "pidns", "mountns", "read_only_root", "audit_hook"):
            assert layer in layers, layers


def test_view_lists_only_what_a_render_needs(renderer):
    renderer.render("svg", '<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><rect width="4" height="4"/></svg>')
    view = renderer.worker_info()["python"]["view"]
    joined = "\n".join(view)
    assert REPO + "/verm_rl" in joined or os.path.realpath(REPO) + "/verm_rl" in joined
    for absent in (REPO + "\n", os.path.expanduser("~") + "\n", "/tmp\n", "/etc\n", "/home"):
        assert absent not in joined + "\n", absent
    assert not any(p.startswith(os.path.join(REPO, "tests")) for p in view)


def test_no_inherited_fds_env_or_argv(renderer):
    program = (
        "import os, sys\n"
        "kinds = []\n"
        "for f in sorted(int(f) for f in os.listdir('/proc/self/fd') if int(f) > 2):\n"
        "    try:\n        kinds.append(os.readlink(f'/proc/self/fd/{f}'))\n"
        "    except OSError:\n        pass  # the listing's own descriptor\n"
        "print('FDS', kinds)\nprint('ENV', sorted(os.environ))\nprint('ARGV', sys.argv)\n"
        "print('HOME', os.environ['HOME'] == os.getcwd())\n"
        "import matplotlib.pyplot as plt\nplt.plot([1, 2])\n"
    )
    res = renderer.render("chart", program)
    assert res.ok, res.message
    lines = dict(line.split(" ", 1) for line in res.stdout.splitlines() if " " in line)
    others = [k for k in eval(lines["FDS"]) if not k.startswith("pipe:") and not k.endswith((".ttf", ".otf"))]
    assert others == [], others  # stdio, the result pipe and read-only font files only
    assert sum(k.startswith("pipe:") for k in eval(lines["FDS"])) <= 1
    assert set(eval(lines["ENV"])) <= {"PATH", "HOME", "TMPDIR", "LANG", "MPLBACKEND", "OMP_NUM_THREADS",
                                       "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"}
    assert eval(lines["ARGV"]) == ["script.py"] and lines["HOME"] == "True"


def test_worker_environment_drops_credentials():
    from verm_rl.render.client import worker_environment

    env = worker_environment({"WANDB_API_KEY": "k", "HF_TOKEN": "t", "AWS_SECRET_ACCESS_KEY": "s", "PATH": "/bin",
                              "PYTHONPATH": "/x", "VERM_RL_PREIMPORT": "numpy"})
    assert {"WANDB_API_KEY", "HF_TOKEN", "AWS_SECRET_ACCESS_KEY"}.isdisjoint(env)
    assert env["PATH"] == "/bin" and env["VERM_RL_PREIMPORT"] == "numpy" and env["PYTHONHASHSEED"] == "0"


def test_fs_view_recreates_symlinks_and_binds_package_dirs_only(tmp_path):
    real = tmp_path / "real" / "site"
    (real / "pkg").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "real")
    view = FsView.from_paths([str(tmp_path / "link" / "site" / "pkg"), str(real), str(tmp_path / "missing")])
    assert [p for p, _ in view.binds] == [str(real)]  # nested and missing paths dropped
    assert view.symlinks == [(str(tmp_path / "link"), str(tmp_path / "real"))]


def test_view_binds_packages_imported_from_outside_sys_path(tmp_path, monkeypatch):
    """An editable install maps a package to a checkout that is not on sys.path: its package
    directory (and only it) must still be in the view."""
    import importlib.util
    import sys

    from verm_rl.render.fsview import python_paths

    pkg = tmp_path / "checkout" / "vermprobe_pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (tmp_path / "checkout" / "secret.txt").write_text("x")
    for name, file in (("vermprobe_pkg", pkg / "__init__.py"), ("vermprobe_pkg.sub", pkg / "sub" / "__init__.py")):
        spec = importlib.util.spec_from_file_location(name, file)
        module = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, name, module)
        spec.loader.exec_module(module)
    paths = python_paths()
    assert str(pkg) in paths
    assert str(tmp_path / "checkout") not in paths


def test_refused_user_namespace_is_reported_loudly_once(monkeypatch, caplog):
    """A kernel that refuses user namespaces: a warning (once), USERNS_REFUSED for the worker's
    ready message (``degraded``), and a plain fork with no namespaces as the fallback."""
    import logging

    from verm_rl.render import sandbox

    monkeypatch.setattr(sandbox, "_clone", lambda flags: -1)
    monkeypatch.setattr(sandbox.os, "getuid", lambda: 4321)
    monkeypatch.setattr(sandbox, "USERNS_REFUSED", {})
    caplog.set_level(logging.WARNING, logger="verm_rl.render.sandbox")
    for _ in range(2):
        pid, layers = sandbox.fork_isolated()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        assert layers.summary() == "rlimits only"
    assert "reason" in sandbox.USERNS_REFUSED
    assert sum("DEGRADED" in r.message for r in caplog.records) == 1
