"""olmOCR-Bench table tests ("TA"), the newer olmocr semantics (evaluation.md §4.2; olmocr
``bench/tests.py`` ``TableTest`` and ``bench/table_parsing.py``).

A test names a target ``cell`` and optionally the cells expected ``up``/``down``/``left``/``right`` of it
and its ``top_heading``/``left_heading``. It passes when some cell of some table in the output matches
``cell`` and satisfies every relation given:

- text is normalised first (``normalize_text``): ``<br>`` → space, bold/italic markers and ``<b>``/``<i>``
  removed, whitespace collapsed, NFC, curly quotes/dashes/µ folded;
- "matches" = rapidfuzz ``fuzz.ratio``/100 ≥ τ, τ = max(0.5, 1 − max_diffs/len(expected)) (len 0 → 1);
- tables: markdown (≥ 2 consecutive lines with ``|``; separator row dropped; leading/trailing empty cells
  dropped; spans 1; headings = row 0 and column 0) and HTML (every ``tr``'s direct ``th``/``td``;
  rowspan/colspan honoured, invalid → 1, ``rowspan="0"`` → to the last row; headings = ``th`` or cells in
  ``thead``; a cell's text sits at its top-left grid position);
- neighbours in a direction = the first non-empty cell met along every row/column the cell spans;
  headings = the heading cells met walking up (left) through neighbours, else the cells where the walk
  ends; a relation with no candidate cell fails.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

_REPLACEMENTS = {"‘": "'", "’": "'", "‚": "'", "“": '"', "”": '"', "„": '"', "＿": "_", "–": "-", "—": "-",
                 "‑": "-", "‒": "-", "−": "-", "\u00b5": "\u03bc"}
RELATIONS = ("up", "down", "left", "right", "top_heading", "left_heading")


def normalize_text(text: str | None) -> str:
    """olmocr's text normalisation, applied to expected strings and to every cell."""
    if text is None:
        return ""
    text = re.sub(r"<br/?>", " ", text)
    text = re.sub(r"\*\*(.*?)\*\*", r"\1", text)
    text = re.sub(r"__(.*?)__", r"\1", text)
    text = re.sub(r"</?b>", "", text)
    text = re.sub(r"</?i>", "", text)
    text = re.sub(r"(\*\*|__)(.*?)\1", r"\2", text)
    text = re.sub(r"(\*|_)(.*?)\1", r"\2", text)
    text = re.sub(r"\s+", " ", text)
    text = unicodedata.normalize("NFC", text)
    for fancy, plain in _REPLACEMENTS.items():
        text = text.replace(fancy, plain)
    return text


@dataclass
class Cell:
    row: int
    col: int
    text: str
    rowspan: int = 1
    colspan: int = 1
    heading: bool = False


@dataclass
class Table:
    """Cells by their top-left position and an occupancy grid (every covered slot → its cell)."""

    cells: dict[tuple[int, int], Cell] = field(default_factory=dict)
    grid: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)
    n_rows: int = 0
    n_cols: int = 0

    def add(self, cell: Cell) -> None:
        self.cells[(cell.row, cell.col)] = cell
        for r in range(cell.row, cell.row + cell.rowspan):
            for c in range(cell.col, cell.col + cell.colspan):
                self.grid.setdefault((r, c), (cell.row, cell.col))
        self.n_rows = max(self.n_rows, cell.row + cell.rowspan)
        self.n_cols = max(self.n_cols, cell.col + cell.colspan)

    def _walk(self, key: tuple[int, int], dr: int, dc: int) -> list[tuple[int, int]]:
        cell = self.cells[key]
        if dr:
            lanes = [(r0, c) for c in range(cell.col, cell.col + cell.colspan)
                     for r0 in [cell.row - 1 if dr < 0 else cell.row + cell.rowspan]]
        else:
            lanes = [(r, c0) for r in range(cell.row, cell.row + cell.rowspan)
                     for c0 in [cell.col - 1 if dc < 0 else cell.col + cell.colspan]]
        found: list[tuple[int, int]] = []
        for r, c in lanes:
            while 0 <= r < self.n_rows and 0 <= c < self.n_cols:
                owner = self.grid.get((r, c))
                if owner is not None and owner != key and self.cells[owner].text.strip():
                    if owner not in found:
                        found.append(owner)
                    break
                r, c = r + dr, c + dc
        return found

    def neighbours(self, key: tuple[int, int], relation: str) -> list[tuple[int, int]]:
        if relation in ("up", "down", "left", "right"):
            dr, dc = {"up": (-1, 0), "down": (1, 0), "left": (0, -1), "right": (0, 1)}[relation]
            return self._walk(key, dr, dc)
        step = "up" if relation == "top_heading" else "left"
        headings, ends, seen = [], [], set()
        frontier = self.neighbours(key, step)
        while frontier:
            k = frontier.pop(0)
            if k in seen:
                continue
            seen.add(k)
            if self.cells[k].heading:
                headings.append(k)
            further = self.neighbours(k, step)
            if not further:
                ends.append(k)
            frontier.extend(further)
        return headings or ends


_SEPARATOR = re.compile(r"^[\s:\-|]+$")


def parse_markdown_tables(text: str) -> list[Table]:
    tables: list[Table] = []
    block: list[str] = []
    for line in [*text.splitlines(), ""]:
        if "|" in line:
            block.append(line)
            continue
        if len(block) >= 2:
            table = Table()
            rows = [r for r in block if not (_SEPARATOR.match(r) and "-" in r)]
            for r, line_ in enumerate(rows):
                parts = [p.strip() for p in line_.strip().split("|")]
                while parts and parts[0] == "":
                    parts.pop(0)
                while parts and parts[-1] == "":
                    parts.pop()
                for c, value in enumerate(parts):
                    table.add(Cell(r, c, value, heading=(r == 0 or c == 0)))
            if table.cells:
                tables.append(table)
        block = []
    return tables


def _span(value: Any) -> int:
    try:
        n = int(str(value).strip())
    except (TypeError, ValueError):
        return 1
    return n if n >= 0 else 1


def parse_html_tables(text: str) -> list[Table]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(text, "html.parser")
    tables: list[Table] = []
    for element in soup.find_all("table"):
        rows = element.find_all("tr")
        table = Table()
        occupied: set[tuple[int, int]] = set()
        for r, tr in enumerate(rows):
            c = 0
            for td in tr.find_all(["td", "th"], recursive=False):
                while (r, c) in occupied:
                    c += 1
                rowspan = _span(td.get("rowspan", 1))
                rowspan = (len(rows) - r) if rowspan == 0 else rowspan
                colspan = max(1, _span(td.get("colspan", 1)) or 1)
                for br in td.find_all("br"):
                    br.replace_with("\n")
                heading = td.name == "th" or td.find_parent("thead") is not None
                table.add(Cell(r, c, td.get_text().strip(), rowspan, colspan, heading))
                for dr in range(rowspan):
                    for dc in range(colspan):
                        occupied.add((r + dr, c + dc))
                c += colspan
        if table.cells:
            tables.append(table)
    return tables


def _threshold(expected: str, max_diffs: int) -> float:
    return max(0.5, 1.0 - max_diffs / (len(expected) if expected else 1))


def run_table_test(test: dict[str, Any], content: str) -> tuple[bool, str]:
    """(passed, why not) of one table test record on one page's output."""
    from rapidfuzz import fuzz

    max_diffs = int(test.get("max_diffs", 0) or 0)
    target = normalize_text(test["cell"])
    wanted = {rel: normalize_text(test.get(rel) or "") for rel in RELATIONS}
    tables = [] if test.get("ignore_markdown_tables") else parse_markdown_tables(content)
    tables += parse_html_tables(content)
    if not tables:
        return False, "no tables found"
    reasons: list[str] = []
    for table in tables:
        matches = [k for k, cell in table.cells.items()
                   if fuzz.ratio(target, normalize_text(cell.text)) / 100.0 >= _threshold(target, max_diffs)]
        for key in matches:
            failed = []
            for rel, expected in wanted.items():
                if not expected:
                    continue
                tau = _threshold(expected, max_diffs)
                if not any(fuzz.ratio(expected, normalize_text(table.cells[k].text)) / 100.0 >= tau
                           for k in table.neighbours(key, rel)):
                    failed.append(f"{rel} is not {expected!r}")
            if not failed:
                return True, ""
            reasons.extend(failed)
    if not reasons:
        return False, f"no cell matches {target!r}"
    return False, "; ".join(dict.fromkeys(reasons))[:500]
