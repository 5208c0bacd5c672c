"""Render parity: our sandboxed renderers against a plain re-implementation of the released procedure.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/render_parity.py [--n 20] [--json out.json]

The released procedure, re-done here from its description (shared/reference/visual-erm-paper.md):
- chart: the program's own ``plt.savefig(...)``/``fig.savefig(...)``/``.show()`` calls are deleted
  by a non-greedy regex, ``plt.savefig(<png>)`` (default dpi, the current figure) is appended, and
  the file runs as ``python file.py`` in a subprocess;
- table: the table in a page without DOCTYPE (CSS on ``td`` only), a Chromium command-line
  screenshot of a 3600x2400 window, cropped to what differs from the top-left pixel + 12 px, then
  shrunk to <= 768 px; ours is compared after the judge's image step (which does that shrink);
- svg: cairosvg at 336x336 on white.
For each of ``--n`` synthetic programs per task: equal size? SSIM (grayscale, skimage). Then the
chart edge cases where the two procedures differ on purpose or by accident, with what each does.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageChops

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from verm_rl.data.synthetic import generate_references  # noqa: E402
from verm_rl.judge.profiles import profile_settings  # noqa: E402
from verm_rl.judge.prompts import encode_image  # noqa: E402

TASKS = ("chart", "table", "svg")
CANVAS = (3600, 2400)
PADDING, TABLE_SIDE = 12, 768
RELEASED_PAGE = """<html>
<head>
<meta charset="utf-8">
<style>
body { background: white; margin: 20px; }
table { border-collapse: collapse; font-family: Arial, sans-serif; font-size: 14px; }
td { border: 1px solid #333; padding: 6px 10px; }
</style>
</head>
<body>
%s
</body>
</html>
"""
_SAVE = re.compile(r"(?:plt|fig)\.savefig\s*\(.*?\)", re.DOTALL)
_SHOW = re.compile(r"(?:plt|fig)\.show\s*\(\s*\)")

# Chart programs whose savefig/figure handling tells the two procedures apart.
EDGE_CASES = {
    "own savefig with dpi=300 and bbox_inches='tight'": (
        "import matplotlib.pyplot as plt\nfig, ax = plt.subplots(figsize=(5, 3))\nax.plot([1, 3, 2])\n"
        "plt.savefig('out.png', dpi=300, bbox_inches='tight')\n"),
    "figure dpi set by the program (dpi=150)": (
        "import matplotlib.pyplot as plt\nfig, ax = plt.subplots(figsize=(5, 3), dpi=150)\nax.bar([1, 2], [3, 4])\n"),
    "savefig then plt.close()": (
        "import matplotlib.pyplot as plt\nfig, ax = plt.subplots(figsize=(5, 3))\nax.plot([1, 2])\n"
        "plt.savefig('a.png')\nplt.close()\n"),
    "savefig(os.path.join(...)) (nested parentheses)": (
        "import os\nimport matplotlib.pyplot as plt\nfig, ax = plt.subplots(figsize=(5, 3))\nax.plot([1, 2])\n"
        "plt.savefig(os.path.join('.', 'a.png'))\n"),
    "two figures, the first one saved": (
        "import matplotlib.pyplot as plt\nf1, a1 = plt.subplots(figsize=(5, 3))\na1.plot([1, 2])\n"
        "f2, a2 = plt.subplots(figsize=(3, 3))\na2.bar([1], [1])\nf1.savefig('a.png')\n"),
}


def released_chart(source: str, workdir: str, timeout_s: float = 15.0) -> bytes | None:
    """The released chart procedure (subprocess + regex-deleted savefig + appended savefig)."""
    code = source
    if "matplotlib.pyplot" not in code and "plt." in code:
        code = "import matplotlib.pyplot as plt\n" + code
    code = _SHOW.sub("# removed", _SAVE.sub("# removed", code))
    out = Path(workdir) / "released.png"
    script = Path(workdir) / "released.py"
    script.write_text(code + f"\n# appended\nimport matplotlib.pyplot as plt\nplt.savefig(r\"{out}\")")
    env = {**os.environ, "MPLBACKEND": "Agg"}
    try:
        subprocess.run([sys.executable, str(script)], cwd=workdir, env=env, capture_output=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return None
    return out.read_bytes() if out.exists() and out.stat().st_size else None


def table_body(source: str) -> str:
    """HTML for the table (markdown converted as our renderer does; the released reward inserted
    the response verbatim, so a markdown answer there was shown as text)."""
    if re.search(r"<\s*table\b", source, re.IGNORECASE):
        return source
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).enable("table").render(source)


def released_table(source: str, workdir: str, chromium: str) -> bytes | None:
    """The released table procedure: Chromium CLI screenshot at 3600x2400, crop + 12 px, ≤ 768 px."""
    page = Path(workdir) / "page.html"
    page.write_text(RELEASED_PAGE % table_body(source))
    shot = Path(workdir) / "shot.png"
    cmd = [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
           "--no-default-browser-check", "--disable-background-networking", "--disable-extensions", "--mute-audio",
           f"--user-data-dir={workdir}/profile", f"--screenshot={shot}", f"--window-size={CANVAS[0]},{CANVAS[1]}",
           page.as_uri()]
    subprocess.run(cmd, capture_output=True, timeout=60)
    return crop_and_shrink(shot.read_bytes()) if shot.exists() else None


class PlaywrightTables:
    """The same table procedure with one Playwright browser: a 3600x2400 viewport screenshot of the
    page (what the command-line screenshot captures), then the same crop and shrink. Much faster
    than a browser per table; for tests."""

    def __init__(self, chromium: str):
        from playwright.sync_api import sync_playwright

        self._pw = sync_playwright().start()
        self._browser = self._pw.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        self._page = self._browser.new_page(viewport={"width": CANVAS[0], "height": CANVAS[1]})

    def render(self, source: str) -> bytes:
        self._page.set_content(RELEASED_PAGE % table_body(source))
        return crop_and_shrink(self._page.screenshot())

    def close(self) -> None:
        self._browser.close()
        self._pw.stop()


def crop_and_shrink(png: bytes) -> bytes:
    """Crop to what differs from the top-left pixel + 12 px, shrink to ≤ 768 px, PNG."""
    img = Image.open(io.BytesIO(png)).convert("RGB")
    box = ImageChops.difference(img, Image.new("RGB", img.size, img.getpixel((0, 0)))).getbbox()
    if box:
        img = img.crop((max(0, box[0] - PADDING), max(0, box[1] - PADDING),
                        min(img.width, box[2] + PADDING), min(img.height, box[3] + PADDING)))
    img.thumbnail((TABLE_SIDE, TABLE_SIDE))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def released_svg(source: str) -> bytes | None:
    import cairosvg

    try:
        return cairosvg.svg2png(bytestring=source.encode(), output_width=336, output_height=336,
                                background_color="white")
    except Exception:
        return None


def ours(renderer, task: str, source: str, timeout_s: float | None = None) -> tuple[bytes | None, str]:
    """Our sandbox's render; tables then go through the judge's image step (released profile)."""
    result = renderer.render(task, source, **({"timeout_s": timeout_s} if timeout_s else {}))
    if not result.ok:
        return None, result.error_kind or "failed"
    png = result.png
    if task == "table":
        png, _ = encode_image(png, profile_settings("released", "table"))
    return png, "ok"


def gray(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as img:
        return np.asarray(img.convert("L"), dtype=np.float64) / 255.0


def compare(a: bytes, b: bytes) -> dict:
    from skimage.metrics import structural_similarity

    x, y = gray(a), gray(b)
    if x.shape != y.shape:
        return {"same_size": False, "size": [x.shape[::-1], y.shape[::-1]], "ssim": None}
    return {"same_size": True, "size": x.shape[::-1], "ssim": float(structural_similarity(x, y, data_range=1.0))}


def released_render(task: str, source: str, chromium: str | None, timeout_s: float = 15.0) -> bytes | None:
    with tempfile.TemporaryDirectory(prefix="verm_parity_") as tmp:
        if task == "chart":
            return released_chart(source, tmp, timeout_s)
        if task == "table":
            return released_table(source, tmp, chromium)
        return released_svg(source)


def parity(renderer, n: int, seed: int = 0, workers: int = 2, tables: PlaywrightTables | None = None,
           timeout_s: float | None = None) -> dict:
    """Per task: the rows (id, kind, same size, SSIM) and a summary. Tables go through the
    Chromium command line unless ``tables`` (one Playwright browser) is given. ``timeout_s``: a
    longer render limit for both sides (a loaded machine), else the released 15 s."""
    from verm_rl.render.table import find_chromium

    chromium = find_chromium()
    refs = generate_references(n * len(TASKS), seed=seed)

    def theirs_of(r):
        return released_render(r.task, r.source, chromium, timeout_s or 15.0)

    with ThreadPoolExecutor(workers) as pool:  # the released procedure is a subprocess per render
        theirs = list(pool.map(theirs_of, [r for r in refs if not (tables and r.task == "table")]))
    if tables:  # Playwright's sync API stays on this thread
        it = iter(theirs)
        theirs = [tables.render(r.source) if r.task == "table" else next(it) for r in refs]
    out: dict = {}
    for ref, their in zip(refs, theirs, strict=True):
        mine, status = ours(renderer, ref.task, ref.source, timeout_s)
        row = {"id": ref.id, "kind": ref.kind, "ours": status, "released": "ok" if their else "failed"}
        if mine and their:
            row.update(compare(mine, their))
        out.setdefault(ref.task, {"rows": []})["rows"].append(row)
    for summary in out.values():
        rows = summary["rows"]
        ssims = [r["ssim"] for r in rows if r.get("ssim") is not None]
        summary.update(n=len(rows), same_size=sum(bool(r.get("same_size")) for r in rows),
                       ssim_min=min(ssims) if ssims else None, ssim_mean=float(np.mean(ssims)) if ssims else None)
    return out


def edge_cases(renderer) -> dict:
    """What each procedure does with the chart programs in ``EDGE_CASES``."""
    from verm_rl.render.images import is_blank, png_size

    out = {}
    for name, source in EDGE_CASES.items():
        with tempfile.TemporaryDirectory(prefix="verm_parity_") as tmp:
            their = released_chart(source, tmp)
        mine = renderer.render("chart", source)

        def describe(png, ok=True, kind=None):
            if not ok or png is None:
                return f"fails ({kind or 'no image'})"
            return "blank (reward 0)" if is_blank(png) else "x".join(map(str, png_size(png)))

        out[name] = {"released": describe(their), "ours": describe(mine.png, mine.ok, mine.error_kind)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20, help="programs per task")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="write the full result here")
    parser.add_argument("--tables", choices=["cli", "playwright"], default="cli",
                        help="released table screenshots: a Chromium command line per table (as released) or one "
                             "Playwright browser")
    parser.add_argument("--timeout-s", type=float, default=None,
                        help="render limit for both procedures (default: the released 15 s); more on a busy machine")
    args = parser.parse_args()
    from verm_rl.render import Renderer
    from verm_rl.render.table import find_chromium

    tables = PlaywrightTables(find_chromium()) if args.tables == "playwright" else None
    try:
        with Renderer() as renderer:
            result = {"parity": parity(renderer, args.n, args.seed, tables=tables, timeout_s=args.timeout_s),
                      "edge_cases": edge_cases(renderer)}
    finally:
        if tables:
            tables.close()
    print(f"{'task':6} {'n':>4} {'same size':>9} {'SSIM min':>9} {'SSIM mean':>9}")
    for task, s in result["parity"].items():
        print(f"{task:6} {s['n']:4d} {s['same_size']:9d} {s['ssim_min'] or float('nan'):9.4f} "
              f"{s['ssim_mean'] or float('nan'):9.4f}")
    print("\nchart edge cases (released | ours):")
    for name, r in result["edge_cases"].items():
        print(f"- {name}: {r['released']} | {r['ours']}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
