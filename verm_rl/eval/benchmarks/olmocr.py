"""olmOCR-Bench, table tests only ("TA", evaluation.md §4): the policy transcribes each test page; every
table test of the page runs on the transcription (``olmocr_tables.run_table_test``).

Data: ``--data`` is the bench folder (``bench_data/``) or one JSONL; every ``*.jsonl`` below it is read and
records with ``type == "table"`` kept (``checked == "rejected"`` ones dropped). PDFs are looked up at
``<jsonl dir>/pdfs/<pdf>`` (else ``<jsonl dir>/<pdf>``); a pre-rendered ``<pdf stem>_pg<page>.png`` next
to the PDF is used as is, otherwise the page is rasterised with pypdfium2 (longest side
``page_image_dim``, default 1288). Native predictions: a folder of ``<pdf stem>_pg<page>_repeat<k>.md``.

Score: with ``repeats`` generations per page, a test's score is the fraction of repeats that pass and
the test passes when it is above 0.5; TA = passed tests / all table tests × 100.
"""

from __future__ import annotations

import json
from collections import defaultdict
from functools import partial
from pathlib import Path
from typing import Any

from verm_rl.eval.benchmarks.base import BenchItem, Benchmark, DataError, ScoreContext, png_bytes, record
from verm_rl.eval.benchmarks.olmocr_tables import run_table_test

DEFAULT_PROMPT = (
    "<image>Transcribe this document page into Markdown, in reading order. Write every table as an HTML "
    "<table> (use <th> for header cells and rowspan/colspan for merged cells); keep all other text as "
    "Markdown. Output only the transcription.")


def _page_image(pdf: Path, page: int, longest: int) -> list[bytes]:
    pre = pdf.with_name(f"{pdf.stem}_pg{page}.png")
    if pre.exists():
        return [pre.read_bytes()]
    try:
        import pypdfium2 as pdfium
    except ImportError:
        raise DataError(f"{pdf}: rasterising needs pypdfium2 (pip install pypdfium2) or a {pre.name}") from None
    doc = pdfium.PdfDocument(str(pdf))
    try:
        p = doc[page - 1]
        width, height = p.get_size()
        image = p.render(scale=longest / max(width, height)).to_pil().convert("RGB")
        return [png_bytes(image)]
    finally:
        doc.close()


def run_page_tests(tests: list[dict[str, Any]], content: str) -> list[tuple[bool, str]]:
    return [run_table_test(t, content) for t in tests]


def _find_pdf(root: Path, name: str) -> Path:
    for candidate in (root / "pdfs" / name, root / name):
        if candidate.exists():
            return candidate
    return root / "pdfs" / name  # reported when the image is loaded


class OlmOCRTable(Benchmark):
    name = "olmocr-table"
    task = "table"
    headline = "pass_rate"

    def __init__(self, prompt_file: str | None = None, repeats: int = 1, page_image_dim: int = 1288):
        self.prompt = Path(prompt_file).read_text().strip() if prompt_file else DEFAULT_PROMPT
        self.repeats = max(1, int(repeats))
        self.page_image_dim = int(page_image_dim)

    @staticmethod
    def read_tests(data: Path) -> list[tuple[Path, dict[str, Any]]]:
        files = [data] if data.is_file() else sorted(data.rglob("*.jsonl"))
        tests = []
        for path in files:
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as e:
                    raise DataError(f"{path}:{n}: {e}") from None
                if row.get("type") != "table" or row.get("checked") == "rejected":
                    continue
                if not row.get("pdf") or not row.get("id") or not row.get("cell"):
                    raise DataError(f"{path}:{n}: a table test needs pdf, id and cell")
                tests.append((path.parent, row))
        return tests

    def load(self, data: Path, limit: int | None = None) -> list[BenchItem]:
        pages: dict[tuple[Path, str, int], list[dict[str, Any]]] = defaultdict(list)
        for root, test in self.read_tests(Path(data)):
            pages[(root, test["pdf"], int(test.get("page", 1)))].append(test)
        items = []
        for (root, pdf, page), tests in pages.items():
            stem = pdf[:-4] if pdf.lower().endswith(".pdf") else pdf
            loader = partial(_page_image, _find_pdf(root, pdf), page, self.page_image_dim)
            for k in range(1, self.repeats + 1):
                items.append(BenchItem(id=f"{stem}_pg{page}_repeat{k}", prompt=self.prompt, load_images=loader,
                                       reference={"tests": tests}, group=f"{stem}_pg{page}"))
            if limit is not None and len(items) >= limit:
                break
        return items

    def responses_from_dir(self, path: Path) -> dict[str, str]:
        return {str(p.relative_to(path).with_suffix("")): p.read_text(encoding="utf-8", errors="replace")
                for p in sorted(path.rglob("*.md"))}

    async def score(self, item: BenchItem, response: str | None, ctx: ScoreContext) -> dict[str, Any]:
        outcomes = await ctx.run_cpu(run_page_tests, item.reference["tests"], response or "")
        results = {t["id"]: {"passed": ok, "why": why} for t, (ok, why) in zip(item.reference["tests"], outcomes)}
        rate = sum(r["passed"] for r in results.values()) / len(results)
        return record(item, "ok" if response else "no_prediction", {"pass_rate": rate}, tests=results)

    def summarize(self, records: list[dict[str, Any]], n_items: int) -> dict[str, Any]:
        votes: dict[str, list[bool]] = defaultdict(list)
        for r in records:
            for test_id, res in r["detail"].get("tests", {}).items():
                votes[test_id].append(bool(res["passed"]))
        passed = sum(1 for v in votes.values() if sum(v) / self.repeats > 0.5)
        return {"TA": 100 * passed / len(votes) if votes else 0.0, "n_tests": len(votes),
                "n_passed": passed, "n_pages": len({r["group"] for r in records}), "repeats": self.repeats}
