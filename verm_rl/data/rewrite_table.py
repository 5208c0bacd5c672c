"""Table rewrites that render the same: markdown spacing, markdown and HTML for one another, HTML
formatting, ``<thead>``/``<tbody>`` sections, character references. See ``rewrite``."""

from __future__ import annotations

import random
import re
from collections.abc import Callable

from verm_rl.data.inject import NotApplicable

_HTML_TABLE = re.compile(r"<\s*table\b", re.IGNORECASE)


def _md_rows(source: str) -> list[list[str]]:
    """The rows of a markdown table (separator row included); ``NotApplicable`` for HTML or no table."""
    if _HTML_TABLE.search(source):
        raise NotApplicable("not a markdown table")
    rows = [[c.strip() for c in ln.strip().strip("|").split("|")] for ln in source.splitlines() if ln.strip()]
    if len(rows) < 2:
        raise NotApplicable("no table")
    return rows


def _require_html(source: str) -> None:
    if not _HTML_TABLE.search(source):
        raise NotApplicable("not HTML")


def table_markdown_spacing(source: str, rng: random.Random) -> str:
    """A markdown table with other spacing: tight pipes, padded columns, longer separators."""
    rows = _md_rows(source)
    body = [r for i, r in enumerate(rows) if i != 1]
    widths = [max(len(r[j]) if j < len(r) else 0 for r in body) for j in range(len(rows[0]))]
    style = rng.choice(["tight", "padded"])
    out = []
    for i, r in enumerate(rows):
        if i == 1:
            cells = ["-" * max(3, w) for w in widths] if style == "padded" else ["---"] * len(widths)
        else:
            cells = [c.ljust(w) for c, w in zip(r, widths)] if style == "padded" else r
        out.append(("| " + " | ".join(cells) + " |") if style == "padded" else ("|" + "|".join(cells) + "|"))
    return "\n".join(out) + "\n"


def table_markdown_to_html(source: str, rng: random.Random) -> str:
    """A markdown table written as HTML (header row as ``<th>`` in ``<thead>``)."""
    import html

    rows = _md_rows(source)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows[2:])
    sep = "\n" if rng.random() < 0.5 else ""
    return f"<table>{sep}<thead><tr>{head}</tr></thead>{sep}<tbody>{body}</tbody>{sep}</table>"


def table_html_to_markdown(source: str, rng: random.Random) -> str:
    """An HTML table without spans, headed by one row of ``<th>``, written as markdown."""
    from verm_rl.judge.structural.table import parse_table

    _require_html(source)
    grid = parse_table(source)
    if grid.spans or grid.header_rows != 1 or any("|" in c for r in grid.cells for c in r):
        raise NotApplicable("spans, no single header row, or pipes in cells")
    lines = ["| " + " | ".join(grid.cells[0]) + " |", "|" + "|".join(["---"] * len(grid.cells[0])) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in grid.cells[1:]]
    return "\n".join(lines) + "\n"


def table_html_formatting(source: str, rng: random.Random) -> str:
    """HTML written differently: indentation and newlines between tags, upper-case tags, unquoted
    attribute values."""
    _require_html(source)
    out = re.sub(r">\s*<(/?)(table|tr|thead|tbody)\b", lambda m: f">\n  <{m.group(1)}{m.group(2)}", source)
    if rng.random() < 0.5:
        out = re.sub(r"<(/?)(table|tr|td|th|thead|tbody)\b", lambda m: f"<{m.group(1)}{m.group(2).upper()}", out)
    out = re.sub(r'(rowspan|colspan)="(\d+)"', r"\1=\2", out)
    if out == source:
        raise NotApplicable("nothing to reformat")
    return out


def table_html_sections(source: str, rng: random.Random) -> str:
    """Leading all-``<th>`` rows wrapped in ``<thead>``, the rest in ``<tbody>``."""
    if not _HTML_TABLE.search(source) or re.search(r"<\s*t(head|body)\b", source, re.IGNORECASE):
        raise NotApplicable("not HTML, or already sectioned")
    rows = list(re.finditer(r"<tr\b[^>]*>.*?</tr\s*>", source, re.DOTALL | re.IGNORECASE))
    head = 0
    while head < len(rows) and not re.search(r"<td\b", rows[head].group(0), re.IGNORECASE):
        head += 1
    if not head or head == len(rows):
        raise NotApplicable("no header rows or no body rows")
    start, split, end = rows[0].start(), rows[head].start(), rows[-1].end()
    return (source[:start] + "<thead>" + source[start:split] + "</thead><tbody>" + source[split:end] + "</tbody>"
            + source[end:])


def table_html_entities(source: str, rng: random.Random) -> str:
    """Cell text with some characters written as character references (``&#52;`` for ``4``)."""
    _require_html(source)

    def cell(m: re.Match) -> str:
        text = "".join(f"&#{ord(c)};" if c.isalnum() and rng.random() < 0.3 else c for c in m.group(3))
        return f"<{m.group(1)}{m.group(2)}>{text}</{m.group(1)}>"

    out = re.sub(r"<(td|th)\b([^>]*)>([^<]*)</\1\s*>", cell, source, flags=re.IGNORECASE)
    if out == source:
        raise NotApplicable("no cell text")
    return out


TABLE_REWRITES: dict[str, Callable[[str, random.Random], str]] = {
    "html_sections": table_html_sections, "html_entities": table_html_entities,
    "markdown_spacing": table_markdown_spacing, "markdown_to_html": table_markdown_to_html,
    "html_to_markdown": table_html_to_markdown, "html_formatting": table_html_formatting,
}
