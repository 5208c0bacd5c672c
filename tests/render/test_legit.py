"""Legitimate programs render: each cause of a false failure seen on matplotlib gallery programs,
as its own small program, plus the same unseeded program giving the same pixels in two workers."""

from __future__ import annotations

import numpy as np

from tests.render.test_render import pixels
from verm_rl.render import Renderer

PLOT = "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\n"


def test_lazily_imported_codecs_and_stdlib_modules(renderer):
    """Codecs and stdlib modules the warm worker never imported (np.load's cp437 and friends)."""
    program = (
        "import io, codecs, numpy as np\n"
        "assert b'\\x80\\xe9'.decode('cp437') and 'é'.encode('mac_roman') and 'ü'.encode('latin-1')\n"
        "assert 'x'.encode('utf-16') and codecs.lookup('cp1252') and codecs.lookup('koi8_r')\n"
        "buf = io.BytesIO(); np.save(buf, np.array([b'a'], dtype=object), allow_pickle=True); buf.seek(0)\n"
        "np.load(buf, allow_pickle=True, encoding='latin1')\n"
        "import wave, json.tool, email.mime.text, xml.dom.minidom, tomllib, graphlib, fnmatch\n" + PLOT
    )
    res = renderer.render("chart", program)
    assert res.ok, res.message


def test_program_sees_a_clean_argv(renderer):
    res = renderer.render("chart", "import argparse, sys\nargparse.ArgumentParser().parse_args()\n"
                                   "assert sys.argv == ['script.py'], sys.argv\n" + PLOT)
    assert res.ok, res.message


def test_savefig_to_memory_writes_and_does_not_pick_the_output(renderer):
    program = (
        "import io\nimport matplotlib.pyplot as plt\n"
        "fig = plt.figure(figsize=(2, 2)); plt.plot([0, 1])\n"
        "buf = io.BytesIO(); fig.savefig(buf, format='png'); plt.savefig(io.BytesIO())\n"
        "assert buf.getvalue()[:4] == b'\\x89PNG', 'savefig wrote nothing'\n"
        "plt.figure(figsize=(4, 3)); plt.bar([1, 2], [3, 4])\n"
    )
    res = renderer.render("chart", program)
    assert res.ok, res.message
    assert pixels(res.png).shape[:2] == (300, 400)  # the current figure, not the one saved to memory


def test_savefig_to_a_path_picks_the_output(renderer):
    program = ("import matplotlib.pyplot as plt\nfig = plt.figure(figsize=(2, 2)); plt.plot([0, 1])\n"
               "fig.savefig('chart.png')\nplt.figure(figsize=(4, 3)); plt.bar([1, 2], [3, 4])\n")
    assert pixels(renderer.render("chart", program).png).shape[:2] == (200, 200)


def test_network_refusal_the_program_recovers_from_is_not_a_failure(renderer):
    program = (
        "import urllib.request, socket\n"
        "try:\n    data = urllib.request.urlopen('http://example.com/data.csv', timeout=2).read()\n"
        "except Exception:\n    data = None\n"
        "try:\n    socket.create_connection(('10.0.0.1', 80), timeout=1)\nexcept OSError:\n    pass\n"
        "values = [3, 1, 2] if data is None else [0]\n"
        "import matplotlib.pyplot as plt\nplt.bar(range(3), values)\n"
    )
    res = renderer.render("chart", program)
    assert res.ok, (res.error_kind, res.message)
    died = renderer.render("chart", "import urllib.request\nurllib.request.urlopen('http://example.com')\n" + PLOT)
    assert died.error_kind == "forbidden", died.message


def test_unseeded_program_same_pixels_in_two_workers(renderer):
    program = (
        "import random, numpy as np\nimport matplotlib.pyplot as plt\n"
        "plt.scatter(np.random.rand(40), np.random.randn(40), c=[random.random() for _ in range(40)])\n"
        "plt.title(str({'b', 'a', 'c', 'zz', 'y'}))\n"
    )
    with Renderer() as other:
        first, second, third = renderer.render("chart", program), renderer.render("chart", program), \
            other.render("chart", program)
        assert other.worker("chart").info["pid"] != renderer.worker("chart").info["pid"]
    assert first.ok and second.ok and third.ok
    assert np.array_equal(pixels(first.png), pixels(second.png))
    assert np.array_equal(pixels(first.png), pixels(third.png))
