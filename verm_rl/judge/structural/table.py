"""Tables as cell grids (markdown or HTML, row/col spans expanded) and their comparison.

Layout: row count, column count, merged cells (spans), header rows. Content: cells of aligned
rows and columns (a global alignment by cell agreement when the shapes differ), numeric cells as numeric_error,
other cells as text_error. Cells covered by a span in either table are not compared as text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

from verm_rl.judge.schema import JudgedError
from verm_rl.judge.structural import rules
from verm_rl.similarity.teds import to_html


@dataclass
class TableGrid:
    cells: list[list[str]]  # expanded grid; covered positions hold the origin cell's text
    covered: set[tuple[int, int]] = field(default_factory=set)  # non-origin positions of spans
    spans: set[tuple[int, int, int, int]] = field(default_factory=set)  # (row, col, rowspan, colspan) > 1
    header_rows: int = 0

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.cells), max((len(r) for r in self.cells), default=0)


class _TableParser(HTMLParser):
    """Collects the first table's rows as [(text, rowspan, colspan, is_header)]."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[tuple[str, int, int, bool]]] = []
        self.depth = 0
        self.cell: list[str] | None = None
        self.cell_attrs: tuple[int, int, bool] = (1, 1, False)
        self.done = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if self.done:
            return
        if tag == "table":
            self.depth += 1
        elif self.depth == 1 and tag == "tr":
            self.rows.append([])
        elif self.depth == 1 and tag in ("td", "th"):
            a = dict(attrs)
            self.cell = []
            self.cell_attrs = (_span(a.get("rowspan")), _span(a.get("colspan")), tag == "th")
            if not self.rows:
                self.rows.append([])
        elif self.cell is not None and tag == "br":
            self.cell.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if self.done:
            return
        if tag in ("td", "th") and self.cell is not None and self.depth == 1:
            self.rows[-1].append((" ".join("".join(self.cell).split()), *self.cell_attrs))
            self.cell = None
        elif tag == "table":
            self.depth -= 1
            if self.depth == 0:
                self.done = True

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def _span(value: str | None) -> int:
    try:
        return max(1, min(int(str(value).strip()), 1000))
    except (TypeError, ValueError):
        return 1


def parse_table(source: str) -> TableGrid:
    """The first table in ``source`` (HTML or markdown) as an expanded grid."""
    parser = _TableParser()
    parser.feed(to_html(source))
    parser.close()
    grid: dict[tuple[int, int], str] = {}
    covered: set[tuple[int, int]] = set()
    spans: set[tuple[int, int, int, int]] = set()
    header_rows = 0
    for r, row in enumerate(parser.rows):
        c = 0
        if row and all(is_header for *_, is_header in row):
            header_rows = r + 1 if header_rows == r else header_rows
        for text, rs, cs, _ in row:
            while (r, c) in grid:
                c += 1
            for dr in range(rs):
                for dc in range(cs):
                    grid[(r + dr, c + dc)] = text
                    if dr or dc:
                        covered.add((r + dr, c + dc))
            if rs > 1 or cs > 1:
                spans.add((r, c, rs, cs))
            c += cs
    n_rows = max((r for r, _ in grid), default=-1) + 1
    n_cols = max((c for _, c in grid), default=-1) + 1
    cells = [[grid.get((r, c), "") for c in range(n_cols)] for r in range(n_rows)]
    return TableGrid(cells, covered, spans, header_rows)


def _err(category: str, severity: int, description: str) -> JudgedError:
    return JudgedError(f"{category}_error", severity, "", description)


GAP_COST = 0.6  # skipping a row/column; matching two rows costs the share of their cells that differ


def _mismatch(a: tuple, b: tuple) -> float:
    n = max(len(a), len(b), 1)
    return 1.0 - sum(rules.normalise_text(x) == rules.normalise_text(y) for x, y in zip(a, b)) / n


def _align(a: list[tuple], b: list[tuple]) -> list[tuple[int, int]]:
    """Index pairs of matching items (rows or columns), in order. Equal counts pair by position;
    otherwise a global alignment (Needleman–Wunsch) where matching costs the share of differing
    cells, so a dropped row next to an edited one does not shift the pairing."""
    if len(a) == len(b):
        return list(zip(range(len(a)), range(len(b))))
    n, m = len(a), len(b)
    cost = [[0.0] * (m + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        cost[i][0] = i * GAP_COST
    for j in range(1, m + 1):
        cost[0][j] = j * GAP_COST
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            cost[i][j] = min(cost[i - 1][j - 1] + _mismatch(a[i - 1], b[j - 1]),
                             cost[i - 1][j] + GAP_COST, cost[i][j - 1] + GAP_COST)
    pairs, i, j = [], n, m
    while i and j:
        if abs(cost[i][j] - (cost[i - 1][j - 1] + _mismatch(a[i - 1], b[j - 1]))) < 1e-9:
            pairs.append((i - 1, j - 1))
            i, j = i - 1, j - 1
        elif abs(cost[i][j] - (cost[i - 1][j] + GAP_COST)) < 1e-9:
            i -= 1
        else:
            j -= 1
    return pairs[::-1]


def _cell_error(ref: str, cand: str, where: str) -> JudgedError | None:
    if rules.normalise_text(ref) == rules.normalise_text(cand):
        return None
    if rules.is_numeric(ref) or rules.is_numeric(cand):
        return _err("numeric", rules.TABLE_SEVERITY["numeric_cell"], f"{where}: '{ref}' vs '{cand}'")
    return _err("text", rules.text_severity("cell", ref, cand), f"{where}: '{ref}' vs '{cand}'")


def compare_tables(ref: TableGrid, cand: TableGrid) -> list[JudgedError]:
    errs: list[JudgedError] = []
    (ra, ca), (rb, cb) = ref.shape, cand.shape
    if ra != rb:
        errs.append(_err("layout", rules.count_severity(rb - ra), f"{ra} rows vs {rb}"))
    if ca != cb:
        errs.append(_err("layout", rules.count_severity(cb - ca), f"{ca} columns vs {cb}"))
    if ref.spans != cand.spans and ra == rb and ca == cb:
        spans = f"{sorted(ref.spans)} vs {sorted(cand.spans)}"
        errs.append(_err("layout", rules.TABLE_SEVERITY["spans"], f"merged cells differ: {spans}"))
    if ref.header_rows != cand.header_rows and ra == rb:
        headers = f"{ref.header_rows} header rows vs {cand.header_rows}"
        errs.append(_err("layout", rules.TABLE_SEVERITY["header_rows"], headers))
    rows = _align([tuple(r) for r in ref.cells], [tuple(r) for r in cand.cells])
    col_a = [tuple(ref.cells[i][j] for i, _ in rows if j < len(ref.cells[i])) for j in range(ca)]
    col_b = [tuple(cand.cells[k][j] for _, k in rows if j < len(cand.cells[k])) for j in range(cb)]
    cols = _align(col_a, col_b)
    for i, k in rows:
        for j, m in cols:
            if (i, j) in ref.covered or (k, m) in cand.covered:
                continue
            a = ref.cells[i][j] if j < len(ref.cells[i]) else ""
            b = cand.cells[k][m] if m < len(cand.cells[k]) else ""
            err = _cell_error(a, b, f"row {i + 1}, column {j + 1}")
            if err:
                errs.append(err)
    return errs


def compare(reference: str, candidate: str, reference_trace: dict | None = None, candidate_trace: dict | None = None
            ) -> list[JudgedError]:
    """The task registry's comparer for tables (``TaskSpec.comparer``): the two markups' cell grids compared."""
    return compare_tables(parse_table(reference), parse_table(candidate))
