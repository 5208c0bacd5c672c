"""Task names and pulling the program out of a model response."""

from __future__ import annotations

import re

TASKS: tuple[str, ...] = ("chart", "table", "svg")

# Error taxonomy of the Visual-ERM judge per task (the released prompts; SVG has 4 categories).
CATEGORIES: dict[str, tuple[str, ...]] = {
    "chart": ("structure_error", "data_error", "text_error", "style_error"),
    "table": ("layout_error", "text_error", "numeric_error"),
    "svg": ("structure_error", "shape_error", "style_error", "text_symbol_error"),
}
# The key that names an error's category in the judge's JSON: tables use "type", with no location.
CATEGORY_KEY: dict[str, str] = {"chart": "category", "table": "type", "svg": "category"}
OTHER_CATEGORY = "other"

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_SVG = re.compile(r"<svg\b.*?</svg\s*>", re.DOTALL | re.IGNORECASE)
_SVG_OPEN = re.compile(r"<svg\b.*", re.DOTALL | re.IGNORECASE)
_TABLE = re.compile(r"<table\b.*</table\s*>", re.DOTALL | re.IGNORECASE)
_PIPE_ROW = re.compile(r"^\s*\|.*\|\s*$")
_PIPE_SEP = re.compile(r"^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")

_LANGS = {
    "chart": ("python", "py", "python3"),
    "svg": ("svg", "xml", "html"),
    "table": ("html", "markdown", "md", "htm"),
}


def check_task(task: str) -> str:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {TASKS}")
    return task


def _fenced_blocks(text: str) -> list[tuple[str, str]]:
    return [(m.group(1).lower(), m.group(2)) for m in _FENCE.finditer(text)]


def _pick(blocks: list[str], marker: str) -> str | None:
    """The last block that contains ``marker``, else the longest one."""
    blocks = [b.strip("\n") for b in blocks if b.strip()]
    if not blocks:
        return None
    with_marker = [b for b in blocks if marker in b.lower()]
    return with_marker[-1] if with_marker else max(blocks, key=len)


def _pipe_table(text: str) -> str | None:
    lines = text.splitlines()
    for i in range(len(lines) - 1):
        if _PIPE_ROW.match(lines[i]) and _PIPE_SEP.match(lines[i + 1]):
            end = i + 2
            while end < len(lines) and _PIPE_ROW.match(lines[end]):
                end += 1
            return "\n".join(lines[i:end])
    return None


def extract_code(task: str, response: str) -> str | None:
    """The program in a model response, or None when there is none.

    chart: a ```python fence (the last one that mentions matplotlib/plt), else bare code that
    imports matplotlib. svg: a ```svg/```xml fence or a bare ``<svg …</svg>``. table: a
    ```html/```markdown fence, a bare ``<table …</table>`` or a markdown pipe table.
    An unclosed fence (a truncated response) counts up to the end of the text.
    """
    check_task(task)
    if not isinstance(response, str) or not response.strip():
        return None
    blocks = _fenced_blocks(response)
    if task == "chart":
        chosen = _pick([b for lang, b in blocks if lang in _LANGS["chart"] or lang == ""], "plt")
        if chosen and ("import" in chosen or "plt." in chosen):
            return chosen
        m = re.search(r"^(?:import|from)\s+\S.*", response, re.DOTALL | re.MULTILINE)
        if m and "matplotlib" in m.group(0):
            return m.group(0).split("```")[0].strip()
        return None
    if task == "svg":
        for lang, body in reversed(blocks):
            if lang in _LANGS["svg"] or lang == "":
                m = _SVG.search(body) or _SVG_OPEN.search(body)
                if m:
                    return m.group(0).strip()
        m = _SVG.search(response) or _SVG_OPEN.search(response)
        return m.group(0).strip() if m else None
    # table
    for lang, body in reversed(blocks):
        if lang in _LANGS["table"] or lang == "":
            m = _TABLE.search(body)
            if m:
                return m.group(0).strip()
            pipe = _pipe_table(body)
            if pipe:
                return pipe
    m = _TABLE.search(response)
    if m:
        return m.group(0).strip()
    return _pipe_table(response)
