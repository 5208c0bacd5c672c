"""The import structure: subpackages of ``verm_rl`` depend on each other one way (no cycles), the
library imports neither Ray nor verl, the Ray workers import no verl. Read from the source with
``ast`` (every import, function-level ones included; ``if TYPE_CHECKING:`` blocks excluded)."""

from __future__ import annotations

import ast
from collections import defaultdict
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _imports(path: Path, module: list[str]) -> list[str]:
    """Absolute names ``path`` imports (``module``: its dotted name as parts)."""
    tree = ast.parse(path.read_text(), str(path))
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for child in node.body for n in ast.walk(child))
    package = module if path.name == "__init__.py" else module[:-1]
    names = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                names.append(".".join(base + ([node.module] if node.module else [])))
            else:
                names.append(node.module or "")
    return names


def _modules(root: str) -> dict[Path, list[str]]:
    top = REPO / root
    out = {}
    for path in sorted(top.rglob("*.py")):
        parts = [root, *path.relative_to(top).with_suffix("").parts]
        out[path] = parts[:-1] if parts[-1] == "__init__" else parts
    return out


@cache
def subpackage_graph() -> tuple[dict[str, set[str]], dict[tuple[str, str], list[str]]]:
    """verm_rl subpackage (or top-level module) -> those it imports, and where each edge comes from."""
    graph: dict[str, set[str]] = defaultdict(set)
    where: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path, module in _modules("verm_rl").items():
        if len(module) < 2:
            continue
        source = module[1]
        for name in _imports(path, module):
            parts = name.split(".")
            if parts[0] == "verm_rl" and len(parts) > 1 and parts[1] != source:
                graph[source].add(parts[1])
                where[(source, parts[1])].append(str(path.relative_to(REPO)))
    return graph, where


def strongly_connected(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Components of more than one node (Tarjan), i.e. the import cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_cycle_finder_finds_cycles():
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [frozenset("abc")]
    assert strongly_connected({"a": {"b"}, "b": {"c"}}) == []


def test_subpackages_import_each_other_one_way():
    """The whole verm_rl subpackage graph is acyclic (the task registry names the code of other
    subpackages by string, so ``tasks`` imports none of them)."""
    graph, where = subpackage_graph()
    assert graph["judge"] and graph["reward"], "the graph is empty: the walk found no imports"
    cycles = {" / ".join(sorted(component)): {f"{a} -> {b}": where[(a, b)][:3] for a in sorted(component)
                                              for b in sorted(component) if (a, b) in where}
              for component in strongly_connected(graph)}
    assert not cycles, f"import cycles: {cycles}"


def test_the_task_registry_imports_no_other_subpackage():
    graph, _ = subpackage_graph()
    assert graph.get("tasks", set()) == set()


def test_judge_data_builders_sit_above_data():
    graph, _ = subpackage_graph()
    assert not graph["data"] & {"eval", "policy", "tts", "judge_data"}
    assert {"data", "eval", "policy", "tts"} <= graph["judge_data"]


def test_judge_and_reward_share_metrics_without_importing_each_other_both_ways():
    graph, _ = subpackage_graph()
    assert not ({"reward"} <= graph["judge"] and {"judge"} <= graph["reward"])
    assert "similarity" in graph["judge"]
    assert graph.get("similarity", set()) == set()  # the metrics import nothing else from verm_rl


@pytest.mark.parametrize(("root", "forbidden"), [("verm_rl", {"ray", "verl"}), ("reward_workers", {"verl"})])
def test_layer_rules(root, forbidden):
    offenders = [f"{path.relative_to(REPO)}: {name}" for path, module in _modules(root).items()
                 for name in _imports(path, module) if name.split(".")[0] in forbidden]
    assert not offenders, offenders
