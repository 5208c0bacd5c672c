"""Real renders in the real sandbox: correctness, settings and every error kind."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from tests.render.programs import GOOD_CHART, GOOD_SVG, GOOD_TABLE_HTML
from verm_rl.render import ERROR_KINDS, Renderer, RenderOptions, render
from verm_rl.render.images import crop_to_content, is_blank


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def test_same_program_same_pixels(renderer):
    a = renderer.render("chart", GOOD_CHART)
    b = renderer.render("chart", GOOD_CHART)
    assert a.ok and b.ok, (a.message, b.message)
    assert np.array_equal(pixels(a.png), pixels(b.png))


def test_chart_keeps_figsize_and_uses_configured_dpi(renderer):
    res = renderer.render("chart", GOOD_CHART)  # figsize 5x3, its own savefig(dpi=300) ignored
    assert pixels(res.png).shape[:2] == (300, 500)
    res = renderer.render("chart", GOOD_CHART, dpi=50)
    assert pixels(res.png).shape[:2] == (150, 250)


def test_chart_matches_in_process_render(renderer):
    """The sandbox changes nothing in the picture: same pixels as a plain matplotlib run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from verm_rl.render.chart import render_chart

    direct = render_chart(GOOD_CHART, dpi=100)
    plt.close("all")
    assert np.array_equal(pixels(direct), pixels(renderer.render("chart", GOOD_CHART).png))


def test_savefig_inside_nested_calls_is_neutralised(renderer):
    program = (
        "import matplotlib.pyplot as plt\n"
        "def save(name): plt.savefig(name.format(dict(a=1)['a']), dpi=dict(x=(1, 2))['x'][0])\n"
        "fig = plt.figure(figsize=(2, 2)); plt.plot([0, 1], [1, 0])\n"
        "save('f{}.png'); plt.close(fig)\n"
        "plt.figure(figsize=(4, 4))  # an empty figure after the saved one\n"
    )
    res = renderer.render("chart", program)
    assert res.ok, res.message
    assert pixels(res.png).shape[:2] == (200, 200)  # the figure the program saved, not the last one


def test_reference_and_candidate_same_settings(renderer):
    ref = renderer.render("chart", GOOD_CHART, dpi=80)
    cand = renderer.render("chart", GOOD_CHART.replace("#d62728", "#1f77b4"), dpi=80)
    assert ref.ok and cand.ok
    assert pixels(ref.png).shape == pixels(cand.png).shape
    assert not np.array_equal(pixels(ref.png), pixels(cand.png))


def test_svg_size_and_white_background(renderer):
    res = renderer.render("svg", GOOD_SVG)
    assert res.ok, res.message
    img = pixels(res.png)
    assert img.shape == (336, 336, 3)
    assert tuple(img[2, 2]) == (255, 255, 255)
    assert renderer.render("svg", GOOD_SVG, svg_width=100, svg_height=50).ok
    assert pixels(renderer.render("svg", GOOD_SVG, svg_width=100, svg_height=50).png).shape[:2] == (50, 100)


def test_table_html_and_markdown_render_and_crop(renderer):
    html = renderer.render("table", GOOD_TABLE_HTML)
    md = renderer.render("table", "| Name | Score |\n|---|---|\n| Ada | 91 |")
    assert html.ok and md.ok, (html.message, md.message)
    for res in (html, md):
        img = pixels(res.png)
        assert 60 < img.shape[1] < 600 and 40 < img.shape[0] < 400  # cropped, not the viewport
        # 12 px of white padding around the content
        assert (img[:12] == 255).all() and (img[-12:] == 255).all()
        assert (img[:, :12] == 255).all() and (img[:, -12:] == 255).all()
        assert (img[12] != 255).any() or (img[13] != 255).any()  # the table border follows


def test_table_same_markup_same_pixels(renderer):
    a, b = renderer.render("table", GOOD_TABLE_HTML), renderer.render("table", GOOD_TABLE_HTML)
    assert np.array_equal(pixels(a.png), pixels(b.png))


def test_render_response_extracts_first(renderer):
    res = renderer.render_response("chart", f"Here is the code:\n```python\n{GOOD_CHART}\n```")
    assert res.ok
    assert renderer.render_response("chart", "Sorry, I can't.").error_kind == "no_code"


def test_module_level_render_reuses_one_worker():
    first = render("svg", GOOD_SVG)
    second = render("svg", GOOD_SVG)
    from verm_rl.render import default_renderer

    worker = default_renderer().worker("svg")
    assert first.ok and second.ok and worker.alive() and worker.restarts == 0


ERROR_CASES = {
    "no_code": ("chart", "   "),
    "syntax": ("chart", "import matplotlib.pyplot as plt\nplt.plot([1, 2)\n"),
    "runtime": ("chart", "import matplotlib.pyplot as plt\nplt.plot(undefined_name)\n"),
    "timeout": ("chart", "while True:\n    pass\n"),
    "memory": ("chart", "x = bytearray(8 * 1024 ** 3)\n"),
    "forbidden": ("chart", "import os\nos.system('true')\nimport matplotlib.pyplot as plt\nplt.plot([1])\n"),
    "blank": ("chart", "import matplotlib.pyplot as plt\nfig = plt.figure()\nfig.patch.set_color('white')\n"),
    "too_large": ("chart", "import matplotlib.pyplot as plt\nplt.figure(figsize=(2000, 2000))\nplt.plot([1])\n"),
    "crash": ("chart", "import os\nos._exit(3)\n"),
}


@pytest.mark.parametrize("kind", ERROR_KINDS)
def test_every_error_kind(renderer, kind):
    task, source = ERROR_CASES[kind]
    res = renderer.render(task, source, timeout_s=3)
    assert not res.ok and res.png is None
    assert res.error_kind == kind, (res.error_kind, res.message)
    assert res.message
    assert res.seconds < 10


@pytest.mark.parametrize("task,source,kind", [
    ("svg", "<svg xmlns='http://www.w3.org/2000/svg'><rect", "syntax"),
    ("svg", "<html><body>not svg</body></html>", "syntax"),
    ("svg", "<svg xmlns='http://www.w3.org/2000/svg' width='10' height='10'></svg>", "blank"),
    ("table", "", "no_code"),
    ("table", "<table></table>", "blank"),
    ("chart", "x" * (600 * 1024), "too_large"),
])
def test_error_kinds_other_tasks(renderer, task, source, kind):
    res = renderer.render(task, source)
    assert res.error_kind == kind, (res.error_kind, res.message)


def test_unknown_option_and_task_are_clear_errors(renderer):
    with pytest.raises(TypeError, match="unknown render option"):
        renderer.render("chart", GOOD_CHART, dppi=3)
    with pytest.raises(ValueError, match="unknown task"):
        renderer.render("latex", "x")
    with pytest.raises(TypeError):
        RenderOptions().replace(nope=1)


def test_isolation_layers_are_reported(renderer):
    import os

    res = renderer.render("chart", GOOD_CHART)
    layers = res.meta["layers"]
    assert "audit_hook" in layers
    if os.getuid() == 0:  # CI runs as root: the full set must be active there
        for layer in ("netns", "pidns", "mountns", "read_only_root", "dropped_uid"):
            assert layer in layers


def test_image_helpers():
    white = io.BytesIO()
    Image.new("RGB", (20, 10), "white").save(white, format="PNG")
    assert is_blank(white.getvalue())
    assert crop_to_content(white.getvalue()) is None
    img = Image.new("RGB", (100, 100), "white")
    img.putpixel((50, 40), (0, 0, 0))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    assert Image.open(io.BytesIO(crop_to_content(buf.getvalue(), padding=12))).size == (25, 25)


def test_separate_renderers_do_not_share_workers():
    with Renderer() as a, Renderer() as b:
        assert a.render("svg", GOOD_SVG).ok and b.render("svg", GOOD_SVG).ok
        assert a.worker("svg").info["pid"] != b.worker("svg").info["pid"]


def test_table_clip_equals_full_page_crop():
    """Screenshotting only the content box gives the same pixels as upstream's full-page crop."""
    import glob
    import os

    from verm_rl.render.table import TableBrowser, table_to_html

    tmpdir = os.environ.get("TMPDIR")
    browser = TableBrowser()
    assert os.environ.get("TMPDIR") == tmpdir
    assert glob.glob(os.path.join(browser.scratch, "playwright_chromiumdev_profile-*")), "profile not in scratch"
    try:
        for source in (GOOD_TABLE_HTML, "| a | b |\n|---|---|\n| 1 | 2 |", "<p>note</p>" + GOOD_TABLE_HTML * 3):
            ours = browser.render(source)
            browser._page.set_content(table_to_html(source))
            full = crop_to_content(browser._page.screenshot(full_page=True), padding=12)
            assert np.array_equal(pixels(ours), pixels(full))
    finally:
        browser.close()


def test_table_taller_than_the_viewport_is_captured_whole(renderer):
    rows = "".join(f"<tr><td>row {i}</td><td>{i * 3}</td></tr>" for i in range(120))
    res = renderer.render("table", f"<table>{rows}</table>")
    assert res.ok, res.message
    height = pixels(res.png).shape[0]
    assert height > 1200 + 24  # beyond the 1600x1200 viewport, plus padding
    assert (pixels(res.png)[-12:] == 255).all() and (pixels(res.png)[-14] != 255).any()
