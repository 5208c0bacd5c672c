"""Table perturbations, made on the markup text itself (HTML cells/rows or markdown pipe rows)."""

from __future__ import annotations

import random
import re

from verm_rl.data.inject.base import WORD_SWAPS, Injector, NotApplicable, Perturbation, error
from verm_rl.judge.structural import rules
from verm_rl.judge.structural.table import parse_table

_ROW = re.compile(r"<tr\b[^>]*>.*?</tr\s*>", re.DOTALL | re.IGNORECASE)
_CELL = re.compile(r"<(td|th)\b([^>]*)>(.*?)</\1\s*>", re.DOTALL | re.IGNORECASE)
_COLSPAN = re.compile(r"""<(th|td)\b([^>]*?)\bcolspan\s*=\s*["']?(\d+)["']?([^>]*)>(.*?)</\1\s*>""",
                      re.DOTALL | re.IGNORECASE)


def _is_html(source: str) -> bool:
    return bool(re.search(r"<\s*table\b", source, re.IGNORECASE))


def _new_number(text: str, rng: random.Random) -> str:
    value = float(text.replace(",", ""))
    decimals = len(text.split(".")[1]) if "." in text else 0
    factor = rng.uniform(0.3, 0.9)
    new = value * (1 + factor if rng.random() < 0.5 else 1 - factor) + (7 if abs(value) < 1 else 0)
    out = f"{new:.{decimals}f}"
    return out if out != text else f"{new + 1:.{decimals}f}"


def _new_text(text: str, rng: random.Random) -> str:
    return next(w for w in rng.sample(WORD_SWAPS, len(WORD_SWAPS)) if w != text)


def _body_cells_html(source: str) -> list[re.Match]:
    return [m for m in _CELL.finditer(source) if m.group(1).lower() == "td"]


def _md_lines(source: str) -> tuple[list[str], list[int]]:
    lines = source.splitlines()
    rows = [i for i, ln in enumerate(lines) if ln.strip().startswith("|")]
    return lines, rows


def _md_cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _md_join(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _edit_cell(source: str, rng: random.Random, numeric: bool) -> Perturbation:
    def fits(text: str) -> bool:
        return rules.is_numeric(text) == numeric and bool(text.strip())

    if _is_html(source):
        cells = [m for m in _body_cells_html(source) if fits(m.group(3).strip())]
        if not cells:
            raise NotApplicable("no such cell")
        m = rng.choice(cells)
        old = m.group(3).strip()
        new = _new_number(old, rng) if numeric else _new_text(old, rng)
        source = source[:m.start(3)] + new + source[m.end(3):]
    else:
        lines, rows = _md_lines(source)
        body = rows[2:]
        options = [(i, j) for i in body for j, c in enumerate(_md_cells(lines[i])) if fits(c)]
        if not options:
            raise NotApplicable("no such cell")
        i, j = rng.choice(options)
        cells = _md_cells(lines[i])
        old = cells[j]
        cells[j] = new = _new_number(old, rng) if numeric else _new_text(old, rng)
        lines[i] = _md_join(cells)
        source = "\n".join(lines)
    if numeric:
        label = error("numeric", rules.TABLE_SEVERITY["numeric_cell"], "", f"'{old}' reads '{new}'")
        return Perturbation("numeric_cell", source, [label])
    return Perturbation("text_cell", source, [error("text", rules.text_severity("cell", old, new), "",
                                                   f"'{old}' reads '{new}'")])


def table_numeric_cell(source: str, rng: random.Random) -> Perturbation:
    return _edit_cell(source, rng, numeric=True)


def table_text_cell(source: str, rng: random.Random) -> Perturbation:
    return _edit_cell(source, rng, numeric=False)


def table_drop_row(source: str, rng: random.Random) -> Perturbation:
    grid = parse_table(source)
    if grid.shape[0] < 3:
        raise NotApplicable("too few rows")
    if _is_html(source):
        rows = list(_ROW.finditer(source))
        body = [m for m in rows if "<td" in m.group(0).lower() and "rowspan" not in m.group(0).lower()]
        if len(body) < 2:
            raise NotApplicable("too few body rows")
        m = rng.choice(body)
        source = source[:m.start()] + source[m.end():]
    else:
        lines, rows = _md_lines(source)
        if len(rows) < 4:
            raise NotApplicable("too few body rows")
        del lines[rng.choice(rows[2:])]
        source = "\n".join(lines)
    return Perturbation("drop_row", source, [error("layout", rules.count_severity(-1), "", "a row is missing")])


def table_drop_column(source: str, rng: random.Random) -> Perturbation:
    grid = parse_table(source)
    if grid.spans or grid.shape[1] < 3:
        raise NotApplicable("spans or too few columns")
    j = rng.randrange(1, grid.shape[1])
    if _is_html(source):
        def drop(row: re.Match) -> str:
            cells = list(_CELL.finditer(row.group(0)))
            if j >= len(cells):
                return row.group(0)
            text = row.group(0)
            return text[:cells[j].start()] + text[cells[j].end():]

        source = _ROW.sub(drop, source)
    else:
        lines, rows = _md_lines(source)
        for i in rows:
            cells = _md_cells(lines[i])
            if j < len(cells):
                del cells[j]
            lines[i] = _md_join(cells)
        source = "\n".join(lines)
    return Perturbation("drop_column", source, [error("layout", rules.count_severity(-1), "",
                                                          f"column {j + 1} is missing")])


def table_split_span(source: str, rng: random.Random) -> Perturbation:
    spans = [m for m in _COLSPAN.finditer(source) if int(m.group(3)) > 1]
    if not spans:
        raise NotApplicable("no colspan")
    m = rng.choice(spans)
    tag, text, n = m.group(1), m.group(5), int(m.group(3))
    source = source[:m.start()] + "".join(f"<{tag}>{text}</{tag}>" for _ in range(n)) + source[m.end():]
    return Perturbation("split_span", source, [error("layout", rules.TABLE_SEVERITY["spans"], "",
                                                         f"merged cell '{text}' split into {n}")])


TABLE_PERTURBATIONS = {
    "numeric_cell": table_numeric_cell, "text_cell": table_text_cell, "drop_row": table_drop_row,
    "drop_column": table_drop_column, "split_span": table_split_span,
}


CATEGORY = {"numeric_cell": "numeric", "text_cell": "text", "drop_row": "layout", "drop_column": "layout",
            "split_span": "layout"}
FIRST = {"drop_row", "drop_column", "split_span"}  # re-indexing edits first: later ones label what is left
LAST: set[str] = set()
PERTURBATIONS = TABLE_PERTURBATIONS  # kind -> perturbation, the name every injector module shares

INJECTOR = Injector(PERTURBATIONS, CATEGORY, first=frozenset(FIRST), last=frozenset(LAST))
