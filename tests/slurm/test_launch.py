"""slurm/launch.sh for real under a fake Slurm (tests/slurm/bin: sbatch, srun, scontrol on PATH): a 2-node
allocation of this machine, real `ray start` head + worker declaring 8 GPUs each, the wait loop, the preflight,
the teardown. Only this machine's addresses; every Ray process started here is found by its job's temp dir and
stopped by PID if the launcher's trap did not."""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

REPO = Path(__file__).resolve().parents[2]
FAKE_BIN = Path(__file__).resolve().parent / "bin"
LAUNCH = REPO / "slurm" / "launch.sh"
# Ray's own start-up failures on an overloaded machine (its raylet must register within a fixed 30 s)
OVERLOADED = ("The current node timed out during startup", "exited (its output above")


def job_processes(job_id: int) -> list[psutil.Process]:
    """This job's Ray processes (GCS, raylets, `ray start`, agents): their command lines name its temp dir
    or its nodes."""
    marks = (f"/tmp/ray-{job_id}", f"fake{job_id}-n", f"fake-slurmd-{job_id}")
    out = []
    for p in psutil.process_iter(["cmdline"]):
        cmd = " ".join(p.info.get("cmdline") or [])
        if any(m in cmd for m in marks) and "pytest" not in cmd:
            out.append(p)
    return out


def kill_job(job_id: int) -> None:
    for p in job_processes(job_id):
        try:
            p.send_signal(signal.SIGKILL)
        except psutil.Error:
            pass
    shutil.rmtree(f"/tmp/ray-{job_id}", ignore_errors=True)


@pytest.fixture
def cluster_env(tmp_path):
    """Environment of a submitting user: fake Slurm first on PATH, tiny model dirs, tiny data files, the job
    dirs under tmp. Yields (env, extra Hydra overrides, job ids to clean up)."""
    for role in ("policy", "judge"):
        (tmp_path / role).mkdir()
        (tmp_path / role / "config.json").write_text('{"max_position_embeddings": 32768}')
    import pandas as pd

    for split in ("train", "val"):
        pd.DataFrame({"prompt": ["x"]}).to_parquet(tmp_path / f"{split}.parquet")
    env = dict(os.environ)
    env.update(PATH=f"{FAKE_BIN}:{env['PATH']}", POLICY_PATH=str(tmp_path / "policy"),
               VISUAL_ERM_PATH=str(tmp_path / "judge"), TMPDIR=str(tmp_path),
               RAY_USAGE_STATS_ENABLED="0", FAKE_SLURM_CPUS="64", WANDB_MODE="offline")
    env.pop("RAY_ADDRESS", None)
    overrides = [f"data.train_files={tmp_path / 'train.parquet'}", f"data.val_files={tmp_path / 'val.parquet'}"]
    jobs: list[int] = []
    try:
        yield env, overrides, jobs
    finally:
        for j in jobs:
            kill_job(j)


def new_job_id(jobs: list[int]) -> int:
    """A job id unlikely to share a port block with another agent's or another test's job."""
    while True:
        j = random.randrange(60000, 90000)
        if all(j % 200 != k % 200 and j % 20 != k % 20 for k in jobs):
            jobs.append(j)
            return j


def submit(env, job_id: int, args: list[str], log: Path, **extra) -> subprocess.Popen:
    e = dict(env, FAKE_SLURM_JOB_ID=str(job_id), JOB_DIR=str(log.parent / f"job{job_id}"), **extra)
    return subprocess.Popen(["sbatch", "-o", str(log), str(LAUNCH), *args], cwd=REPO, env=e,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


def finish(proc: subprocess.Popen, log: Path, timeout: float = 900) -> tuple[int, str]:
    """The job's exit code and output; a job over ``timeout`` gets SIGTERM (as scancel: the launcher's trap
    stops its Ray), then SIGKILL, and fails the test."""
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.communicate(timeout=60)
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail(f"job did not finish within {timeout} s:\n" + (log.read_text() if log.exists() else ""))
    return proc.returncode, out + (log.read_text() if log.exists() else "")


@pytest.mark.timeout(1800)
def test_two_jobs_at_once_fit_and_misfit_on_two_nodes(cluster_env, tmp_path):
    """Done-when of the issue: PLAN_ONLY=1 sbatch slurm/launch.sh experiment=chart2code_verm verm/cluster=2node
    reaches the plan on two simulated nodes and exits 0 — while a second job (other ports) runs at the same time
    with an override that does not fit and exits non-zero naming what is short. Overrides reach the recipe's
    config; no Ray process of either job is left."""
    env, overrides, jobs = cluster_env
    base = ["experiment=chart2code_verm", "verm/cluster=2node", *overrides]
    for attempt in range(3):  # again only when a `ray start` failed to come up on this shared, loaded machine
        fit_id, misfit_id = new_job_id(jobs), new_job_id(jobs)
        fit_log, misfit_log = tmp_path / f"fit{attempt}.out", tmp_path / f"misfit{attempt}.out"
        fit = submit(env, fit_id, [*base, "verm.render.pool_size=20"], fit_log, PLAN_ONLY="1",
                     RAY_WAIT_TIMEOUT="300")
        misfit = submit(env, misfit_id, [*base, "verm.render.pool_size=500"], misfit_log, PLAN_ONLY="1",
                        RAY_WAIT_TIMEOUT="300")
        rc_fit, out_fit = finish(fit, fit_log)
        rc_misfit, out_misfit = finish(misfit, misfit_log)
        if not any(sig in out_fit + out_misfit for sig in OVERLOADED):
            break

    assert rc_fit == 0, out_fit
    assert f"all 2 node(s) joined: fake{fit_id}-n1 (8 GPU, 64 CPU), fake{fit_id}-n2 (8 GPU, 64 CPU)" in out_fit
    assert "plan: FITS" in out_fit and "PLAN_ONLY=1: stopping after the preflight" in out_fit
    assert re.search(r"policy actor \+ rollout\s+1x8=8\s+2\s+4\s+16384", out_fit), out_fit
    assert re.search(r"judge \(verl reward-model servers\)\s+1x8=8\s+1\s+8\s+12288", out_fit), out_fit
    assert re.search(r"^total\s+20\s+16\s+", out_fit, re.M), "the pool_size override reached the composed config"

    assert rc_misfit != 0, out_misfit
    assert "plan: DOES NOT FIT" in out_misfit and "[render-pool]" in out_misfit
    short = re.search(r"need (\d+) CPUs, (\d+) are free .* short by (\d+) CPUs", out_misfit)
    assert short and int(short[1]) == 500 and int(short[3]) == 500 - int(short[2]), out_misfit

    ports = {j: re.search(r"\((127\.0\.0\.1|[\d.]+):(\d+)\); worker ports (\d+)-(\d+)", o).groups()
             for j, o in ((fit_id, out_fit), (misfit_id, out_misfit))}
    assert ports[fit_id][1] != ports[misfit_id][1] and ports[fit_id][2] != ports[misfit_id][2]
    for j in (fit_id, misfit_id):
        assert not job_processes(j), f"Ray processes of job {j} left"
        assert not (tmp_path / f"job{j}" / "ray_auth_token").exists(), "the token outlives the job"


@pytest.mark.timeout(600)
def test_a_node_that_never_starts_times_out_naming_it(cluster_env, tmp_path):
    env, overrides, jobs = cluster_env
    job = new_job_id(jobs)
    log = tmp_path / "dead.out"
    started = time.monotonic()
    proc = submit(env, job, ["verm/cluster=2node", *overrides], log, PLAN_ONLY="1", RAY_WAIT_TIMEOUT="20",
                  RAY_HEAD_TIMEOUT="300",
                  FAKE_SLURM_DEAD_NODES=f"fake{job}-n2")
    rc, out = finish(proc, log)
    assert rc != 0
    assert "did not join the Ray cluster" in out and f"fake{job}-n2" in out.split("did not join")[1], out
    assert f"fake{job}-n1" not in out.split("did not join")[1].splitlines()[0]
    assert "plan:" not in out, "no preflight on a cluster that never formed"
    assert time.monotonic() - started < 400
    assert not job_processes(job), "the trap left Ray (or the hung step) running"


def test_dry_run_prints_each_node_and_job_unique_ports(cluster_env, tmp_path):
    """DRY_RUN=1: one command per node, nothing started; two jobs get disjoint port blocks; the default log
    path (%x-%j.out in the submit directory) exists; the launcher runs as a spooled copy (submit-dir aware)."""
    env, overrides, jobs = cluster_env
    outs = {}
    for job in (new_job_id(jobs), new_job_id(jobs)):
        e = dict(env, FAKE_SLURM_JOB_ID=str(job), DRY_RUN="1", FAKE_SLURM_NODES="3")
        r = subprocess.run(["sbatch", str(LAUNCH), "verm/cluster=2node", "trainer.total_epochs=3"], cwd=REPO, env=e,
                           capture_output=True, text=True, timeout=60)
        log = REPO / f"visual-erm-rl-{job}.out"
        try:
            assert r.returncode == 0, r.stdout + r.stderr
            outs[job] = log.read_text()
        finally:
            log.unlink(missing_ok=True)
    port_sets = []
    for job, out in outs.items():
        nodes = re.findall(r"^\[node (\S+)\] srun .* -w (\S+) .*ray start", out, re.M)
        assert [n for n, _ in nodes] == [f"fake{job}-n{i}" for i in (1, 2, 3)], out
        assert "--head" in out.splitlines()[1] and "--head" not in "".join(out.splitlines()[2:4])
        assert "trainer.total_epochs=3" in out.split("[train]")[1], "overrides reach the recipe's command"
        assert "ray_init.num_cpus" not in out
        ports = {int(p) for p in re.findall(r"-port=(\d+)", out)}
        lo, hi = map(int, re.search(r"worker ports (\d+)-(\d+)", out).groups())
        port_sets.append(ports | set(range(lo, hi + 1)))
        per_node = [re.findall(r"--(?:node-manager|object-manager|dashboard-agent-listen|dashboard-agent-grpc|"
                               r"runtime-env-agent|metrics-export)-port=(\d+)", line)
                    for line in out.splitlines() if line.startswith("[node")]
        assert len({p for ps in per_node for p in ps}) == sum(map(len, per_node)) == 18, "node ports distinct"
        assert not job_processes(job)
    assert not port_sets[0] & port_sets[1], "two jobs share ports"


def test_outside_a_checkout_and_outside_slurm_fail_clearly(cluster_env, tmp_path):
    env, _, _ = cluster_env
    r = subprocess.run(["bash", str(LAUNCH)], cwd=tmp_path, env={k: v for k, v in env.items()
                                                                 if not k.startswith("SLURM_")},
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "runs inside a Slurm job" in r.stderr
    e = dict(env, SLURM_JOB_ID="5", SLURM_SUBMIT_DIR=str(tmp_path), SLURM_JOB_NODELIST="x1")
    r = subprocess.run(["bash", str(LAUNCH)], cwd=tmp_path, env=e, capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "is not this repository" in r.stderr
    # a log directory that does not exist: Slurm could not open it (why the default is %x-%j.out)
    r = subprocess.run(["sbatch", "-o", str(tmp_path / "nologs" / "%x-%j.out"), str(LAUNCH)], cwd=REPO,
                       env=dict(env, DRY_RUN="1"), capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "directory does not exist" in r.stderr


def test_submit_takes_the_allocation_from_the_preset(cluster_env):
    env, _, jobs = cluster_env
    job = new_job_id(jobs)
    e = dict(env, FAKE_SLURM_JOB_ID=str(job), DRY_RUN="1")
    r = subprocess.run([str(REPO / "slurm" / "submit.sh"), "experiment=chart2code_verm", "verm/cluster=1node"],
                       cwd="/", env=e, capture_output=True, text=True, timeout=300)
    log = REPO / f"visual-erm-rl-{job}.out"
    try:
        assert r.returncode == 0, r.stdout + r.stderr
        assert "sbatch --nodes=1 --gpus-per-node=8" in r.stdout
        out = log.read_text()
    finally:
        log.unlink(missing_ok=True)
    assert f"job {job}: 1 node(s) x 8 GPUs" in out and out.count("ray start") == 1
