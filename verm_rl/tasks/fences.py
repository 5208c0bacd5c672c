"""Finding programs in model responses: fenced blocks (a truncated, unclosed fence counts up to the end)."""

from __future__ import annotations

import re

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(language in lower case, body) of every fenced block, in order."""
    return [(m.group(1).lower(), m.group(2)) for m in _FENCE.finditer(text)]


def pick(blocks: list[str], marker: str) -> str | None:
    """The last block that contains ``marker``, else the longest one."""
    blocks = [b.strip("\n") for b in blocks if b.strip()]
    if not blocks:
        return None
    with_marker = [b for b in blocks if marker in b.lower()]
    return with_marker[-1] if with_marker else max(blocks, key=len)


def blocks_in(text: str, langs: tuple[str, ...]) -> list[str]:
    """Bodies of the blocks fenced with one of ``langs`` or with no language, in order."""
    return [body for lang, body in fenced_blocks(text) if lang in langs or lang == ""]
