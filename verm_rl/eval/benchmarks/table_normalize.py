"""OmniDocBench's HTML table normalisation (evaluation.md §3.2; OmniDocBench
``utils/data_preprocess.py`` ``normalized_html_table``), applied to the ground truth and the prediction
before TEDS and edit distance:

1. no ``<table`` (spaces removed, ``'`` → ``"``) → ``""``;
2. BeautifulSoup (``html.parser``): ``th`` → ``td``, unwrap ``thead``, ``<math alttext=X>`` → ``$X$``,
   unwrap ``span``;
3. ``html.unescape``, delete ``\\n``, Unicode NFKC, strip;
4. keep what lies between the first ``<table…>`` and the last ``</table>`` (greedy);
5. delete `` style/height/width/align/class="…"`` attributes (non-greedy) and every ``<tbody>``/``</tbody>``;
6. collapse whitespace runs to one space;
7. wrap as ``<html><body><table border="1" >…</table></body></html>``;
8. delete the bare tags ``<sup> </sup> <sub> </sub> <span> </span> <div> </div> <p> </p>``, the
   ``<spandata-span-identity="">`` artefact and every ``<colgroup>…</colgroup>``.
"""

from __future__ import annotations

import html
import re
import unicodedata

_TABLE_BODY = re.compile(r"<table\b[^>]*>(.*)</table>", re.DOTALL | re.IGNORECASE)
_ATTRIBUTES = [re.compile(f'( {name}=".*?")') for name in ("style", "height", "width", "align", "class")]
_TBODY = re.compile("</?tbody>")
_SPACES = re.compile(r"\s+")
_COLGROUP = re.compile("<colgroup>.*?</colgroup>")
_BARE_TAGS = ("<sup>", "</sup>", "<sub>", "</sub>", "<span>", "</span>", "<div>", "</div>", "<p>", "</p>",
              '<spandata-span-identity="">')


def _soup_edits(text: str) -> str:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(text, "html.parser")
    for th in soup.find_all("th"):
        th.name = "td"
    for thead in soup.find_all("thead"):
        thead.unwrap()
    for math in soup.find_all("math"):
        alttext = f"${math.get('alttext', '')}$"
        math.replace_with(alttext)
    for span in soup.find_all("span"):
        span.unwrap()
    return str(soup)


def normalized_html_table(text: str | None) -> str:
    """The normalised document of the table(s) in ``text``, or ``""`` when it has no ``<table``."""
    if not text or "<table" not in text.replace(" ", "").replace("'", '"'):
        return ""
    out = html.unescape(_soup_edits(text)).replace("\n", "")
    out = unicodedata.normalize("NFKC", out).strip()
    out = "".join(_TABLE_BODY.findall(out))
    for pattern in _ATTRIBUTES:
        out = pattern.sub("", out)
    out = _TBODY.sub("", out)
    out = _SPACES.sub(" ", out)
    out = '<html><body><table border="1" >' + out + "</table></body></html>"
    for tag in _BARE_TAGS:
        out = out.replace(tag, "")
    return _COLGROUP.sub("", out)


def markdown_tables_to_html(text: str) -> str:
    """Markdown pipe tables (≥ 2 ``|…|`` lines) rewritten as HTML the way OmniDocBench's end-to-end
    parser does: first row → ``<th>`` cells in ``<thead>``, the separator row dropped, other rows →
    ``<td>``; cells = the pieces between the first and last ``|``. No spans are possible. Used only
    with ``markdown_tables=True`` (the recognition protocol scores markdown as 0)."""
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        j = i
        while j < len(lines) and re.match(r"^\s*\|.*\|\s*$", lines[j]):
            j += 1
        if j - i >= 2:
            rows = [[c.strip() for c in line.strip().split("|")[1:-1]] for line in lines[i:j]]
            body = [r for k, r in enumerate(rows) if not (k == 1 and all(re.fullmatch(r":?-+:?", c) for c in r if c))]
            head = "".join(f"<th>{html.escape(c, quote=False)}</th>" for c in body[0])
            rest = "".join("<tr>" + "".join(f"<td>{html.escape(c, quote=False)}</td>" for c in r) + "</tr>"
                           for r in body[1:])
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rest}</tbody></table>")
            i = j
        else:
            out.append(lines[i])
            i += 1
    return "\n".join(out)
