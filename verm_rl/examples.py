"""The small example sources bundled with the package (one per file, task from the file name)."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from verm_rl.tasks import task_names


@dataclass(frozen=True)
class Example:
    name: str
    task: str
    source: str


def bundled_examples() -> list[Example]:
    root = resources.files("verm_rl") / "assets" / "examples"
    out = []
    for entry in sorted(root.iterdir(), key=lambda p: p.name):
        task = entry.name.split("_", 1)[0]
        if task in task_names():
            out.append(Example(Path(entry.name).stem, task, entry.read_text()))
    return out
