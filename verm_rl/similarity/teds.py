"""TEDS / TEDS-S between two tables (HTML fragments, documents or markdown), in [0, 1] (1 = identical).

TEDS as PubTabNet's scorer (``src/metric.py``, reused by OmniDocBench) defines it; see
../shared/reference/evaluation.md §6 and arXiv 1911.10683 §V:
  TEDS(T_a, T_b) = 1 − APTED(T_a, T_b) / max(n_a, n_b),
n = number of elements *below* <table> in the lxml tree (root excluded, inline tags in cells included);
the tree has every element as a node, except that a ``td`` is a leaf carrying colspan, rowspan and its
content as a token list (single characters plus ``<tag>``/``</tag>`` tokens of nested elements).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_HTML_TABLE = re.compile(r"<\s*table\b", re.IGNORECASE)


@dataclass
class TableNode:
    """One APTED node: a tag; for ``td`` also its spans and content tokens (``None`` spans off-td)."""

    tag: str
    colspan: int | None = None
    rowspan: int | None = None
    content: list[str] = field(default_factory=list)
    children: list[TableNode] = field(default_factory=list)


def _cell_tokens(node: object) -> list[str]:
    """``<tag>``, the text's characters, the children's tokens, ``</tag>``, then the tail's characters
    (except for ``td`` tails); the cell's own ``<td>``/``</td>`` are dropped by the caller."""
    tag = node.tag if isinstance(node.tag, str) else "unk"
    tokens = [f"<{tag}>"]
    if node.text:
        tokens.extend(node.text)
    for child in node:
        tokens.extend(_cell_tokens(child))
    if tag != "unk":
        tokens.append(f"</{tag}>")
    if tag != "td" and node.tail:
        tokens.extend(node.tail)
    return tokens


def _build_tree(node: object, structure_only: bool) -> TableNode:
    tag = node.tag if isinstance(node.tag, str) else "unk"
    if tag == "td":
        content = [] if structure_only else _cell_tokens(node)[1:-1]
        return TableNode("td", int(node.attrib.get("colspan", "1")), int(node.attrib.get("rowspan", "1")), content)
    return TableNode(tag, children=[_build_tree(child, structure_only) for child in node])


def parse_html_table(document: str, ignore_nodes: tuple[str, ...] = ()) -> object | None:
    """The ``body/table`` element of ``document`` parsed by lxml's lenient HTML parser (comments
    removed), as PubTabNet does; ``None`` when the document is empty or has no such table."""
    if not document or not document.strip():
        return None
    from lxml import etree, html

    parser = html.HTMLParser(remove_comments=True, encoding="utf-8")
    try:
        root = html.fromstring(document, parser=parser)
    except (etree.ParserError, ValueError):
        return None
    if ignore_nodes:
        etree.strip_tags(root, *ignore_nodes)
    tables = root.xpath("body/table")
    return tables[0] if tables else None


def table_tree(table: object, structure_only: bool = False) -> TableNode:
    """The APTED tree of an lxml ``<table>`` element (``parse_html_table``)."""
    return _build_tree(table, structure_only)


def normalized_token_distance(a: list[str] | str, b: list[str] | str) -> float:
    """Levenshtein distance of two token sequences divided by the longer length (0 when both empty)."""
    from rapidfuzz.distance import Levenshtein

    longest = max(len(a), len(b))
    return Levenshtein.distance(a, b) / longest if longest else 0.0


def teds_html(pred: str, true: str, structure_only: bool = False, ignore_nodes: tuple[str, ...] = ()) -> float:
    """PubTabNet TEDS of two HTML *documents* (``<html><body><table>…``), exactly as the official scorer:
    0.0 when either is empty or lacks ``body/table``. Raises ``ValueError`` on a non-integer span (the
    official scorer raises too; OmniDocBench then scores the table 0)."""
    from apted import APTED, Config

    a, b = parse_html_table(pred, ignore_nodes), parse_html_table(true, ignore_nodes)
    if a is None or b is None:
        return 0.0

    class TedsConfig(Config):
        def rename(self, x: TableNode, y: TableNode) -> float:
            if x.tag != y.tag or x.colspan != y.colspan or x.rowspan != y.rowspan:
                return 1.0
            if x.tag == "td" and (x.content or y.content):
                return normalized_token_distance(x.content, y.content)
            return 0.0

        def children(self, node: TableNode) -> list[TableNode]:
            return node.children

    n = max(len(a.xpath(".//*")), len(b.xpath(".//*")))
    if n == 0:  # two empty tables: the official scorer divides by zero, OmniDocBench then scores 0
        return 0.0
    distance = APTED(table_tree(a, structure_only), table_tree(b, structure_only), TedsConfig()).compute_edit_distance()
    return float(1.0 - distance / n)


def to_html(source: str) -> str:
    """``source`` unchanged when it holds an HTML table, else its markdown rendered to HTML (CommonMark
    with pipe tables, raw HTML off), the one conversion the critic and TEDS share."""
    if _HTML_TABLE.search(source):
        return source
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).enable("table").render(source)


def markdown_to_plain_html(source: str) -> str:
    """A markdown pipe table as ``<table>`` rows of ``<td>`` (no thead, no th), as OmniDocBench's
    markdown conversion followed by its normalisation yields; HTML input is returned unchanged."""
    if _HTML_TABLE.search(source):
        return source
    out = to_html(source)
    for old, new in (("<thead>", ""), ("</thead>", ""), ("<tbody>", ""), ("</tbody>", ""), ("<th", "<td"),
                     ("</th>", "</td>")):
        out = out.replace(old, new)
    return out


def as_html_document(source: str) -> str:
    """``source`` (an HTML table fragment, a full document, or a markdown table) as a document whose
    ``body/table`` is the table: fragments are wrapped in ``<html><body>``."""
    html_source = markdown_to_plain_html(source)
    if re.search(r"<html[\s>]", html_source, re.IGNORECASE) or re.search(r"<body[\s>]", html_source, re.I):
        return html_source
    return f"<html><body>{html_source.strip()}</body></html>"


def teds(reference: str, candidate: str, structure_only: bool = False) -> float:
    """TEDS (or TEDS-S) between two tables given as HTML fragments, documents or markdown: PubTabNet's
    definition (``teds_html``) after wrapping fragments in ``<html><body>`` and turning markdown into
    plain ``td`` rows. No other normalisation: for OmniDocBench's, use
    ``verm_rl.eval.benchmarks.omnidocbench.table_scores``."""
    return teds_html(as_html_document(candidate), as_html_document(reference), structure_only)
