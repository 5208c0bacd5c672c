"""Error injection: each perturbation kind, seeding, rendering, and agreement with the critic."""

from __future__ import annotations

import json
import random

import pytest

from verm_rl.data.inject import CHART_PERTURBATIONS, NotApplicable, inject, perturb_chart, perturbations_for
from verm_rl.data.synthetic import generate_references
from verm_rl.eval.agreement import Agreement
from verm_rl.judge.structural import compare_sources
from verm_rl.tasks import CATEGORIES

CHART = """import matplotlib.pyplot as plt
fig, axes = plt.subplots(1, 2, figsize=(9, 4))
axes[0].plot([1, 2, 3, 4], [10.0, 12.5, 9.0, 14.0], color='#1f77b4', marker='o', linestyle='-', label='Model A')
axes[0].plot([1, 2, 3, 4], [8.0, 9.5, 11.0, 10.0], color='#ff7f0e', marker='s', linestyle='--', label='Model B')
axes[0].set_title('Accuracy by step')
axes[0].set_xlabel('Step')
axes[0].legend(loc='upper left')
axes[1].bar(['North', 'South', 'East'], [30.0, 45.0, 25.0], color='#2ca02c', label='Sales')
axes[1].set_title('Sales by region')
axes[1].set_ylabel('Sales (k)')
axes[1].legend(loc='upper right')
"""

EXPECTED_CATEGORY = {"data_value": "data_error", "drop_series": "structure_error", "swap_type": "structure_error",
                     "color": "style_error", "text": "text_error", "legend_label": "text_error", "ticks": "text_error",
                     "legend_loc": "style_error", "layout": "structure_error"}


@pytest.mark.parametrize("kind", sorted(CHART_PERTURBATIONS))
def test_each_chart_perturbation_renders_and_is_recovered(renderer, kind):
    p = perturb_chart(CHART, kind, random.Random(3))
    assert [e.category for e in p.errors] == [EXPECTED_CATEGORY[kind]]
    assert all(1 <= e.severity <= 3 and e.description for e in p.errors)
    ref = renderer.render("chart", CHART, trace=True)
    cand = renderer.render("chart", p.source, trace=True)
    assert cand.ok, (kind, cand.message)
    assert cand.png != ref.png
    found = compare_sources("chart", CHART, p.source, ref.meta["trace"], cand.meta["trace"])
    assert sorted((e.category, e.severity) for e in found) == sorted((e.category, e.severity) for e in p.errors)


def test_not_applicable_is_reported():
    with pytest.raises(NotApplicable):
        perturb_chart("import matplotlib.pyplot as plt\nplt.plot([1, 2])\n", "legend_loc", random.Random(0))


def test_injection_is_seeded():
    for task in ("chart", "table", "svg"):
        ref = generate_references(3, seed=4, tasks=(task,))[0]
        a = inject(task, ref.source, k=3, seed=9)
        b = inject(task, ref.source, k=3, seed=9)
        c = inject(task, ref.source, k=3, seed=10)
        assert [p.source for p in a] == [p.source for p in b]
        assert [p.source for p in a] != [p.source for p in c] or len(a) == 0
        assert len({p.kind for p in a}) == len(a)  # k different kinds


@pytest.mark.parametrize("task", ["table", "svg"])
def test_every_table_and_svg_perturbation_kind_occurs_and_renders(renderer, task):
    seen = set()
    for ref in generate_references(20, seed=8, tasks=(task,)):
        for p in inject(task, ref.source, k=5, seed=8):
            seen.add(p.kind)
            assert renderer.render(task, p.source).ok
    assert seen == set(perturbations_for(task))


def test_structural_agreement_on_a_fresh_seed(renderer):
    """The acceptance bar: ≥ 90 % recall on injected chart and table errors at ≥ 90 % precision."""
    per_task = {}
    for task, n in (("chart", 24), ("table", 40), ("svg", 30)):
        agreement = Agreement()
        for ref in generate_references(n, seed=20261127, tasks=(task,)):
            ref_res = renderer.render(task, ref.source, trace=task == "chart")
            for p in inject(task, ref.source, k=3, seed=20261127):
                res = renderer.render(task, p.source, trace=task == "chart")
                if not res.ok or res.png == ref_res.png:
                    continue
                agreement.add(compare_sources(task, ref.source, p.source, ref_res.meta.get("trace"),
                                              res.meta.get("trace")), p.errors)
        per_task[task] = agreement.overall()
        assert agreement.pairs >= n
    for task in ("chart", "table"):
        assert per_task[task]["recall"] >= 0.9 and per_task[task]["precision"] >= 0.9, per_task
    assert per_task["svg"]["recall"] >= 0.8, per_task


def test_synth_command_writes_both_exports_and_resumes(tmp_path):
    from verm_rl.cli import main

    out = tmp_path / "synth"
    assert main(["synth", "--n", "9", "--out", str(out), "--seed", "3", "--workers", "1"]) == 0
    bench = [json.loads(line) for line in (out / "vc_rewardbench.jsonl").read_text().splitlines()]
    sft = [json.loads(line) for line in (out / "sft.jsonl").read_text().splitlines()]
    assert len(bench) == len(sft) == 9
    assert {row["category"] for row in bench} == {"chart", "table", "svg"}
    for row in bench:
        assert (out / row["gt_img_path"]).exists() and (out / row["pred_img_path"]).exists()
        assert row["human_errors"] and all(1 <= e["severity"] <= 3 for e in row["human_errors"])
        # the released evaluator keeps only reference errors whose "type" is in the task's taxonomy
        assert all(e["type"] in CATEGORIES[row["category"]] for e in row["human_errors"])
        if row["category"] != "table":
            assert all(e["category"] == e["type"] for e in row["human_errors"])
    row = sft[0]
    assert row["messages"][-2]["content"].startswith("<image><image>") and len(row["images"]) == 2
    assert "errors" in json.loads(row["messages"][-1]["content"])
    summary = json.loads((out / "agreement.json").read_text())
    assert summary["written"] == 9
    # resumable: a second run over the same pairs writes nothing new
    assert main(["synth", "--n", "9", "--out", str(out), "--seed", "3", "--workers", "1"]) == 0
    assert len((out / "vc_rewardbench.jsonl").read_text().splitlines()) == 9


def test_multi_error_injection_mixes_categories_and_is_seeded():
    from verm_rl.data.inject import inject_multi

    made = 0
    for task in ("chart", "table", "svg"):
        for ref in generate_references(8, seed=31, tasks=(task,)):
            pairs = inject_multi(task, ref.source, n=2, seed=31)
            assert [p.source for p in pairs] == [p.source for p in inject_multi(task, ref.source, n=2, seed=31)]
            for p in pairs:
                cats = [e.category for e in p.errors]
                assert 2 <= len(cats) <= 4 and len(set(cats)) == len(cats), p.kind
                assert len(p.kind.split("+")) == len(cats)
                made += 1
    assert made >= 20


def test_score_errors_matches_category_and_location():
    from verm_rl.eval.agreement import LocatedAgreement, location_key, score_errors
    from verm_rl.judge.schema import JudgedError

    true = [JudgedError("data_error", 3, "subplot 1"), JudgedError("text_error", 2, "subplot 2")]
    found = [JudgedError("data_error", 2, "subplot 1 ('Sales by region'), Model A"),
             JudgedError("text_error", 1, "subplot 1")]  # right category, wrong subplot
    s = score_errors(found, true, "chart")
    assert (s["tp"], s["fp"], s["fn"]) == (1, 1, 1)
    assert location_key("svg", "<rect> 3") == "<rect> 3" and location_key("table", "row 2") == ""
    agg = LocatedAgreement()
    agg.add(found, true, "chart")
    agg.add(true, true, "chart")
    assert agg.overall()["precision"] == 0.75 and agg.overall()["exact_pairs"] == 0.5


def test_located_agreement_scores_vc_rewardbench_f1_and_sc():
    from verm_rl.eval.agreement import LocatedAgreement
    from verm_rl.judge.schema import JudgedError

    a = [JudgedError("data_error", 3, "subplot 1", "bar 'B' is 40 instead of 20")]
    b = [JudgedError("text_error", 1, "title", "title reads 'Sales' instead of 'Revenue'"),
         JudgedError("style_error", 1, "legend", "legend in the lower left instead of the upper right")]
    perfect = LocatedAgreement()
    perfect.add(a, a, "chart")
    perfect.add(b, b, "chart")
    s = perfect.vc_rewardbench()
    assert s["f1_hard"] == 100.0 and s["f1_soft"] == 100.0 and abs(s["sc"] - 100.0) < 1e-9
    missed = LocatedAgreement()
    missed.add([], a, "chart")  # nothing found: 1 FN
    missed.add(b, b, "chart")   # 2 TP
    s = missed.vc_rewardbench()
    assert abs(s["f1_hard"] - 100 * 2 * 2 / (2 * 2 + 0 + 1)) < 1e-9  # P = 1, R = 2/3
