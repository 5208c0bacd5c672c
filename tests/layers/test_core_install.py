"""The core install (``pip install visual-erm-rl`` without the ``train`` extra) renders, judges and
rewards: every module of verm_rl.render, .judge, .reward and .similarity imports in a fresh
interpreter where ``ray``, ``verl`` and ``wandb`` cannot be imported, and a reward is computed."""

from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import re
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


# imported only inside functions, for the model engines (a GPU install brings them; the CPU setup
# installs its own torch pair first)
OPTIONAL = {"torch", "vllm"}


def _setup_lists() -> tuple[set[str], dict[str, set[str]]]:
    tree = ast.parse((REPO / "setup.py").read_text())
    values = {n.targets[0].id: ast.literal_eval(n.value) for n in ast.walk(tree)
              if isinstance(n, ast.Assign) and isinstance(n.targets[0], ast.Name) and n.targets[0].id in ("CORE", "EXTRAS")}

    def names(reqs):
        return {re.split(r"[<>=!\[ ;]", r)[0].lower().replace("_", "-") for r in reqs}

    return names(values["CORE"]), {k: names(v) for k, v in values["EXTRAS"].items()}


def test_core_requirements_cover_what_render_judge_reward_import():
    core, extras = _setup_lists()
    assert not core & {"ray", "verl", "wandb"}, "the training stack belongs to the train extra"
    assert {"ray", "wandb"} <= extras["train"] and any(n.startswith("verl") for n in extras["train"])
    distributions = importlib.metadata.packages_distributions()
    files = [p for root in ("render", "judge", "reward", "similarity", "tasks")
             for p in (REPO / "verm_rl" / root).rglob("*.py")]
    missing, top_level_optional = {}, []
    for path in files:
        tree = ast.parse(path.read_text())
        module_level = {id(n) for n in tree.body}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                mods = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                mods = [node.module.split(".")[0]]
            else:
                continue
            for mod in mods:
                if mod in sys.stdlib_module_names or mod == "verm_rl":
                    continue
                if mod in OPTIONAL:
                    if id(node) in module_level:
                        top_level_optional.append(f"{path.name}: {mod}")
                    continue
                dists = {d.lower().replace("_", "-") for d in distributions.get(mod, [])}
                if not dists & core:
                    missing[mod] = str(path.relative_to(REPO))
    assert not missing, f"imported but not in setup.py CORE: {missing}"
    assert not top_level_optional, top_level_optional
