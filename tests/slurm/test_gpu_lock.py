"""The GPU lock (requirements/gpu.lock) agrees with what the installed verl 0.9.1 declares, with setup.py's
``gpu`` extra, and with pip's recorded resolution (requirements/gpu-resolve-report.json.gz)."""

from __future__ import annotations

import ast
import gzip
import importlib.metadata as md
import json
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
REQ = REPO / "requirements"


def read_lock() -> dict[str, str]:
    out = {}
    for line in (REQ / "gpu.lock").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"unpinned line in gpu.lock: {line}"
            assert canonicalize_name(name) not in out, f"{name} twice"
            out[canonicalize_name(name)] = version
    return out


def verl_requirements(extra: str | None) -> list[Requirement]:
    """verl's declared requirements of one extra (None: the unconditional ones)."""
    out = []
    for raw in md.requires("verl") or []:
        req = Requirement(raw)
        if extra is None and req.marker is None:
            out.append(req)
        elif extra is not None and req.marker is not None and req.marker.evaluate({"extra": extra}) \
                and not req.marker.evaluate({"extra": ""}):
            out.append(req)
    return out


def test_lock_has_verls_vllm_extra_pins():
    lock = read_lock()
    assert lock["verl"] == md.version("verl") == "0.9.1"
    pinned = [r for r in verl_requirements("vllm") if any(s.operator == "==" for s in r.specifier)]
    assert {canonicalize_name(r.name) for r in pinned} >= {"torch", "torchvision", "torchaudio", "vllm",
                                                            "transformers"}
    for req in verl_requirements("vllm") + verl_requirements("verl-core"):
        name = canonicalize_name(req.name)
        if name == "verl":
            continue
        assert name in lock, f"verl[vllm] needs {req}, not in gpu.lock"
        assert req.specifier.contains(lock[name], prereleases=True), f"gpu.lock {name}=={lock[name]} vs verl's {req}"


def test_lock_satisfies_verls_core_requirements_and_flash_attn_pin():
    lock = read_lock()
    for req in verl_requirements(None):
        name = canonicalize_name(req.name)
        assert name in lock and req.specifier.contains(lock[name], prereleases=True), f"{req} vs {lock.get(name)}"
    (flash,) = verl_requirements("flash-attn-cu130torch211")
    assert flash.specifier.contains(lock["flash-attn"])


def test_setup_py_gpu_extra_is_pinned_to_the_lock():
    tree = ast.parse((REPO / "setup.py").read_text())
    extras = next(ast.literal_eval(node.value) for node in ast.walk(tree)
                  if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "EXTRAS")
    lock = read_lock()
    assert extras["gpu"], "the gpu extra is empty"
    for raw in extras["gpu"]:
        req = Requirement(raw)
        pins = [s.version for s in req.specifier if s.operator == "=="]
        assert pins, f"unpinned in the gpu extra: {raw}"
        assert lock[canonicalize_name(req.name)] == pins[0], f"{raw} vs gpu.lock"


def test_pip_report_resolved_exactly_the_lock():
    with gzip.open(REQ / "gpu-resolve-report.json.gz", "rt") as f:
        report = json.load(f)
    assert report["environment"]["platform_machine"] == "x86_64"
    assert report["environment"]["sys_platform"] == "linux"
    resolved = {canonicalize_name(i["metadata"]["name"]): i["metadata"]["version"] for i in report["install"]}
    resolved.pop("visual-erm-rl")
    lock = read_lock()
    # flash-attn and deepspeed are source builds against the installed torch (setup_env.sh --gpu, second step)
    assert {k: v for k, v in lock.items() if k not in ("flash-attn", "deepspeed")} == resolved
    assert resolved["torch"] == "2.11.0" and resolved["vllm"] == "0.24.0"
    assert any(n.startswith("nvidia-") for n in resolved), "a CUDA build of torch was resolved"
