"""olmOCR-Bench table tests: relations worked out by hand on markdown and HTML tables (spans,
headings, empty cells, normalisation, fuzzy threshold), then the benchmark end to end on a real PDF."""

from __future__ import annotations

import json

import pytest

from tests.eval.benchmarks.fixtures import answer_by_colour
from verm_rl.eval.benchmarks.olmocr_tables import normalize_text, run_table_test
from verm_rl.eval.benchmarks.runner import EvalConfig, evaluate

MD = """Some text.

| Name | Q1 | Q2 |
|---|:-:|---|
| Apples | 10 | 20 |
| **Pears** | 30 | – 5 |

More text."""

HTML = ('<table><thead><tr><th rowspan="2">Region</th><th colspan="2">Sales</th></tr>'
        "<tr><th>2023</th><th>2024</th></tr></thead><tbody><tr><td>North</td><td>5</td><td>7</td></tr>"
        "<tr><td>South</td><td></td><td>9</td></tr></tbody></table>")


def t(**kw):
    return {"pdf": "x.pdf", "page": 1, "id": "t", "type": "table", "max_diffs": 0, **kw}


def test_normalisation():
    assert normalize_text("**Pears**  <br>“ok” – µm") == 'Pears "ok" - μm'
    assert normalize_text("_it_ and <b>b</b>") == "it and b"


@pytest.mark.parametrize("test,passed", [
    (t(cell="20", left="10", up="Q2", top_heading="Q2", left_heading="Apples"), True),
    (t(cell="Pears", right="30", up="Apples"), True),  # bold stripped before matching
    (t(cell="- 5", left="30"), True),  # en dash folded to "-"
    (t(cell="10", right="30"), False),
    (t(cell="Bananas"), False),
    (t(cell="Aples", max_diffs=1), True),  # ratio 10/11 >= max(0.5, 1 - 1/5)
    (t(cell="Aples"), False),  # max_diffs 0: exact after normalisation
    (t(cell="Name", up="x"), False),  # nothing above row 0: the relation fails
])
def test_markdown_relations(test, passed):
    assert run_table_test(test, MD)[0] is passed


@pytest.mark.parametrize("test,passed", [
    (t(cell="7", top_heading="Sales"), True),  # 7 -> 2024 (th) -> Sales (th, spans the column)
    (t(cell="7", top_heading="2024"), True),
    (t(cell="Sales", down="2023"), True),  # a colspan cell has a neighbour below each column it spans
    (t(cell="Sales", down="2024"), True),
    (t(cell="9", up="7"), True),
    (t(cell="South", right="9"), True),  # the empty cell is skipped
    (t(cell="9", left="South"), True),
    (t(cell="North", up="Region"), True),  # Region's rowspan covers the slot above North
    (t(cell="5", left_heading="North"), True),  # no th to the left: the walk's end cell
    (t(cell="Region", up="x"), False),
    (t(cell="5", right="9"), False),
])
def test_html_relations_with_spans(test, passed):
    assert run_table_test(test, HTML)[0] is passed


def test_rowspan_zero_and_no_tables():
    html = '<table><tr><td rowspan="0">A</td><td>1</td></tr><tr><td>2</td></tr></table>'
    assert run_table_test(t(cell="2", left="A"), html)[0]
    assert run_table_test(t(cell="2", left="A"), html.replace('"0"', '"x"'))[0] is False  # invalid span -> 1
    ok, why = run_table_test(t(cell="A"), "no table here")
    assert not ok and "no tables" in why
    assert run_table_test(t(cell="Apples", ignore_markdown_tables=True), MD)[0] is False


def make_olmocr(root):
    """bench_data/table_tests.jsonl + pdfs/tables/{red,blue}.pdf (one page each, drawn by matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    (root / "pdfs" / "tables").mkdir(parents=True)
    for name, colour in (("red", "#ff0000"), ("blue", "#0000ff")):
        fig = plt.figure(figsize=(2, 1.5), facecolor=colour)
        fig.savefig(root / "pdfs" / "tables" / f"{name}.pdf", facecolor=colour)
        plt.close(fig)
    tests = [t(pdf="tables/red.pdf", id="r1", cell="20", left="10"),
             t(pdf="tables/red.pdf", id="r2", cell="Pears", up="Apples"),
             t(pdf="tables/blue.pdf", id="b1", cell="7", top_heading="Sales"),
             t(pdf="tables/blue.pdf", id="b2", cell="9", up="5"),  # fails: 7 is above 9
             {**t(pdf="tables/blue.pdf", id="b3", cell="x"), "checked": "rejected"},
             {"pdf": "tables/red.pdf", "page": 1, "id": "p1", "type": "present", "text": "x"}]
    (root / "table_tests.jsonl").write_text("\n".join(json.dumps(x) for x in tests))
    return root


def test_end_to_end_on_pdfs_with_repeats(tmp_path, scripted_server):
    data = make_olmocr(tmp_path / "bench_data")
    server = scripted_server(answer_by_colour({(255, 0, 0): MD, (0, 0, 255): HTML}))
    cfg = EvalConfig("olmocr-table", data, tmp_path / "out", policy=server.url + "/v1", progress=False,
                     render_workers=1, policy_options={"model": "m", "retries": 0},
                     benchmark_options={"repeats": 2, "page_image_dim": 200})
    summary = evaluate(cfg)
    assert len(server.requests) == 4  # 2 pages x 2 repeats
    assert summary["metrics"] == {"TA": 75.0, "n_tests": 4, "n_passed": 3, "n_pages": 2, "repeats": 2}

    # native candidate files: one repeat of the red page failing makes r1/r2 0.5 -> not passed (> 0.5 needed)
    md = tmp_path / "md" / "tables"
    md.mkdir(parents=True)
    (md / "red_pg1_repeat1.md").write_text(MD)
    (md / "red_pg1_repeat2.md").write_text("nothing")
    (md / "blue_pg1_repeat1.md").write_text(HTML)
    (md / "blue_pg1_repeat2.md").write_text(HTML)
    cfg = EvalConfig("olmocr-table", data, tmp_path / "out2", predictions=tmp_path / "md", progress=False,
                     render_workers=1, benchmark_options={"repeats": 2})
    assert evaluate(cfg)["metrics"]["n_passed"] == 1
