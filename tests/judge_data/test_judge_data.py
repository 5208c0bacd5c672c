"""``make-judge-data`` end to end on CPU: a scripted policy behind a real HTTP server, real renders, the
structural critic as teacher (and a scripted HTTP teacher for the parse/disagreement filters)."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections import Counter

import pytest

from tests.conftest import run_app_in_thread
from tests.tts.pool import SharedRendererPool
from verm_rl.data.dataset import make_row, write_parquet
from verm_rl.data.synthetic import generate_references
from verm_rl.eval.backends import build_judge_backend
from verm_rl.judge.schema import JudgedError
from verm_rl.judge.structural import StructuralJudge
from verm_rl.judge_data.make import (
    Candidate,
    JudgeDataConfig,
    balance,
    compose_errors,
    critic_agreement,
    make_judge_data,
    read_references,
)
from verm_rl.policy import build_policy, decode_data_url
from verm_rl.tasks import get_task
from verm_rl.tts.oracle import Oracle, error_chain


def chat_app(answer_fn):
    """An OpenAI-compatible chat endpoint answering ``answer_fn(messages)``."""
    from fastapi import FastAPI

    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def chat(body: dict):
        text = answer_fn(body.get("messages") or [], body.get("seed"))
        return {"id": f"c-{uuid.uuid4().hex[:8]}", "object": "chat.completion", "created": int(time.time()),
                "model": "scripted", "choices": [{"index": 0, "finish_reason": "stop",
                                                  "message": {"role": "assistant", "content": text}}]}

    return app


def scripted_policy(items):
    """Per reference image, by sample (the request's seed, as requests arrive concurrently): a program with
    2 injected errors, one that does not render, the reference itself (renders identically), prose
    without code, then the 2-error program again."""
    by_image = {}
    for item in items:
        draft = error_chain(item.task, item.reference_source, 2, seed=1)[0]
        by_image[hashlib.sha256(item.image).hexdigest()] = (item.task, [
            draft, get_task(item.task).broken_program, item.reference_source, None, draft])
    calls = Counter()

    def answer(messages, seed):
        url = next(p["image_url"]["url"] for m in messages if isinstance(m.get("content"), list)
                   for p in m["content"] if p.get("type") == "image_url")
        key = hashlib.sha256(decode_data_url(url)).hexdigest()
        task, script = by_image[key]
        code = script[seed % len(script)]
        calls[key] += 1
        return "I cannot write this." if code is None else Oracle.reply(task, code)

    return answer, calls


@pytest.fixture(scope="module")
def pool(renderer):
    return SharedRendererPool(renderer)


@pytest.fixture(scope="module")
def references(pool, tmp_path_factory):
    refs = [r for r in generate_references(16, seed=3, tasks=("table", "svg")) if r.task in ("table", "svg")][:4]
    rows = []
    for i, r in enumerate(refs):
        res = pool.render_blocking(r.task, r.source)
        assert res.ok
        rows.append(make_row(r.task, res.png, r.source, i, sample_id=r.id))
    path = write_parquet(rows, tmp_path_factory.mktemp("refs") / "train.parquet")
    return path


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


async def test_scripted_policy_structural_teacher_filters_balance_and_resume(pool, references, tmp_path):
    from verm_rl.tts.inputs import read_inputs

    items, _ = read_inputs(references)
    answer, calls = scripted_policy(items)
    url, stop = run_app_in_thread(chat_app(answer))
    refs = read_references(str(references))
    assert len(refs) == 4 and {r.task for r in refs} == {"table", "svg"}
    cfg = JudgeDataConfig(policy_samples=5, policy_temperature=0.0, injected=3, max_errors=3, balance_ratio=1.0,
                          validation_fraction=0.25, references_per_batch=2, seed=0)
    out = tmp_path / "judge"
    teacher = StructuralJudge(render=pool.render)
    try:
        policy = build_policy(url, model="scripted")
        # first run stops after 2 references (as if interrupted), the second resumes
        first = await make_judge_data(out, refs[:2], pool.render, teacher, policy, None, cfg, progress=False)
        assert (out / "references_done.txt").read_text().split() == [r.id for r in refs[:2]]
        policy_calls = sum(calls.values())
        stats = await make_judge_data(out, refs, pool.render, teacher, policy, None, cfg, progress=False)
        await policy.close()
    finally:
        stop()
    assert sum(calls.values()) == policy_calls + 2 * 5  # resumed: only the 2 new references were asked
    assert first["candidates"] < stats["candidates"]
    cands = [json.loads(line) for line in (out / "candidates.jsonl").read_text().splitlines()]
    assert len({c["id"] for c in cands}) == len(cands)  # nothing judged twice
    by_id = {c["id"]: c for c in cands}
    for ref in refs:  # each policy slot got the reason its scripted answer deserves
        # the oracle's broken table has no table at all; its broken SVG is cut short and does not render
        assert by_id[f"{ref.id}-pol1"]["reason"] == ("render_failed" if ref.task == "svg" else "no_program")
        assert by_id[f"{ref.id}-pol2"]["reason"] == "identical_render"
        assert by_id[f"{ref.id}-pol3"]["reason"] == "no_program"
        assert by_id[f"{ref.id}-pol4"]["reason"] == "duplicate"
        assert by_id[f"{ref.id}-pol0"]["reason"] == "" and by_id[f"{ref.id}-pol0"]["errors"]
    filtered = stats["filtered"]
    n_svg = sum(r.task == "svg" for r in refs)
    assert filtered["render_failed"] == n_svg and filtered["no_program"] == 2 * len(refs) - n_svg
    assert filtered["identical_render"] == filtered["duplicate"] == len(refs) and filtered["unparseable_label"] == 0
    assert stats["per_origin"].get("policy", 0) > 0 and stats["per_origin"].get("inject", 0) > 0
    # injected candidates carry several errors when asked to
    assert max(len(c["injected"]) for c in cands if c["origin"] == "inject") >= 2

    # splits: by reference, disjoint, both present; rows in SFT chat + VC-RewardBench formats
    train, val = read_jsonl(out / "sft_train.jsonl"), read_jsonl(out / "sft_validation.jsonl")
    bench_train, bench_val = read_jsonl(out / "vc_rewardbench_train.jsonl"), read_jsonl(out / "vc_rewardbench_validation.jsonl")
    assert train and val and len(train) == len(bench_train) and len(val) == len(bench_val)
    ref_of = {c["id"]: c["ref_id"] for c in cands}
    assert not {ref_of[r["id"]] for r in bench_train} & {ref_of[r["id"]] for r in bench_val}
    for row in train + val:
        assert row["messages"][-1]["role"] == "assistant" and len(row["images"]) == 2
        assert row["messages"][-2]["content"].startswith("<image><image>")
        assert all((out / p).exists() for p in row["images"])
        json.loads(row["messages"][-1]["content"])
    row = bench_val[0]
    assert set(row) >= {"id", "category", "gt_img_path", "pred_img_path", "human_errors", "gt_source", "pred_source"}

    # balance: per task, no category bucket above ratio × the smallest one
    kept = [Candidate(**c) for c in cands if not c["reason"]]
    written = {r["id"] for r in bench_train + bench_val}
    for task in ("table", "svg"):
        buckets = Counter(c.bucket()[0] for c in kept if c.task == task)
        out_buckets = Counter(c.bucket()[0] for c in kept if c.task == task and c.id in written)
        smallest = min(v for k, v in buckets.items() if k != "no_error")
        assert max(out_buckets.values()) <= smallest
    assert stats["written"] == len(written) < stats["labelled"]
    assert sum(stats["balance_dropped"].values()) == stats["labelled"] - stats["written"]
    saved = json.loads((out / "stats.json").read_text())
    assert saved["errors_per_category"] and saved["errors_per_severity"] and saved["filtered"] == filtered


async def test_http_teacher_unparseable_and_critic_disagreement_filtered(pool, references, tmp_path):
    """A teacher that answers garbage every third call and 'no errors' otherwise: garbage is dropped as
    unparseable; a 'no errors' label on a pair where the structural critic sees errors is dropped too."""
    n = Counter()

    def teacher_answer(messages, seed):
        n["calls"] += 1
        if n["calls"] % 3 == 0:
            return "I think they look similar, mostly."
        return json.dumps({"errors": []})

    url, stop = run_app_in_thread(chat_app(teacher_answer))
    refs = read_references(str(references))[:3]
    cfg = JudgeDataConfig(policy_samples=0, injected=3, max_errors=2, min_critic_f1=0.5, balance_ratio=0,
                          validation_fraction=0.0)
    teacher = build_judge_backend(url, model="scripted")
    try:
        stats = await make_judge_data(tmp_path / "j", refs, pool.render, teacher, None,
                                      StructuralJudge(render=pool.render), cfg, progress=False)
    finally:
        await teacher.close()
        stop()
    cands = read_jsonl(tmp_path / "j" / "candidates.jsonl")
    assert stats["filtered"]["unparseable_label"] > 0 and stats["filtered"]["teacher_critic_disagree"] > 0
    for c in cands:
        if c["reason"] == "teacher_critic_disagree":
            assert c["critic_f1"] < 0.5
        if not c["reason"]:
            assert c["critic_f1"] >= 0.5
    assert stats["splits"]["validation"] == 0


def test_critic_agreement_and_compose_and_balance_units():
    a = [JudgedError("data_error", 2, "bar 1", "height 10 changed to 20")]
    assert critic_agreement("chart", a, a) == 1.0
    assert critic_agreement("chart", [], []) == 1.0
    assert critic_agreement("chart", a, []) == 0.0
    assert critic_agreement("chart", a, [JudgedError("text_error", 1, "title", "title reads Foo")]) == 0.0

    ref = next(r for r in generate_references(6, seed=1, tasks=("table",)) if r.task == "table")
    program, errors, kinds = compose_errors("table", ref.source, 3, seed=0)
    assert program != ref.source and len(kinds) >= 2 and len(errors) >= len(kinds)
    assert compose_errors("table", ref.source, 3, seed=0) == (program, errors, kinds)  # seeded

    def cand(i, cat, sev):
        return Candidate(f"c{i:02d}", f"r{i}", "chart", "inject", "x",
                         errors=[{"category": cat, "severity": sev, "location": "", "description": ""}])

    pool = [cand(i, "data_error", 1 + i % 3) for i in range(12)] + [cand(20 + i, "text_error", 2) for i in range(2)]
    no_error = [Candidate("c99", "r99", "chart", "policy", "x")]  # one no-error pair does not set the cap
    kept, dropped = balance(pool + no_error, ratio=2.0, seed=0)
    per = Counter(c.bucket()[0] for c in kept)
    assert per == {"data_error": 4, "text_error": 2, "no_error": 1} and dropped["chart/data_error"] == 8
    assert sorted(Counter(c.bucket()[1] for c in kept if c.bucket()[0] == "data_error").values()) == [1, 1, 2]


def test_cli_make_judge_data_synthetic_structural(tmp_path, capsys):
    from verm_rl.cli import main

    out = tmp_path / "cli"
    argv = ["make-judge-data", "--references", "synthetic:2", "--task", "table", "--out", str(out), "--workers", "1",
            "--injected", "2", "--max-errors", "2", "--validation-fraction", "0", "--balance-ratio", "0"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    stats = json.loads((out / "stats.json").read_text())
    assert f"{stats['written']} pairs written" in text and stats["per_task"] == {"table": stats["written"]}
    assert stats["config"]["max_errors"] == 2 and stats["splits"]["validation"] == 0
    rows = read_jsonl(out / "sft_train.jsonl")
    assert len(rows) == stats["written"] > 0 and rows[0]["messages"][0] == {"role": "system",
                                                                          "content": "You are a helpful assistant."}
    assert {r["task"] for r in rows} == {"table"}  # the SFT collator encodes the pair as the judge profile does
    assert main(argv) == 0  # resumed: nothing new to judge, same output
    assert json.loads((out / "stats.json").read_text())["written"] == stats["written"]
    assert len((out / "references_done.txt").read_text().split()) == 2
