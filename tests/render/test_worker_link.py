"""The link between client, warm worker and sandboxed child: typed messages, options in one place,
the task → renderer mapping, spare children and copy-on-write pre-faulting."""

from __future__ import annotations

import dataclasses
import os
import pwd
import time

import pytest

from tests.render.programs import GOOD_CHART, GOOD_SVG
from verm_rl.render import RenderOptions, RenderResult, UnknownTask, renderer_for
from verm_rl.render.protocol import RenderRequest, decode_child_frame, encode_child_frame
from verm_rl.render.sandbox import SandboxConfig
from verm_rl.tasks import TaskSpec, get_task, register_task, unregister_task

LIMITS_PROBE = ("import os, resource\n"
                "print('NPROC', resource.getrlimit(resource.RLIMIT_NPROC)[0], 'UID', os.getuid())\n") + GOOD_CHART


def test_every_sandbox_setting_reaches_the_child(renderer):
    """``SandboxConfig`` says every field is configurable: max_procs and drop_to_user were dropped
    on the way (not render options, and the worker rebuilt the config without them)."""
    user = pwd.getpwnam("daemon")
    res = renderer.render("chart", LIMITS_PROBE, max_procs=7, drop_to_user="daemon")
    assert res.ok, res.message
    if os.getuid() == 0:  # as non-root there is no drop, and no RLIMIT_NPROC (it would count the user's own)
        assert f"NPROC 7 UID {user.pw_uid}" in res.stdout, res.stdout
        default = renderer.render("chart", LIMITS_PROBE)
        assert f"NPROC 64 UID {pwd.getpwnam('nobody').pw_uid}" in default.stdout, default.stdout


def test_sandbox_config_is_derived_from_render_options():
    options = RenderOptions(memory_mb=999, max_procs=3, drop_to_user="daemon").resolved("svg")
    cfg = SandboxConfig.from_options(options)
    for f in dataclasses.fields(SandboxConfig):
        assert getattr(cfg, f.name) == getattr(options, f.name), f.name  # one set of defaults
    assert cfg.timeout_s == get_task("svg").render_timeout_s == 10.0  # the task's spec gives it
    with pytest.raises(TypeError):
        SandboxConfig()  # no defaults of its own
    with pytest.raises(ValueError, match="resolved"):
        SandboxConfig.from_options(RenderOptions())
    assert RenderOptions(timeout_s=3).resolved("chart").timeout == 3.0
    assert RenderOptions.from_dict(options.to_dict()) == options


def test_unknown_task_is_a_typed_error(renderer):
    with pytest.raises(UnknownTask, match="unknown task 'latex'.*chart"):
        renderer.render("latex", "x")


def test_worker_answers_typed_results():
    """Every answer is a ``RenderResult``: a good render, a failure, and a request of the wrong type."""
    from verm_rl.render.client import WarmWorker

    worker = WarmWorker("python")
    try:
        good = worker.request(RenderRequest("svg", GOOD_SVG, RenderOptions().resolved("svg"), renderer_for("svg")), 10)
        bad = worker.request(RenderRequest("chart", "1/0", RenderOptions().resolved("chart"), renderer_for("chart")), 15)
        wrong = worker.request({"task": "chart", "source": GOOD_CHART}, 15)
        table_in_python = worker.request(RenderRequest("table", "<table></table>", RenderOptions().resolved("table"),
                                                       renderer_for("table")), 15)
    finally:
        worker.close()
    assert all(isinstance(r, RenderResult) for r in (good, bad, wrong, table_in_python))
    assert good.ok and good.png.startswith(b"\x89PNG")
    assert (bad.error_kind, bad.message) == ("runtime", "ZeroDivisionError: division by zero")
    assert wrong.error_kind == "crash" and "bad request" in wrong.message
    assert table_in_python.error_kind == "crash" and "browser renderer" in table_in_python.message


def test_a_registered_task_renders_through_the_worker(renderer):
    """A fourth task registered (as a ``TaskSpec``) in this test process alone renders in the real
    sandbox: its ``RendererSpec`` travels in the request, the worker imports it by its path before
    forking; its failures are typed results, its timeout is its spec's."""
    from tests.render.programs import render_toy_bars

    bars = TaskSpec(name="bars", extract=str.strip, categories=("bar_error",), renderer=render_toy_bars,
                    render_timeout_s=7.0)
    nowhere = TaskSpec(name="nowhere", extract=str.strip, categories=("x_error",), renderer="no.such.module:f")
    register_task(bars)
    register_task(nowhere)
    try:
        spec = renderer_for("bars")
        assert (spec.target, spec.family, spec.long_lived) == ("tests.render.programs:render_toy_bars", "python", False)
        assert RenderOptions().resolved("bars").timeout == 7.0
        res = renderer.render("bars", "3 1 2", dpi=50)
        assert res.ok, res.message
        assert res.meta["bars"] == 3 and "audit_hook" in res.meta["layers"]
        boom = renderer.render("bars", "boom")
        assert (boom.error_kind, boom.message) == ("runtime", "ValueError: boom")
        gone = renderer.render("nowhere", "1")
        assert gone.error_kind == "crash" and "cannot be loaded" in gone.message
    finally:
        unregister_task("bars")
        unregister_task("nowhere")
    with pytest.raises(UnknownTask, match="unknown task 'bars'"):
        renderer_for("bars")
    assert renderer.render("chart", GOOD_CHART).ok


def test_a_task_without_a_renderer_or_with_a_local_one_is_refused():
    register_task(TaskSpec(name="norender", extract=str.strip, categories=("x_error",)))
    try:
        with pytest.raises(UnknownTask, match="task 'norender' has no renderer"):
            renderer_for("norender")
    finally:
        unregister_task("norender")

    def local(source, options, meta):  # not importable by the worker
        return b""

    register_task(TaskSpec(name="local", extract=str.strip, categories=("x_error",), renderer=local))
    try:
        with pytest.raises(ValueError, match="module-level function"):
            renderer_for("local")
    finally:
        unregister_task("local")


def test_spare_child_is_used_between_requests_and_replaced_when_limits_change(renderer):
    """After an answer the worker forks the next render's child; a request with other limits gets a
    fresh child; both render the same pixels."""
    first = renderer.render("chart", GOOD_CHART)
    time.sleep(0.5)  # idle: the spare is ready
    spare = renderer.render("chart", GOOD_CHART)
    other = renderer.render("chart", GOOD_CHART, memory_mb=1536)  # the spare has the old limits
    for res in (first, spare, other):
        assert res.ok, res.message
    assert spare.meta["timings"]["spare"] == 1.0 and spare.meta["timings"]["wait"] < 0.05, spare.meta["timings"]
    assert other.meta["timings"]["spare"] == 0.0
    assert first.png == spare.png == other.png


def test_child_frames_are_checked_field_by_field():
    good = decode_child_frame(encode_child_frame(RenderResult(ok=True, png=b"\x89PNG..", meta={"layers": "x"})))
    assert good.ok and good.png == b"\x89PNG.." and good.meta == {"layers": "x"}
    forged = encode_child_frame(RenderResult(ok=False, error_kind="pwned", message="m"))  # type: ignore[arg-type]
    assert decode_child_frame(forged).error_kind == "crash"
    wrong_types = encode_child_frame(RenderResult(ok=False, error_kind="runtime", message=["x"]))  # type: ignore
    assert decode_child_frame(wrong_types).error_kind == "crash"
    for junk in (b"", b"abc", b"\x00" * 8, b"[1]" + (3).to_bytes(8, "big")):
        with pytest.raises(ValueError):
            decode_child_frame(junk)


def test_prefault_profile_finds_written_pages_and_keeps_contents():
    """The profile lists the pages a function writes in a forked child; populating them in another
    child changes no byte."""
    from verm_rl.render import prefault

    block = bytearray(os.urandom(1 << 20))  # offsets below lie on pages holding nothing else
    address = prefault.ctypes.addressof((prefault.ctypes.c_char * len(block)).from_buffer(block))

    def touch() -> None:
        block[200_000] ^= 1
        block[600_000] ^= 1

    runs = prefault.profile(touch)
    covered = lambda a: any(lo <= a < lo + size for lo, size in runs)  # noqa: E731
    assert covered(address + 200_000) and covered(address + 600_000)
    assert not covered(address + 400_000)  # a page it did not write
    before = bytes(block)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        done = prefault.populate(runs)
        os.write(w, b"1" if bytes(block) == before and done > 0 else b"0")
        os._exit(0)
    os.close(w)
    assert os.read(r, 1) == b"1"
    os.close(r)
    os.waitpid(pid, 0)


def test_a_spare_that_died_is_replaced_not_reported():
    """A spare killed while it waits (OOM killer, an operator) costs its render nothing."""
    import signal

    from verm_rl.render.worker import DEFAULT_PREIMPORT, Forker, preimport

    preimport(DEFAULT_PREIMPORT)  # as the worker does: a child dropped to nobody may not read the stdlib
    forker = Forker()
    request = RenderRequest("chart", GOOD_CHART, RenderOptions().resolved("chart"), renderer_for("chart"))
    try:
        first = forker.render(request)
        forker.prepare()
        os.kill(forker.spare.pid, signal.SIGKILL)
        time.sleep(0.2)
        second = forker.render(request)
        forker.prepare()
        third = forker.render(request)
    finally:
        forker.stop()
    assert first.ok and second.ok and third.ok, (first.message, second.message, third.message)
    assert second.meta["timings"]["spare"] == 0.0 and third.meta["timings"]["spare"] == 1.0
    assert first.png == second.png == third.png
