"""The core install (``pip install visual-erm-rl`` without the ``train`` extra) renders, judges and
rewards: every module of verm_rl.render, .judge, .reward and .similarity imports in a fresh
interpreter where ``ray``, ``verl`` and ``wandb`` cannot be imported, and a reward is computed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SCRIPT = r'''
import importlib, importlib.abc, json, pkgutil, sys

BLOCKED = ("ray", "verl", "wandb")


class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is not installed (core install)")
        return None


sys.meta_path.insert(0, Block())
try:
    import ray  # noqa: F401
    raise SystemExit("the blocker does not block")
except ImportError:
    pass

imported, failed = [], {}
for root in ("verm_rl.render", "verm_rl.judge", "verm_rl.reward", "verm_rl.similarity"):
    package = importlib.import_module(root)
    names = [root] + [m.name for m in pkgutil.walk_packages(package.__path__, root + ".")]
    for name in names:
        try:
            importlib.import_module(name)
            imported.append(name)
        except ImportError as e:
            failed[name] = str(e)

from verm_rl.judge import parse_judgement
from verm_rl.render import RenderResult
from verm_rl.reward import visual_erm_reward
from verm_rl.similarity import teds

j = parse_judgement("chart", '{"errors": [{"category": "data_error", "severity": 2, "location": "a", '
                             '"description": "b"}]}')
reward = visual_erm_reward(RenderResult(ok=True, png=b"png"), j, "chart")
print(json.dumps({"imported": imported, "failed": failed, "loaded": sorted(m for m in sys.modules
                  if m.split(".")[0] in BLOCKED), "total": reward.total,
                  "teds": teds("<table><tr><td>1</td></tr></table>", "| a |\n|---|\n| 1 |\n")}))
'''


def test_render_judge_reward_import_without_ray_verl_wandb():
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, cwd=REPO,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not out["failed"], out["failed"]
    assert not out["loaded"]
    assert {"verm_rl.render", "verm_rl.judge.http", "verm_rl.judge.structural", "verm_rl.reward.severity",
            "verm_rl.similarity.teds"} <= set(out["imported"])
    assert 0.0 < out["total"] < 2.0
    assert 0.0 <= out["teds"] <= 1.0
