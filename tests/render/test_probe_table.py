"""Table renders probed as a hostile or degenerate policy would write them: local files, loopback
network, scripts, navigation, degenerate layouts and text. Each gives a typed result within the
wall clock, leaks no decoy into pixels or messages, and leaves the browser unpoisoned: the next
good table renders with the same pixels (as root and, in CI, as the unprivileged user)."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import time
import uuid

import numpy as np
import pytest
from PIL import Image

from tests.render.programs import GOOD_TABLE_HTML

T = "<table><tr><td>x</td></tr></table>"
DECOY = "TABLE_DECOY_9e41"


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def red_pixels(png: bytes) -> int:
    img = pixels(png).astype(int)
    return int(((img[..., 0] > 200) & (img[..., 1] < 60) & (img[..., 2] < 60)).sum())


def digest(png: bytes) -> str:
    return hashlib.sha256(pixels(png).tobytes()).hexdigest()


@pytest.fixture(scope="module")
def decoys():
    """Red files the policy might point the page at, inside the repository checkout (which the
    browser's worker can see: it runs the project's Python): any of them drawn shows red."""
    root = os.path.join(os.path.dirname(__file__), f".probe_table_{uuid.uuid4().hex}")
    os.makedirs(root)
    Image.new("RGB", (120, 120), (255, 0, 0)).save(os.path.join(root, "red.png"))
    files = {"red.html": f"<body style='background:red;font-size:80px'>{DECOY}</body>",
             "red.css": "td, body, table { background: red !important; }",
             "red.svg": "<svg xmlns='http://www.w3.org/2000/svg' width='120' height='120'>"
                        "<rect width='120' height='120' fill='red'/></svg>",
             "secret.txt": DECOY}
    for name, text in files.items():
        with open(os.path.join(root, name), "w") as f:
            f.write(text)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def good_digest(renderer):
    res = renderer.render("table", GOOD_TABLE_HTML)
    assert res.ok, res.message
    return digest(res.png)


def render(renderer, source, timeout_s=4.0, **opts):
    """Render ``source``: typed status, warm worker alive, within the wall clock (+ transport slack)."""
    worker = renderer.worker("table")
    restarts = worker.restarts
    start = time.monotonic()
    res = renderer.render("table", source, timeout_s=timeout_s, **opts)
    assert time.monotonic() - start < timeout_s + 3, "the render outlived its wall clock"
    assert worker.restarts == restarts and worker.alive(), "the browser's worker must survive"
    assert (res.ok and res.png) or (res.error_kind is not None and res.png is None), res
    assert DECOY not in (res.message or "")
    return res


def assert_unpoisoned(renderer, good_digest):
    res = renderer.render("table", GOOD_TABLE_HTML)
    assert res.ok, res.message
    assert digest(res.png) == good_digest, "the previous render changed how the next good table renders"


FILE_CASES = {
    "img": "{T}<img src='file://{d}/red.png'>",
    "img_srcset": "{T}<img srcset='file://{d}/red.png 1x'>",
    "picture_source": "{T}<picture><source srcset='file://{d}/red.png'><img src='file://{d}/red.svg'></picture>",
    "iframe": "{T}<iframe src='file://{d}/red.html' width=300 height=200></iframe>",
    "iframe_dir_listing": "{T}<iframe src='file://{d}/' width=300 height=200></iframe>",
    "object": "{T}<object data='file://{d}/red.html' width=300 height=200></object>",
    "embed": "{T}<embed src='file://{d}/red.svg' width=120 height=120>",
    "link_stylesheet": "<link rel=stylesheet href='file://{d}/red.css'>{T}",
    "css_import": "<style>@import url('file://{d}/red.css');</style>{T}",
    "css_background_url": "<table style=\"background:url('file://{d}/red.png')\"><tr><td>xxxxxx</td></tr></table>",
    "css_font_face": "<style>@font-face {{font-family: X; src: url('file://{d}/red.png')}} td {{font-family: X}}</style>{T}",
    "svg_image": "{T}<svg width=120 height=120><image href='file://{d}/red.png' width=120 height=120/></svg>",
    "base_href": "<base href='file://{d}/'><img src='red.png'><link rel=stylesheet href='red.css'>{T}",
    "video_poster_autoplay": "{T}<video autoplay muted poster='file://{d}/red.png' src='file://{d}/red.png'"
                             " width=120 height=120></video>",
    "meta_refresh_to_file": "<meta http-equiv=refresh content='0;url=file://{d}/red.html'>{T}",
    "iframe_srcdoc_refresh": "{T}<iframe srcdoc=\"<meta http-equiv=refresh content='0;url=file://{d}/red.html'>\""
                             " width=300 height=200></iframe>",
    "svg_use": "{T}<svg width=120 height=120><use href='file://{d}/red.svg#a'/></svg>",
    "border_and_list_images": "<table style=\"border-image: url('file://{d}/red.png') 30;"
                              " list-style-image: url('file://{d}/red.png')\"><tr><td>x</td></tr></table>",
    "body_background_attribute": "<body background='file://{d}/red.png'>{T}",
    "frameset": "<frameset cols='50%,50%'><frame src='file://{d}/red.html'><frame src='file://{d}/red.png'>"
                "</frameset>{T}",
    "script_fetch_xhr": "{T}<script>fetch('file://{d}/red.css').then(r => r.text()).then(t => {{"
                        " document.body.style.background = 'red'; document.body.innerText = t; }});"
                        " const x = new XMLHttpRequest(); x.open('GET', 'file://{d}/secret.txt', false); x.send();"
                        " document.body.innerText = x.responseText;</script>",
}


@pytest.mark.parametrize("name", sorted(FILE_CASES))
def test_local_files_are_never_drawn(renderer, decoys, good_digest, name):
    res = render(renderer, FILE_CASES[name].format(T=T, d=decoys))
    assert res.ok, (res.error_kind, res.message)
    assert red_pixels(res.png) == 0, "a local file reached the page"
    assert_unpoisoned(renderer, good_digest)


def test_system_file_in_an_iframe_draws_the_same_as_a_missing_one(renderer):
    """No colour trick possible for /etc/passwd: the frame must look exactly like one whose file
    does not exist (whatever the browser shows for a refused load), so no byte of it is drawn."""
    frame = "{T}<iframe src='file://{p}' width=900 height=400></iframe>"
    read = render(renderer, frame.format(T=T, p="/etc/passwd"))
    missing = render(renderer, frame.format(T=T, p=f"/nonexistent/{uuid.uuid4().hex}"))
    assert read.ok and missing.ok
    assert digest(read.png) == digest(missing.png)


NET_CASES = {
    "css_import": "<style>@import url('{u}/import.css');</style>{T}",
    "font_face": "<style>@font-face {{font-family: X; src: url('{u}/f.woff')}} td {{font-family: X}}</style>{T}",
    "prefetch_preload": "<link rel=prefetch href='{u}/prefetch'><link rel=preload as=image href='{u}/preload'>"
                        "<link rel=dns-prefetch href='{u}'><link rel=preconnect href='{u}'>{T}",
    "base_href": "<base href='{u}/'><img src='rel.png'><link rel=stylesheet href='rel.css'>{T}",
    "picture_audio_video": "{T}<picture><source srcset='{u}/p.png'><img src='{u}/q.png'></picture>"
                           "<audio autoplay src='{u}/a.mp3'></audio><video autoplay poster='{u}/v.png'></video>",
    "script_fetch_xhr_ws_beacon": "{T}<script>fetch('{u}/fetch'); const x = new XMLHttpRequest();"
                                  " x.open('GET', '{u}/xhr'); x.send(); new WebSocket('{w}/ws');"
                                  " navigator.sendBeacon('{u}/beacon', 'x'); new Image().src = '{u}/js-img';</script>",
    "meta_refresh": "<meta http-equiv=refresh content='0;url={u}/refresh'>{T}",
    "form_autofocus": "<form action='{u}/post' method=post><input autofocus name=a value=b></form>{T}",
    "object_embed": "{T}<object data='{u}/obj'></object><embed src='{u}/embed'>",
}


@pytest.mark.parametrize("name", sorted(NET_CASES))
def test_loopback_network_is_never_reached(renderer, http_server, good_digest, name):
    source = NET_CASES[name].format(T=T, u=http_server.url, w=http_server.url.replace("http", "ws"))
    res = render(renderer, source)
    assert res.ok, (res.error_kind, res.message)
    time.sleep(0.1)  # a late request would still be recorded
    assert http_server.paths == []
    assert_unpoisoned(renderer, good_digest)


SCRIPT_CASES = {
    "infinite_loop": "<script>while (true) {}</script>",
    "allocate_until_oom": "<script>const a = []; while (true) a.push(new Array(1e6).fill(1));</script>",
    "dialogs": "<script>alert(1); confirm('x'); prompt('y'); print();</script>",
    "window_open": "<script>window.open('about:blank'); window.open('file:///etc/passwd');</script>",
    "rewrite_dom_after_load": "<script>onload = () => setTimeout(() => {"
                              " document.body.innerHTML = '<div style=\"background:red;width:500px;height:500px\">'"
                              " + '</div>'; }, 0);</script>",
    "storage_and_cookies": "<script>localStorage.setItem('k', 'v'); document.cookie = 'k=v';"
                           " document.body.style.background = 'red';</script>",
    "service_worker": "<script>navigator.serviceWorker.register('sw.js');"
                      " document.body.style.background = 'red';</script>",
    "javascript_urls": "<iframe src=\"javascript:'<body style=background:red>'\"></iframe>"
                       "<img src=x onerror=\"document.body.style.background='red'\">",
}


@pytest.mark.parametrize("name", sorted(SCRIPT_CASES))
def test_scripts_never_run(renderer, good_digest, name):
    res = render(renderer, T + SCRIPT_CASES[name])
    assert res.ok, (res.error_kind, res.message)
    assert red_pixels(res.png) == 0, "a script ran"
    assert res.seconds < 2.0
    assert_unpoisoned(renderer, good_digest)


REFRESH_CASES = {
    "to_about_blank": "<meta http-equiv=refresh content='0;url=about:blank'>",
    "reload_self": "<meta http-equiv=refresh content='0'>",
    "delayed": "<meta http-equiv=refresh content='0.2;url=about:blank'>",
    "entity_in_attribute": "<meta http-equiv=&#82;efresh content='0;url=about:blank'>",
    "in_noscript": "<noscript><meta http-equiv=refresh content='0;url=about:blank'></noscript>",
    "to_data_url": "<meta http-equiv=refresh content=\"0;url=data:text/html,<body style='background:red'>\">",
}


@pytest.mark.parametrize("name", sorted(REFRESH_CASES))
def test_a_refresh_does_not_navigate_the_page_away(renderer, good_digest, name):
    """A meta refresh (honoured even inside <noscript> with scripts off) used to navigate the page
    while it was being measured: a ``crash`` whose outcome depended on the refresh delay. The
    table itself renders, the same as without the tag, and later renders are untouched."""
    plain = render(renderer, T)
    res = render(renderer, REFRESH_CASES[name] + T)
    assert res.ok, (res.error_kind, res.message)
    assert digest(res.png) == digest(plain.png)
    time.sleep(0.4)  # past the delay: a pending refresh would fire into the next render
    assert_unpoisoned(renderer, good_digest)


OFF_PAGE = {
    "far_right": "<table style='position:absolute;left:50000px'><tr><td>abcdef</td></tr></table>",
    "far_above": "<table style='position:absolute;top:-5000px'><tr><td>abcdef</td></tr></table>",
    "translated_left": "<table style='transform:translateX(-9000px)'><tr><td>abcdef</td></tr></table>",
    "negative_margin": "<table style='margin-top:-9000px'><tr><td>abcdef</td></tr></table>",
}


@pytest.mark.parametrize("name", sorted(OFF_PAGE))
def test_content_outside_the_page_is_blank_at_once(renderer, good_digest, name):
    """Content placed entirely off the page used to ask the browser for a screenshot of negative
    size: it hung until the watchdog killed Chromium (a full timeout and a relaunch per sample)."""
    res = render(renderer, OFF_PAGE[name], timeout_s=4.0)
    assert res.error_kind == "blank", (res.error_kind, res.message)
    assert res.seconds < 2.0
    assert_unpoisoned(renderer, good_digest)


def _nested(depth: int) -> str:
    return "<table><tr><td>" * depth + "x" + "</td></tr></table>" * depth


DEGENERATE = {
    "huge_width": ("<table style='width:1e7px'><tr><td>x</td></tr></table>", {"too_large"}),
    "huge_transform": ("<table style='transform:scale(10000)'><tr><td>x</td></tr></table>", {"too_large"}),
    "huge_height": ("<table><tr><td style='height:100000000px'>x</td></tr></table>", {"too_large"}),
    "huge_textarea": ("<table><tr><td><textarea cols=100000 rows=100000></textarea></td></tr></table>",
                      {"too_large"}),
    "giant_colspan_rowspan": ("<table><tr><td colspan=100000>x</td></tr><tr><td rowspan=65534>y</td></tr></table>",
                              {None}),
    "deeply_nested_tables": (_nested(120), {None}),
    "unclosed_tags": ("<table><tr><td>a<td>b<tr><td>c<b><i>d", {None}),
    "unclosed_comment": (T + "<!-- never closed <tr><td>", {None}),
    "markdown_10k_columns": ("|" + "a|" * 10_000 + "\n|" + "-|" * 10_000 + "\n", {"too_large"}),
    "markdown_broken_rows": ("| a | b |\n|---|\n| 1 | 2 | 3 |\n|\n", {None}),
    "zero_width_bidi_emoji_cjk": ("<table><tr><td>\u200b\u202eabc\u202c\u200d 漢字 😀👨‍👩‍👧 العربية"
                                  "\ufeff</td></tr></table>", {None}),
    "markdown_unicode": ("| 名前 | 😀 |\n|---|---|\n| \u202eabc | \u200b |\n", {None}),
    "no_table_html": ("<div>hello <b>world</b></div>", {None}),
    "two_tables": (T + GOOD_TABLE_HTML, {None}),
    "empty_table": ("  <table></table>  ", {"blank"}),
    "hidden_table": ("<table style='display:none'><tr><td>x</td></tr></table>", {"blank"}),
    "nul_and_control_chars": ("<table><tr><td>a\x00b\x07c\x1b[31m</td></tr></table>", {None}),
    "plaintext_tag": ("<plaintext>" + T, {None}),
}


@pytest.mark.parametrize("name", sorted(DEGENERATE))
def test_degenerate_tables_are_typed(renderer, good_digest, name):
    source, kinds = DEGENERATE[name]
    res = render(renderer, source)
    assert res.error_kind in kinds, (res.error_kind, res.message)
    assert_unpoisoned(renderer, good_digest)


@pytest.mark.parametrize("source", ["", "   \n\t  ", "\u3000\n"])
def test_whitespace_only_is_no_code(renderer, source):
    res = renderer.render("table", source)
    assert res.error_kind in {"no_code", "blank"}, (res.error_kind, res.message)


def test_the_crop_counts_against_the_wall_clock(monkeypatch):
    """The watchdog covered load, layout and screenshot; the crop after it did not, so a slow crop
    (a 500k-pixel-wide line of text takes ~1 s) returned ``ok`` past the task's timeout."""
    from verm_rl.render import table
    from verm_rl.render.result import RenderFailure

    real_crop = table.crop_to_content

    def slow_crop(png, padding=12):
        time.sleep(1.0)
        return real_crop(png, padding)

    browser = table.TableBrowser()
    try:
        assert browser.render(T, timeout_s=5)
        monkeypatch.setattr(table, "crop_to_content", slow_crop)
        with pytest.raises(RenderFailure) as err:
            browser.render(T, timeout_s=0.8)
        assert err.value.kind == "timeout"
        monkeypatch.setattr(table, "crop_to_content", real_crop)
        assert browser.render(T, timeout_s=5)  # and the browser was not killed for it
        assert browser.timeouts == 0
    finally:
        browser.close()


@pytest.mark.parametrize("unit", ["<i>x", "<div>", "<span><b>"])
def test_a_repetition_loop_of_open_tags_is_too_large_at_once(renderer, good_digest, unit):
    """Unclosed tags repeated by a looping policy nest ever deeper: 90k ``<i>x`` (350 KB, under the
    text and cell caps) took the browser past the 15 s wall clock and a relaunch; an element cap
    (as SVG has) stops it before the browser sees it."""
    res = render(renderer, T + unit * 50_000)
    assert res.error_kind == "too_large" and "max_table_elements" in res.message, (res.error_kind, res.message)
    assert res.seconds < 1.0
    if unit == "<i>x":  # what the cap saves: without it the browser is killed at the wall clock
        assert render(renderer, T + unit * 50_000, max_table_elements=10 ** 9, timeout_s=0.5).error_kind == "timeout"
        plain = render(renderer, T)  # the relaunched browser's page is sandboxed too: a refresh stays put
        refreshed = render(renderer, REFRESH_CASES["to_about_blank"] + T)
        assert refreshed.ok and digest(refreshed.png) == digest(plain.png)
    assert_unpoisoned(renderer, good_digest)


def test_a_large_legitimate_table_is_under_the_element_cap(renderer):
    """2,000 cells (the cell cap) each with inline markup stay well under the element cap."""
    row = "<tr>" + "<td><b>1</b><span>2</span><sup>3</sup></td>" * 10 + "</tr>"
    res = render(renderer, "<table>" + row * 200 + "</table>", timeout_s=10)
    assert res.ok, (res.error_kind, res.message)


ANIMATED = {
    "css_animation": "<style>@keyframes k { from { background: red } to { background: blue } }"
                     " td { animation: k 0.3s infinite }</style><table><tr><td>xxxx</td></tr></table>",
    "marquee": "<table><tr><td><marquee scrollamount=50>moving text</marquee></td></tr></table>",
}


@pytest.mark.parametrize("name", sorted(ANIMATED))
def test_animated_tables_render_the_same_pixels_every_time(renderer, name):
    """A CSS animation or a <marquee> runs without scripts: the screenshot caught whatever frame
    the clock was at, so the same output got different pixels (and rewards) from render to render.
    Animations are frozen at their first frame. (Animated GIFs still pick a frame: not covered.)"""
    digests = set()
    for pause in (0.0, 0.05, 0.12, 0.2):
        time.sleep(pause)
        res = render(renderer, ANIMATED[name])
        assert res.ok, (res.error_kind, res.message)
        digests.add(digest(res.png))
    assert len(digests) == 1


@pytest.mark.parametrize("cell", ["<td rowspan=65534>x</td>", "<td rowspan=0>x</td>",
                                  "<td colspan=1000 rowspan=1000>x</td>", "<td colspan='1000'>x</td>",
                                  "<td title='>' rowspan=65534>x</td>"])
def test_spans_count_as_the_cells_they_cover(renderer, good_digest, cell):
    """1,999 cells pass the cell cap, but each spanning every row below makes a 1999x1999 grid:
    the browser ran to the wall clock. Cells are counted as the grid slots they cover."""
    res = render(renderer, "<table>" + f"<tr>{cell}</tr>" * 1_999 + "</table>")
    assert res.error_kind == "too_large" and "max_table_cells" in res.message, (res.error_kind, res.message)
    assert res.seconds < 1.0
    assert_unpoisoned(renderer, good_digest)


def test_a_few_spans_in_a_full_table_still_render(renderer):
    header = "<tr><th colspan=10>title</th></tr><tr><td rowspan=2>a</td>" + "<td>b</td>" * 9 + "</tr>"
    body = "<tr>" + "<td>c</td>" * 9 + "</tr>" + ("<tr>" + "<td>d</td>" * 10 + "</tr>") * 196
    res = render(renderer, "<table>" + header + body + "</table>", timeout_s=10)
    assert res.ok, (res.error_kind, res.message)


@pytest.mark.parametrize("unit", ["<iframe srcdoc='<b>x</b>' width=10 height=10></iframe>",
                                  "<object data='data:text/html,x' width=10 height=10></object>",
                                  "<IFRAME></IFRAME><embed src='data:text/html,x'>"])
def test_frames_are_capped(renderer, good_digest, unit):
    """Every <iframe>/<object>/<embed> is a document of its own (25-50 ms each): 300 of them, 16 KB
    of output, took 11-15 s. No table needs more than a few."""
    res = render(renderer, T + unit * 200)
    assert res.error_kind == "too_large" and "max_table_frames" in res.message, (res.error_kind, res.message)
    assert res.seconds < 1.0
    assert render(renderer, T + unit * 3).ok
    assert_unpoisoned(renderer, good_digest)


@pytest.mark.parametrize("source", ["<table><tr><td>a" + "\u0301" * 60_000 + "</td></tr></table>",
                                    "| a |\n|---|\n| b" + "\u0489\u20dd" * 30_000 + " |\n"])
def test_a_run_of_combining_marks_is_too_large_at_once(renderer, good_digest, source):
    """One base letter with 60k combining marks (117 KB, under every other cap): shaping it is
    quadratic, and the browser ran to the wall clock. Real text stacks a few (Unicode's stream-safe
    format allows 30)."""
    res = render(renderer, source)
    assert res.error_kind == "too_large" and "combining" in res.message, (res.error_kind, res.message)
    assert res.seconds < 1.0
    assert_unpoisoned(renderer, good_digest)


def test_text_with_ordinary_combining_marks_renders(renderer):
    text = "Tiếng Việt, हिन्दी, ภาษาไทย, עִבְרִית, a\u0301\u0316\u0327\u0308 " * 40
    res = render(renderer, f"<table><tr><td>{text}</td></tr></table>")
    assert res.ok, (res.error_kind, res.message)
