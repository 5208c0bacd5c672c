"""The LLM matcher against a scripted OpenAI-compatible server on 127.0.0.1, through the eval runner."""

from __future__ import annotations

import json

import pytest

from verm_rl.eval.judge_eval import evaluate, format_report, summarize
from verm_rl.eval.vc_rewardbench import BenchError, BenchItem, LLMMatcher, MatchFailed


def answer_for(body: dict) -> tuple[int, str]:
    prompt = body["messages"][-1]["content"]
    if "ALPHA" in prompt:  # fenced JSON, mixed-case levels, a "no" pair, then a duplicate gt_id
        return 200, "```json\n" + json.dumps({"matches": [
            {"pred_id": 0, "gt_id": 0, "match_level": "Yes"}, {"pred_id": 1, "gt_id": 1, "match_level": "PARTIAL"},
            {"pred_id": 2, "gt_id": 2, "match_level": "no"}, {"pred_id": 2, "gt_id": 0, "match_level": "yes"}],
            "unmatched_pred": [], "unmatched_gt": [], "notes": "ok"}) + "\n```"
    if "BRAVO" in prompt:  # garbage
        return 200, "I am not able to help with that."
    if "CHARLIE" in prompt:  # prose around, string ids, an inconsistent unmatched list used verbatim
        return 200, 'Here you go: {"matches": [{"pred_id": "0", "gt_id": "1", "match_level": "yes"}], ' \
                    '"unmatched_pred": [0], "unmatched_gt": [0]} hope it helps'
    return 500, "unexpected"


def bench_item(tag: str, n_pred: int, n_gt: int, category: str = "chart") -> tuple[BenchItem, list[BenchError]]:
    kind = "data_error" if category == "chart" else "text_error"
    gts = [{"type": kind, "severity": 2, "location": f"LOC{tag}{i}", "description": f"{tag} gt {i}"} for i in range(n_gt)]
    preds = {"errors": [{"category": kind, "severity": 1, "location": f"LOC{tag}{i}", "description": f"{tag} pred {i}"}
                        for i in range(n_pred)]}
    return BenchItem(tag, category, None, None, gts, pred_json=preds, has_pred_json=True), gts


async def test_llm_matcher_parses_decisions_and_counts_garbage(scripted_server):
    server = scripted_server(answer_for)
    matcher = LLMMatcher(server.url, model="matcher", retries=0)
    items = [bench_item("ALPHA", 3, 3)[0], bench_item("BRAVO", 1, 1)[0], bench_item("CHARLIE", 2, 2, "table")[0],
             bench_item("DELTA", 0, 2)[0], bench_item("ECHO", 0, 0, "svg")[0]]
    outcomes = await evaluate(items, None, matcher, concurrency=4, progress=False)
    by_id = {o.id: o for o in outcomes}
    assert by_id["ALPHA"].match.matches == [(0, 0, "yes"), (1, 1, "partial")]
    assert (by_id["ALPHA"].score.counts.hard_tp, by_id["ALPHA"].score.counts.soft_tp) == (1, 1.5)
    assert (by_id["ALPHA"].score.counts.fp, by_id["ALPHA"].score.counts.fn) == (1, 1)  # pred 2 / gt 2 recomputed
    assert by_id["BRAVO"].status == "match_failed" and matcher.failures == 1
    charlie = by_id["CHARLIE"].score.counts
    assert (charlie.hard_tp, charlie.fp, charlie.fn) == (1, 1, 1)  # verbatim lists, not recomputed
    assert by_id["DELTA"].score.counts.fn == 2 and by_id["ECHO"].score.f1_hard == 1.0
    # one text-only call per item that has errors on both sides; location never sent
    assert matcher.calls == 3 and len(server.requests) == 3
    for body in server.requests:
        text = json.dumps(body["messages"])
        assert "LOC" not in text and "image_url" not in text
    summary = summarize(outcomes, "precomputed", matcher.name)
    assert summary["match_failed"] == 1 and summary["failed_items"] == ["BRAVO"]
    assert summary["scored"] == 4  # BRAVO is out of every aggregate
    # pooled: ALPHA(1,1.5,1,1) + CHARLIE(1,1,1,1) + DELTA(0,0,0,2) → hard TP2 FP2 FN4
    assert summary["avg"]["hard_tp"] == 2 and summary["avg"]["fp"] == 2 and summary["avg"]["fn"] == 4
    assert "precomputed" in format_report(summary, paper=True) and "Visual-ERM (8B) (paper)" in format_report(
        summary, paper=True)
    await matcher.close()


async def test_llm_matcher_dead_server_is_a_match_failure(listener):
    matcher = LLMMatcher(f"http://127.0.0.1:{listener.port}", model="m", retries=0, timeout_s=2)
    with pytest.raises(MatchFailed):
        await matcher.match("chart", [BenchError("data_error", 1, "a")], [BenchError("data_error", 1, "b")])
    assert matcher.failures == 1
    await matcher.close()


async def test_llm_matcher_request_options(scripted_server):
    server = scripted_server(lambda body: (200, '{"matches": [{"pred_id": 0, "gt_id": 0, "match_level": "yes"}]}'))
    one = ([BenchError("data_error", 1, "a")], [BenchError("data_error", 1, "b")])
    default = LLMMatcher(server.url + "/v1", model="m")
    reasoning = LLMMatcher(server.url, model="gpt-5-mini", token_param="max_completion_tokens", max_tokens=99)
    for matcher in (default, reasoning):
        assert (await matcher.match("chart", *one)).matches == [(0, 0, "yes")]
        await matcher.close()
    plain, openai_style = server.requests
    assert "temperature" not in plain and "top_p" not in plain and plain["max_tokens"] == 8192
    assert "max_tokens" not in openai_style and openai_style["max_completion_tokens"] == 99


def test_judge_specs(tmp_path):
    from verm_rl.eval.backends import build_judge_backend, judge_kind

    assert judge_kind("structural") == "structural" and judge_kind("http://h:1,http://h:2") == "http"
    assert judge_kind("ray_actor:/m") == "ray_actor" and judge_kind(str(tmp_path)) == "local"
    with pytest.raises(ValueError):
        judge_kind("/no/such/model")
    judge = build_judge_backend("http://127.0.0.1:9,http://127.0.0.1:10/v1", model="verm")
    assert judge.name == "http" and len(judge.urls) == 2 and judge.cfg.model == "verm"


async def test_run_eval_judge_scores_precomputed_predictions_with_llm_matcher(scripted_server, tmp_path):
    from verm_rl.eval.judge_eval import run_eval_judge

    server = scripted_server(answer_for)
    records = [{"id": "ALPHA", "category": "chart", "gt_img_path": "a.png", "pred_img_path": "b.png",
                "human_errors": bench_item("ALPHA", 3, 3)[1], "pred_json": bench_item("ALPHA", 3, 3)[0].pred_json},
               {"id": "BRAVO", "category": "chart", "human_errors": bench_item("BRAVO", 1, 1)[1],
                "pred_json": bench_item("BRAVO", 1, 1)[0].pred_json},
               {"id": "NULL", "category": "table", "human_errors": [{"type": "text_error", "severity": 1}],
                "pred_json": None}]
    data = tmp_path / "VC-RewardBench_results.json"
    data.write_text(json.dumps(records))
    summary, report = await run_eval_judge(data, tmp_path / "out", matcher_spec=server.url + "/v1",
                                           matcher_model="judge-llm", progress=False,
                                           matcher_options={"temperature": None, "max_tokens": 512,
                                                            "token_param": "max_tokens"})
    assert summary["released_benchmark"] and "Visual-ERM (8B) (paper)" in report and "llm (judge-llm" in report
    assert summary["failed_items"] == ["BRAVO"] and summary["scored"] == 2
    assert summary["judge_status"] == {"precomputed": 2, "precomputed_null": 1}
    assert summary["categories"]["table"]["fn"] == 1  # a null pred_json = no predicted errors
    assert all(r["max_tokens"] == 512 and r["model"] == "judge-llm" for r in server.requests)
