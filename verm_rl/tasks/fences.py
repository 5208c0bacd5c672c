"""Finding programs in model responses: fenced blocks (a truncated, unclosed fence counts up to the end)."""

from __future__ import annotations

import re

_LANG = re.compile(r"[ \t]*([A-Za-z0-9_+-]*)")
_LANG_FENCE = re.compile(r"```[ \t]*[A-Za-z0-9_+-]")


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(language in lower case, body) of every fenced block, in order. A scan with ``str.find``, linear in
    the text (a regex with ``[^\\n]*\\n`` after each fence is quadratic on a line of repeated fences)."""
    out, pos = [], 0
    while (start := text.find("```", pos)) >= 0 and (newline := text.find("\n", start + 3)) >= 0:
        end = text.find("```", newline + 1)
        lang = _LANG.match(text, start + 3, newline).group(1).lower()
        out.append((lang, text[newline + 1:] if end < 0 else text[newline + 1:end]))
        if end < 0:
            break
        pos = end + 3
    return out


def has_language_fence(text: str) -> bool:
    """Whether ``text`` opens a fence with a language name on a line that ends (VinciCoder's format reward):
    what ``re.search(r"```[ \\t]*[A-Za-z0-9_+-]+[^\\n]*\\n", text)`` finds, in linear time (that regex is
    quadratic on a line of repeated ```` ```x ````: 0.9 s for 100k characters). The name's first character
    before the last newline is enough: a newline then follows it."""
    last_newline = text.rfind("\n")
    return last_newline > 0 and _LANG_FENCE.search(text, 0, last_newline) is not None


def first_element(text: str, tag: str, last_close: bool = False) -> re.Match | None:
    """The span from the first ``<tag`` to the first (or, ``last_close``, the last) ``</tag>`` after it, as
    ``<tag\\b.*?</tag\\s*>`` (or ``.*``) would match, found in linear time (those regexes are quadratic on
    a response of repeated unclosed tags). ``None`` when there is no closing tag after the first opening."""
    opening = re.search(rf"<{tag}\b", text, re.IGNORECASE)
    if opening is None:
        return None
    closings = re.compile(rf"</{tag}\s*>", re.IGNORECASE).finditer(text, opening.end())
    closing = next(closings, None)
    if last_close:
        closing = next((m for m in reversed(list(closings))), closing)
    return None if closing is None else re.compile(r".*", re.DOTALL).match(text, opening.start(), closing.end())


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
