"""``verm-rl import-prompts``: take the judge prompts Visual-ERM was trained on from a local checkout
of the released code (InternLM/Visual-ERM) and write them as prompt files for ``verm.judge.prompts``.

We may not ship the released prompt text, but users have the released repository on disk. The
Python sources are parsed with ``ast`` (never imported or run): a module-level string assignment
(chart, SVG) or the string a function returns (table). Where the training-time reward file is
missing, the evaluation script's prompt builder is used instead; when both exist and differ, the
reward file wins and the manifest says so. The manifest records each prompt's source file, symbol
and sha256 so a run can show which prompts it judged with.
"""

from __future__ import annotations

import ast
import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from verm_rl.judge.prompts import MANIFEST
from verm_rl.tasks import get_task, task_names

log = logging.getLogger(__name__)

TABLE_REWARD = "rl_scripts/reward_func/table_parse_rm_v2.py"


class PromptImportError(ValueError):
    """The checkout does not have the released layout (a file, a symbol or a literal is missing)."""


@dataclass(frozen=True)
class PromptSource:
    """Where one task's prompt lives: a module-level assignment or the return value of a function."""

    path: str  # relative to the checkout
    kind: str  # "assign" | "function"
    symbol: str


def sources(task: str) -> tuple[PromptSource, ...]:
    """Where ``task``'s prompt is in the released code, in order of authority (its spec's
    ``released_prompts``): the RL reward code the model was trained for, then the VC-RewardBench
    judge script (same prompts, marked "same as the training prompt")."""
    return tuple(PromptSource(*source) for source in get_task(task).released_prompts)


# The table reward puts a literal before the prompt text inside this function (the profile's text_prefix).
TABLE_PREFIX_FUNCTION = "compute_score"


def _literal_str(node: ast.AST) -> str | None:
    """The value of a string literal, or of literals joined with ``+``; None for anything else."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _literal_str(node.left), _literal_str(node.right)
        if left is not None and right is not None:
            return left + right
    if isinstance(node, ast.JoinedStr) and all(isinstance(v, ast.Constant) for v in node.values):
        return "".join(v.value for v in node.values)
    return None


def _assigned(body: list[ast.stmt], name: str) -> list[ast.AST]:
    """Values assigned to ``name`` directly in ``body`` (top level of a module or a function)."""
    values = []
    for stmt in body:
        if isinstance(stmt, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in stmt.targets):
            values.append(stmt.value)
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.target.id == name \
                and stmt.value is not None:
            values.append(stmt.value)
    return values


def _functions(tree: ast.Module, name: str) -> list[ast.FunctionDef]:
    return [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == name]


def _parse(checkout: Path, rel: str) -> tuple[ast.Module, bytes]:
    path = checkout / rel
    data = path.read_bytes()
    try:
        return ast.parse(data, filename=str(path)), data
    except SyntaxError as e:
        raise PromptImportError(f"{rel}: not parseable Python ({e.msg}, line {e.lineno})") from None


def extract_prompt(checkout: Path, source: PromptSource) -> str:
    """The prompt string ``source`` names; PromptImportError says what was there instead."""
    tree, _ = _parse(checkout, source.path)
    if source.kind == "assign":
        values = _assigned(tree.body, source.symbol)
        if not values:
            names = sorted({t.id for s in tree.body if isinstance(s, ast.Assign) for t in s.targets
                            if isinstance(t, ast.Name) and "PROMPT" in t.id.upper()})
            raise PromptImportError(f"{source.path}: no module-level assignment to {source.symbol}"
                                    f" (prompt-like names there: {names or 'none'})")
        text = _literal_str(values[-1])  # the last assignment is the one Python keeps
        if text is None:
            raise PromptImportError(f"{source.path}: {source.symbol} is not a string literal")
        return text
    funcs = _functions(tree, source.symbol)
    if not funcs:
        names = sorted(n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef))
        raise PromptImportError(f"{source.path}: no function {source.symbol}() (functions there: {names or 'none'})")
    func = funcs[-1]  # a later def replaces an earlier one
    returns = [n for n in ast.walk(func) if isinstance(n, ast.Return) and n.value is not None]
    if len(returns) != 1:
        raise PromptImportError(f"{source.path}: {source.symbol}() has {len(returns)} return statements, expected 1")
    value = returns[0].value
    if isinstance(value, ast.Name):
        assigned = _assigned(func.body, value.id)
        if not assigned:
            raise PromptImportError(f"{source.path}: {source.symbol}() returns {value.id}, which it never assigns")
        value = assigned[-1]
    text = _literal_str(value)
    if text is None:
        raise PromptImportError(f"{source.path}: {source.symbol}() does not return a string literal")
    return text


def extract_table_prefix(checkout: Path) -> str | None:
    """The literal the table reward prepends to the prompt (``<literal> + prompt``), if it does."""
    if not (checkout / TABLE_REWARD).is_file():
        return None
    tree, _ = _parse(checkout, TABLE_REWARD)
    for func in _functions(tree, TABLE_PREFIX_FUNCTION):
        for node in ast.walk(func):
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add) and isinstance(node.right, ast.Name) \
                    and node.right.id == "prompt":
                prefix = _literal_str(node.left)
                if prefix is not None:
                    return prefix
    return None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _git_commit(checkout: Path) -> str | None:
    """The checked-out commit, read from .git (git is not run)."""
    head = checkout / ".git" / "HEAD"
    try:
        ref = head.read_text().strip()
        if ref.startswith("ref: "):
            return (checkout / ".git" / ref[5:]).read_text().strip()
        return ref or None
    except OSError:
        return None


def import_prompts(checkout: str | Path, out: str | Path) -> dict[str, Any]:
    """Write ``<out>/<task>.txt`` for every task and ``<out>/manifest.json``; returns the manifest."""
    checkout = Path(checkout).expanduser().resolve()
    if not checkout.is_dir():
        raise PromptImportError(f"{checkout}: no such directory (expected a checkout of InternLM/Visual-ERM)")
    tasks = task_names("released_prompts")  # the tasks the released model judges
    known = sorted({s.path for task in tasks for s in sources(task)})
    if not any((checkout / p).is_file() for p in known):
        raise PromptImportError(f"{checkout} does not look like a checkout of InternLM/Visual-ERM: none of "
                                f"{', '.join(known)} is there")
    prompts: dict[str, dict[str, Any]] = {}
    texts: dict[str, str] = {}
    for task in tasks:
        candidates = sources(task)
        present = [s for s in candidates if (checkout / s.path).is_file()]
        if not present:
            raise PromptImportError(f"{task}: none of {', '.join(s.path for s in candidates)} in {checkout}")
        primary = present[0]
        texts[task] = extract_prompt(checkout, primary)
        entry: dict[str, Any] = {
            "file": f"{task}.txt", "sha256": _sha256(texts[task].encode("utf-8")), "source_file": primary.path,
            "source_sha256": _sha256((checkout / primary.path).read_bytes()), "symbol": primary.symbol,
        }
        if primary is not candidates[0]:
            log.warning("%s prompt: %s is missing; using %s", task, candidates[0].path, primary.path)
            entry["note"] = f"{candidates[0].path} missing"
        for other in present[1:]:
            try:
                same = extract_prompt(checkout, other) == texts[task]
            except PromptImportError as e:
                entry.setdefault("cross_check", []).append({"source_file": other.path, "error": str(e)})
                continue
            entry.setdefault("cross_check", []).append({"source_file": other.path, "identical": same})
            if not same:
                log.warning("%s prompt differs between %s and %s; using %s", task, primary.path, other.path,
                            primary.path)
        prompts[task] = entry
    out = Path(out).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    for task, text in texts.items():
        (out / f"{task}.txt").write_bytes(text.encode("utf-8"))  # byte-exact: no newline translation
    manifest = {"checkout": str(checkout), "git_commit": _git_commit(checkout), "prompts": prompts,
                "table_text_prefix": extract_table_prefix(checkout)}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return manifest


def check_against_profile(manifest: dict[str, Any]) -> list[str]:
    """Differences between what the checkout does and the ``released`` profile (warnings to print)."""
    from verm_rl.judge.profiles import profile_settings

    notes = []
    prefix = manifest.get("table_text_prefix")
    expected = profile_settings("released", "table").text_prefix
    if prefix is None:
        notes.append(f"no text prefix found in {TABLE_REWARD}:{TABLE_PREFIX_FUNCTION}(); the released profile "
                     f"adds {expected!r}")
    elif prefix != expected:
        notes.append(f"the checkout's table text prefix {prefix!r} differs from the released profile's "
                     f"{expected!r}: set verm.judge.per_task.table.text_prefix")
    return notes
