"""VC-RewardBench metrics against hand-computed cases (evaluation.md §1.4–1.7)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from verm_rl.eval.vc_rewardbench import (
    BenchError,
    DeterministicMatcher,
    MatchResult,
    aggregate,
    bench_errors,
    clean_matches,
    f1,
    match_result_from_answer,
    parse_matcher_answer,
    pearson,
    predicted_errors,
    read_records,
    score_item,
    score_lists,
)
from verm_rl.judge.schema import JudgedError


def errs(*specs: tuple[str, float]) -> list[BenchError]:
    return [BenchError(t, s, f"{t} number {i}") for i, (t, s) in enumerate(specs)]


def item(iid, cat, n_pred, n_gt, matches, un_p=None, un_g=None, sev_p=None, sev_g=None, kind="text_error"):
    preds = [BenchError(kind, (sev_p or [1] * n_pred)[i]) for i in range(n_pred)]
    gts = [BenchError(kind, (sev_g or [1] * n_gt)[i]) for i in range(n_gt)]
    used_p, used_g = {m[0] for m in matches}, {m[1] for m in matches}
    res = MatchResult(matches, un_p if un_p is not None else [i for i in range(n_pred) if i not in used_p],
                      un_g if un_g is not None else [j for j in range(n_gt) if j not in used_g])
    return score_item(iid, cat, preds, gts, res)


def test_micro_pooling_not_macro():
    # A: 1 yes, nothing else (item F1 1). B: 3 FP, 1 FN (item F1 0). Pooled TP1 FP3 FN1: P .25 R .5 → 1/3.
    a = item("a", "chart", 1, 1, [(0, 0, "yes")])
    b = item("b", "chart", 3, 1, [])
    assert (a.f1_hard, b.f1_hard) == (1.0, 0.0)
    got = aggregate([a, b])["categories"]["chart"]
    assert got["f1_hard"] == pytest.approx(100 / 3)
    assert got["mean_item_f1_hard"] == pytest.approx(50.0)  # what macro averaging would have given


def test_partial_counts_half_in_soft_and_nowhere_in_hard():
    # matches: yes + partial; 1 FP, 1 FN. hard: TP1 FP1 FN1 → .5; soft: TP1.5 FP1 FN1 → P=R=.6 → .6
    s = item("x", "table", 3, 3, [(0, 0, "yes"), (1, 1, "partial")], kind="numeric_error")
    assert (s.counts.hard_tp, s.counts.soft_tp, s.counts.fp, s.counts.fn) == (1, 1.5, 1, 1)
    assert s.f1_hard == pytest.approx(0.5) and s.f1_soft == pytest.approx(0.6)
    agg = aggregate([s])["categories"]["table"]
    assert agg["f1_hard"] == pytest.approx(50.0) and agg["f1_soft"] == pytest.approx(60.0)


def test_empty_vs_empty():
    e = item("e", "svg", 0, 0, [])
    assert e.f1_hard == 1.0 and e.f1_soft == 0.0  # the hard per-item helper's rule; soft has none
    alone = aggregate([e])["categories"]["svg"]
    # the same helper on pooled sums: a pool whose counts are all zero scores F1h 1, F1s 0
    assert alone["f1_hard"] == 100.0 and alone["f1_soft"] == 0.0 and alone["mean_item_f1_hard"] == 100.0
    # a pool whose only matches are partial has hard counts all zero too
    only_partial = item("p", "svg", 1, 1, [(0, 0, "partial")], kind="shape_error")
    assert aggregate([only_partial])["categories"]["svg"]["f1_hard"] == 100.0
    assert aggregate([only_partial])["categories"]["svg"]["f1_soft"] == 100.0
    # pooled with a real item it changes no sums
    r = item("r", "svg", 2, 2, [(0, 0, "yes")], kind="shape_error")
    assert aggregate([e, r])["categories"]["svg"]["f1_hard"] == aggregate([r])["categories"]["svg"]["f1_hard"]
    assert f1(0, 0, 0) == 0.0 and f1(0, 0, 0, empty_is_one=True) == 1.0


def test_avg_pools_all_items_not_mean_of_categories():
    chart = item("c", "chart", 2, 2, [(0, 0, "yes"), (1, 1, "yes")])  # F1 1
    table = item("t", "table", 4, 4, [(0, 0, "yes")])  # TP1 FP3 FN3 → .25
    agg = aggregate([chart, table])
    assert agg["categories"]["chart"]["f1_hard"] == pytest.approx(100)
    assert agg["categories"]["table"]["f1_hard"] == pytest.approx(25)
    assert agg["avg"]["f1_hard"] == pytest.approx(50)  # TP3 FP3 FN3; the mean of columns would be 62.5


def test_sc_is_pearson_times_100_and_nan_when_constant():
    items = [item(str(i), "chart", 1, 1, [], sev_p=[p], sev_g=[g]) for i, (p, g) in enumerate([(1, 2), (2, 4), (3, 7)])]
    expected = np.corrcoef([1, 2, 3], [2, 4, 7])[0, 1] * 100
    assert aggregate(items)["categories"]["chart"]["sc"] == pytest.approx(expected)
    const = [item(str(i), "chart", 1, 1, [], sev_p=[2], sev_g=[g]) for i, g in enumerate([1, 2, 3])]
    assert math.isnan(aggregate(const)["categories"]["chart"]["sc"])
    assert math.isnan(pearson([1.0], [2.0]))


def test_sc_pools_items_across_categories_for_avg():
    # within each category r = -1, pooled r > 0: AVG is not any mean of the per-category values
    pairs = [("chart", 1, 2), ("chart", 2, 1), ("table", 5, 6), ("table", 6, 5)]
    items = [item(str(i), c, 1, 1, [], sev_p=[p], sev_g=[g], kind="text_error") for i, (c, p, g) in enumerate(pairs)]
    agg = aggregate(items)
    assert agg["categories"]["chart"]["sc"] == pytest.approx(-100) and agg["categories"]["table"]["sc"] == pytest.approx(-100)
    assert agg["avg"]["sc"] == pytest.approx(np.corrcoef([1, 2, 5, 6], [2, 1, 6, 5])[0, 1] * 100)
    assert agg["avg"]["sc"] > 0


def test_type_then_category_and_allowed_types_only():
    raw = [{"type": "data_error", "severity": 2, "description": "a"},
           {"category": "style_error", "severity": "3", "location": "bar 1", "description": "b"},
           {"type": "other_error", "severity": 1, "description": "dropped"},
           {"severity": 2, "description": "no type: dropped"},
           {"type": "text_error", "severity": "severe", "description": "non-numeric severity counts 0"}]
    got = bench_errors("chart", raw)
    assert [(e.type, e.severity) for e in got] == [("data_error", 2), ("style_error", 3), ("text_error", 0)]
    assert [e.type for e in bench_errors("svg", [{"category": "other_error", "severity": 1}])] == []
    # JudgedError objects (our judges' output) are read through .category
    assert bench_errors("table", [JudgedError("layout_error", 2, "", "x")])[0].type == "layout_error"
    # model-under-test parse failure (pred_json None) = no predictions
    assert predicted_errors("chart", None) == [] and predicted_errors("chart", "garbage") == []


def test_greedy_one_to_one_first_wins_and_ids_checked():
    raw = [{"pred_id": 0, "gt_id": 0, "match_level": "partial"}, {"pred_id": 0, "gt_id": 1, "match_level": "yes"},
           {"pred_id": 1, "gt_id": 0, "match_level": "yes"}, {"pred_id": 1, "gt_id": 1, "match_level": "Yes"},
           {"pred_id": 2, "gt_id": 9, "match_level": "yes"}, {"pred_id": True, "gt_id": 2, "match_level": "yes"},
           {"pred_id": 2, "gt_id": 2, "match_level": "no"}, "junk"]
    assert clean_matches(raw, 3, 3) == [(0, 0, "partial"), (1, 1, "yes")]


def test_unmatched_lists_verbatim_when_non_empty():
    answer = {"matches": [{"pred_id": 0, "gt_id": 0, "match_level": "yes"}],
              "unmatched_pred": [0, 1], "unmatched_gt": []}
    res = match_result_from_answer(answer, 2, 2)
    assert res.unmatched_pred == [0, 1]  # inconsistent with the match, but the judge's list wins
    assert res.unmatched_gt == [1]  # empty → recomputed
    s = score_item("i", "chart", errs(("data_error", 1), ("data_error", 1)), errs(("data_error", 1), ("data_error", 2)),
                   res)
    assert (s.counts.hard_tp, s.counts.fp, s.counts.fn) == (1, 2, 1)


def test_matcher_answer_parsing():
    assert parse_matcher_answer('```json\n{"matches": []}\n```') == {"matches": []}
    assert parse_matcher_answer('Sure! {"matches": [], "notes": "x"} done') == {"matches": [], "notes": "x"}
    from verm_rl.eval.vc_rewardbench import MatchFailed

    for bad in ("", "no json here", "{broken"):
        with pytest.raises(MatchFailed):
            parse_matcher_answer(bad)


def test_deterministic_matcher_same_type_and_similarity():
    m = DeterministicMatcher()
    preds = [BenchError("data_error", 2, "bar 3 height is 40 instead of 55", "bar 3"),
             BenchError("text_error", 1, "title reads Income instead of Revenue", "title"),
             BenchError("style_error", 1, "completely unrelated words here", "legend")]
    gts = [BenchError("text_error", 1, "the title says Income, should be Revenue", "title"),
           BenchError("data_error", 2, "height of bar 3 is 40 not 55", "bar 3"),
           BenchError("data_error", 1, "title reads Income instead of Revenue", "title")]
    res = m.match_sync(preds, gts)
    assert (0, 1, "yes") in res.matches and any(p == 1 and g == 0 for p, g, _ in res.matches)
    assert all(preds[p].type == gts[g].type for p, g, _ in res.matches)  # never across types
    assert res.unmatched_pred == [2] and res.unmatched_gt == [2]


def test_score_lists_public_function():
    gt = [{"category": "data_error", "severity": 2, "location": "bar 1", "description": "bar 1 value 10 vs 20"}]
    perfect = score_lists([("chart", gt, gt), ("table", [], [])])
    assert perfect["avg"]["f1_hard"] == 100.0 and perfect["matcher"] == "deterministic"
    none = score_lists([("chart", [], gt)])
    assert none["avg"]["f1_hard"] == 0.0 and none["avg"]["fn"] == 1


def test_read_records_released_and_array_formats(tmp_path):
    lines = [{"idx": 7, "category": "chart", "gt_img_path": "a.png", "pred_img_path": "/abs/b.png",
              "human_errors": [{"type": "data_error", "severity": 2, "description": "d", "location": "l"}]},
             {"id": "t1", "category": "other", "human_errors": []},
             {"id": "s1", "category": "svg", "human_errors": json.dumps([{"type": "shape_error", "severity": 1}])}]
    path = tmp_path / "VC-RewardBench.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in lines) + "\nnot json\n")
    items, skipped = read_records(path)
    assert [i.id for i in items] == ["7", "s1"] and items[0].gt_img_path == tmp_path / "a.png"
    assert bench_errors("svg", items[1].human_errors)[0].type == "shape_error"
    assert str(items[0].pred_img_path) == "/abs/b.png" and not items[0].has_pred_json
    assert len(skipped) == 2 and any("category" in why for _, why in skipped)
    arr = tmp_path / "results.json"
    arr.write_text(json.dumps([{**lines[0], "pred_json": None}]))
    items, _ = read_records(arr)
    assert items[0].has_pred_json and items[0].pred_json is None


def test_released_benchmark_detection(tmp_path):
    from verm_rl.eval.judge_eval import looks_released
    from verm_rl.eval.vc_rewardbench import BenchItem

    released = [BenchItem("1", "chart", None, None, [])]
    synthetic = [BenchItem("1", "chart", None, None, [], gt_source="import matplotlib")]
    assert looks_released(tmp_path / "VC-RewardBench.jsonl", released)
    assert not looks_released(tmp_path / "vc_rewardbench.jsonl", synthetic)  # `verm-rl synth` export
    assert not looks_released(tmp_path / "mine.jsonl", released)
