"""ChartMimic: metric definitions on worked numbers, the probe in the sandbox (tick-label removal checked
against the official set_xticks([]) route), and both tasks end to end with a scripted policy and judge."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest

from tests.eval.benchmarks.fixtures import answer_by_image, render_script_png
from verm_rl.eval.benchmarks.base import ScoreContext
from verm_rl.eval.benchmarks.chartmimic import ChartMimic, data_block, extract_python, rewrite
from verm_rl.eval.benchmarks.chartmimic_judge import parse_score
from verm_rl.eval.benchmarks.chartmimic_metrics import (
    chart_type_f1,
    ciede2000,
    color_f1,
    color_similarity,
    filter_colors,
    hex_to_lab,
    multiset_f1,
)
from verm_rl.eval.benchmarks.runner import EvalConfig, evaluate


def test_text_and_layout_are_multiset_exact():
    assert multiset_f1(["a", "b", "b"], ["b", "a"]) == pytest.approx({"precision": 2 / 3, "recall": 1.0, "f1": 0.8})
    assert multiset_f1(["Title "], ["Title"])["f1"] == 0.0  # whitespace counts
    assert multiset_f1(["title"], ["Title"])["f1"] == 0.0  # case counts
    assert multiset_f1([], ["a"])["f1"] == 0.0
    cell = {"nrows": 2, "ncols": 2, "row_start": 0, "row_end": 0, "col_start": 0, "col_end": 0}
    assert multiset_f1([cell], [cell, dict(cell, col_start=1, col_end=1)])["f1"] == pytest.approx(2 / 3)


def test_chart_type_counts():
    # m = min(2,1) + min(1,1) = 2; P = 2/3, R = 2/2
    assert chart_type_f1({"bar": 2, "plot": 1}, {"bar": 1, "plot": 1})["f1"] == pytest.approx(0.8)
    assert chart_type_f1({}, {"bar": 1})["f1"] == 0.0 and chart_type_f1({"bar": 1}, {})["f1"] == 0.0


def test_ciede2000_on_sharma_test_pairs():
    # Sharma, Wu & Dalal (2005), the CIEDE2000 test data, pairs 1 and 17
    assert ciede2000(np.array([50, 2.6772, -79.7751]), np.array([50, 0, -82.7485])) == pytest.approx(2.0425, abs=1e-4)
    assert ciede2000(np.array([50, 2.5, 0]), np.array([73, 25, -18])) == pytest.approx(27.1492, abs=1e-4)
    assert hex_to_lab("#FFFFFF")[0] == pytest.approx(100.0, abs=1e-3)
    assert hex_to_lab("#000000") == pytest.approx([0, 0, 0], abs=1e-9)


def test_color_similarity_and_f1():
    assert color_similarity("#FF0000", "#FF0000") == 1.0
    assert 0.0 < color_similarity("#FF0000", "#EE0000") < 1.0
    assert color_similarity("#000000", "#FFFFFF") == pytest.approx(0.0, abs=1e-6)  # ΔE00 ≈ 100
    assert color_similarity("viridis", "viridis") == 1.0 and color_similarity("viridis", "#440154") == 0.0
    # a set: three bars of one colour count once
    assert color_f1(["bar--#FF0000"] * 3, ["bar--#FF0000"])["f1"] == 1.0
    # grouped by function: the same colour drawn by another function does not match
    assert color_f1(["plot--#FF0000"], ["bar--#FF0000"])["f1"] == 0.0
    # S = best one-to-one pairing within a group; P = S/|gen|, R = S/|gold|
    s = color_similarity("#FF0000", "#EE0000") + 1.0
    out = color_f1(["bar--#EE0000", "bar--#0000FF", "bar--#00FF00"], ["bar--#FF0000", "bar--#0000FF"])
    assert out["precision"] == pytest.approx(s / 3) and out["recall"] == pytest.approx(s / 2)


def test_color_filter_over_ten_entries():
    reds = [f"bar--#{v:02X}0000" for v in range(200, 256, 5)]  # 12 near-identical reds
    assert len(filter_colors(reds)) == 1
    distinct = ["bar--#FF0000", "bar--#00FF00", "bar--#0000FF"] + [f"bar--#{v:02X}0000" for v in range(200, 256, 7)]
    kept = filter_colors(distinct)
    assert {"bar--#00FF00", "bar--#0000FF"} <= set(kept) and len(kept) < len(distinct)


def test_extraction_rewrite_and_data_block():
    assert extract_python("text\n```python\nA\n```\n```python\nB\n```") == "A\n"
    assert extract_python("```\nimport matplotlib\n```") is None  # only a python fence counts
    assert rewrite("a\nplt.savefig('x.png')\nplt.title('after')\n") == "a\n"
    assert rewrite("a\nplt.show()\nb") == "a\n"
    gt = "import x\n# ===\n# Part 2: Data Preparation\n# ===\ny = [1]\n# ===\n# Part 3: Plot Configuration and Rendering\nz"
    assert data_block(gt) == "# ===\ny = [1]\n# ==="
    assert data_block("no markers") == ""


def test_judge_score_extraction():
    assert parse_score("blah\n**Score: 85/100**\nmore") == 85.0
    assert parse_score("the score: 30 was bad, final score: 70") == 70.0  # no line start: the last one
    assert parse_score("Score: 40\nScore: 90") == 40.0  # the first at a line start
    assert parse_score("no number") == 0.0 and parse_score(None) == 0.0


OFFICIAL_TEXT_SUFFIX = """
import json as _j
from matplotlib.backends import backend_pdf as _bp
_seen = []
_orig = _bp.RendererPdf.draw_text
def _log(self, gc, x, y, s, *a, **k):
    _seen.append(s)
    return _orig(self, gc, x, y, s, *a, **k)
_bp.RendererPdf.draw_text = _log
for _ax in plt.gcf().axes:
    _ax.set_xticks([])
    _ax.set_yticks([])
import io as _io
plt.gcf().canvas.print_figure(_io.BytesIO(), format="pdf")
print("TEXTS" + _j.dumps(_seen))
"""

FIGURES = {
    "categorical": "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.bar(['x', 'y'], [1, 2])\n"
                   "ax.set_title('T')\nax.set_ylabel('Y')\nax.annotate('note', (0, 1))\n",
    "log_minor": "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.plot([1, 3, 9], [2, 5, 8])\n"
                 "ax.set_xscale('log')\nax.legend(['line'])\n",
    "colorbar_polar": "import matplotlib.pyplot as plt\nimport numpy as np\nfig = plt.figure()\n"
                      "ax = fig.add_subplot(121)\nim = ax.imshow(np.arange(4).reshape(2, 2))\nfig.colorbar(im, label='c')\n"
                      "p = fig.add_subplot(122, projection='polar')\np.plot([0, 1], [1, 2])\nfig.suptitle('S')\n",
    "offset": "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.plot([1e6, 1e6 + 1], [0, 1])\n"
              "ax.set_xlabel('big')\n",
}


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_probe_texts_match_official_tick_removal(name, render_pool):

    code = FIGURES[name]
    official = render_pool.render_blocking("chart", code + OFFICIAL_TEXT_SUFFIX, stdout_bytes=65536)
    expected = json.loads(official.stdout.split("TEXTS", 1)[1].strip())
    cm = ChartMimic()
    report, result = asyncio.run(cm._probe(ScoreContext(render_pool), code, False))
    assert report["pdf"] and sorted(report["texts"]) == sorted(expected)
    assert result.ok and result.png  # the render the judge sees keeps its ticks


GT_BAR = """import matplotlib.pyplot as plt
fig, ax = plt.subplots(figsize=(4, 3))
ax.bar(["a", "b", "c"], [3, 1, 2], color=["#1f77b4", "#ff7f0e", "#1f77b4"])
ax.set_title("Sales")
plt.savefig("bar_1.pdf")
"""
GT_LINE = """import matplotlib.pyplot as plt
fig, axes = plt.subplots(1, 2, figsize=(5, 3))
axes[0].plot([1, 2, 3], [1, 4, 9], color="#1f77b4")
axes[0].set_title("Trend")
axes[1].scatter([1, 2], [2, 3], c=[1, 2], cmap="viridis")
axes[1].set_ylabel("y")
plt.tight_layout()
plt.savefig("line_1.pdf")
"""
GEN_LINE = GT_LINE.replace('color="#1f77b4"', 'color="#ff0000"').replace(
    'axes[1].set_ylabel("y")', 'axes[1].set_ylabel("y")\nfig.suptitle("Extra")')
GT_CUSTOM = """import matplotlib.pyplot as plt
# ===================
# Part 2: Data Preparation
# ===================
x = ["p", "q"]
y = [5, 7]
# ===================
# Part 3: Plot Configuration and Rendering
# ===================
plt.figure(figsize=(4, 3))
plt.bar(x, y, color="#2ca02c")
plt.title("Custom")
plt.savefig("bar_2.pdf")
"""


def make_chartmimic(root):
    images = {}
    for split, name, code in (("direct_600", "bar_1", GT_BAR), ("direct_600", "line_1", GT_LINE),
                              ("direct_600", "pie_1", GT_BAR.replace("Sales", "Pie")),
                              ("customized_600", "bar_2", GT_CUSTOM)):
        (root / split).mkdir(parents=True, exist_ok=True)
        (root / split / f"{name}.py").write_text(code)
        images[name] = render_script_png(code, root / split / f"{name}.png")
    return images


def test_end_to_end_direct_and_customized(tmp_path, scripted_server, render_pool):
    images = make_chartmimic(tmp_path / "cm")
    fence = "```python\n{}\n```"
    policy = scripted_server(answer_by_image({
        images["bar_1"]: "Here you go:\n" + fence.format(GT_BAR),
        images["line_1"]: fence.format(GEN_LINE),
        images["pie_1"]: "I can't write code for this.",
        images["bar_2"]: fence.format('plt.figure(figsize=(4, 3))\nplt.bar(x, y, color="#2ca02c")\nplt.title("Custom")'),
    }))
    judge_down = {"down": True}
    judge = scripted_server(lambda body: (503, "overloaded") if judge_down["down"]
                            else (200, "Looks close.\n**Score: 80/100**"))
    cfg = EvalConfig("chartmimic", tmp_path / "cm", tmp_path / "out", policy=policy.url + "/v1", progress=False,
                     policy_options={"model": "m", "retries": 0},
                     benchmark_options={"judge": judge.url + "/v1", "judge_model": "gpt-4o-2024-05-13"})
    first = evaluate(cfg, render_pool=render_pool)
    assert first["status"] == {"judge_failed": 3, "no_code": 1} and first["metrics"]["direct_600/high"] == 0.0
    judge_down["down"] = False  # the judge is back: only the judge-failed items are scored again
    n_policy = len(policy.requests)
    summary = evaluate(cfg, render_pool=render_pool)
    assert len(policy.requests) == n_policy and summary["status"] == {"ok": 3, "no_code": 1}
    rows = {json.loads(x)["id"]: json.loads(x) for x in (tmp_path / "out" / "items.jsonl").read_text().splitlines()}

    bar = rows["direct_600/bar_1"]["metrics"]
    assert bar == {"exec": 1.0, "text": 1.0, "layout": 1.0, "type": 1.0, "color": 1.0, "low": 1.0, "high": 80.0}
    line = rows["direct_600/line_1"]["metrics"]
    assert line["text"] == pytest.approx(0.8)  # gen adds "Extra": P 2/3, R 1
    assert line["layout"] == 1.0 and line["type"] == 1.0
    # colours: {makeline red, scatter viridis} vs {makeline blue, scatter viridis}
    s = color_similarity("#FF0000", "#1F77B4") + 1.0
    assert line["color"] == pytest.approx(s / 2)
    assert rows["direct_600/pie_1"]["status"] == "no_code" and rows["direct_600/pie_1"]["metrics"]["exec"] == 0.0
    custom = rows["customized_600/bar_2"]
    assert custom["metrics"]["exec"] == 1.0 and custom["metrics"]["low"] == 1.0  # runs thanks to the GT data block

    m = summary["metrics"]
    assert m["direct_600/exec_rate"] == pytest.approx(200 / 3)  # N counts every item of the split
    assert m["direct_600/low"] == pytest.approx(100 * (1 + (0.8 + 1 + 1 + s / 2) / 4) / 3)
    assert m["direct_600/high"] == pytest.approx(160 / 3)
    assert m["avg_overall"] == pytest.approx((m["direct_600/overall"] + m["customized_600/overall"]) / 2)

    # the judge saw the dataset PNG first, then our render, then the rubric
    parts = judge.requests[-1]["messages"][0]["content"]
    assert [p["type"] for p in parts] == ["image_url", "image_url", "text"] and "Score: N" in parts[2]["text"]
    from verm_rl.policy import decode_data_url

    shown = [decode_data_url(p["image_url"]["url"]) for p in parts[:2]]
    assert shown[0] in images.values() and shown[1] not in images.values()  # the dataset PNG, then our render
    assert judge.requests[-1]["model"] == "gpt-4o-2024-05-13" and judge.requests[-1]["temperature"] == 0.0
    customized_prompt = [r for r in policy.requests if 'y = [5, 7]' in json.dumps(r)]
    assert len(customized_prompt) == 1  # the customized instruction carries the data
    assert (tmp_path / "out" / "cache" / "gt_probe").is_dir()
