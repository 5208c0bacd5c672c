"""The judge request per task and profile, as a real OpenAI-compatible server on 127.0.0.1 receives
it; resampling on parse failures; the released reward variants."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import math

import numpy as np
import pytest
from PIL import Image

from verm_rl.judge import JudgeRequest, SamplingParams
from verm_rl.judge.http import HttpJudge
from verm_rl.judge.profiles import judge_inputs, judge_inputs_from_config
from verm_rl.judge.prompts import load_prompt, local_images, local_messages


def noisy_png(size, mode="RGB", seed=0) -> bytes:
    """A picture with detail (so JPEG and resampling differences show up in the bytes)."""
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, (size[1], size[0], len(mode)), dtype=np.uint8)
    if mode == "RGBA":
        arr[..., 3] = 255
    buf = io.BytesIO()
    Image.fromarray(arr, mode).save(buf, format="PNG")
    return buf.getvalue()


REF = noisy_png((1500, 600), "RGBA", 1)  # matplotlib writes RGBA
CAND = noisy_png((900, 1300), "RGB", 2)
SMALL = noisy_png((300, 200), "RGB", 3)


def released_chart_image(png: bytes) -> str:
    """The released chart/SVG reward's encoding, re-done here independently: thumbnail to 1024,
    then RGB, then JPEG at Pillow's defaults."""
    with Image.open(io.BytesIO(png)) as img:
        img.thumbnail((1024, 1024))
        if img.mode != "RGB":
            img = img.convert("RGB")
        buf = io.BytesIO()
        img.save(buf, format="JPEG")
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


def released_table_image(png: bytes) -> str:
    """The released table reward's encoding: RGB, thumbnail to 768, PNG, media type 'image'."""
    img = Image.open(io.BytesIO(png)).convert("RGB")
    img.thumbnail((768, 768))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return "data:image;base64," + base64.b64encode(buf.getvalue()).decode()


def decode(url: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))


def run(judge, requests):
    async def go():
        try:
            return await judge.judge(requests)
        finally:
            await judge.close()

    return asyncio.run(go())


@pytest.fixture
def echo_server(scripted_server):
    return scripted_server(lambda body: (200, '{"errors": []}'))


@pytest.mark.parametrize("task", ["chart", "svg"])
def test_released_chart_svg_request(echo_server, task):
    [j] = run(HttpJudge(endpoints=[echo_server.url], profile="released"), [JudgeRequest(task, REF, CAND)])
    assert j.parse_ok
    body = echo_server.requests[0]
    assert [m["role"] for m in body["messages"]] == ["user"]  # no system prompt
    parts = body["messages"][0]["content"]
    assert [p["type"] for p in parts] == ["image_url", "image_url", "text"]
    assert parts[0]["image_url"]["url"] == released_chart_image(REF)  # reference first, byte-identical
    assert parts[1]["image_url"]["url"] == released_chart_image(CAND)
    assert decode(parts[0]["image_url"]["url"]).format == "JPEG"
    assert max(decode(parts[0]["image_url"]["url"]).size) == 1024
    assert parts[2]["text"] == load_prompt(task)  # no prefix
    assert body["temperature"] == 0.7 and body["top_p"] == 0.8 and body["top_k"] == 20
    assert body["presence_penalty"] == 1.5 and body["max_tokens"] == 4096
    assert "repetition_penalty" not in body  # 1.0, not sent (as released)


def test_released_table_request(echo_server):
    [j] = run(HttpJudge(endpoints=[echo_server.url]), [JudgeRequest("table", REF, CAND)])  # released is default
    assert j.parse_ok
    body = echo_server.requests[0]
    assert body["messages"][0] == {"role": "system", "content": "You are a helpful assistant."}
    parts = body["messages"][1]["content"]
    assert [p["type"] for p in parts] == ["image_url", "image_url", "text"]
    assert parts[0]["image_url"]["url"] == released_table_image(REF)
    assert parts[1]["image_url"]["url"] == released_table_image(CAND)
    assert decode(parts[1]["image_url"]["url"]).format == "PNG"
    assert decode(parts[1]["image_url"]["url"]).size == (532, 768)  # 900x1300 shrunk to ≤ 768 (Pillow rounds 531.7 up)
    assert parts[2]["text"] == "<image>\n<image>\n" + load_prompt("table")
    assert body["temperature"] == 0.0 and body["max_tokens"] == 8192 and body["repetition_penalty"] == 1.05
    assert "top_k" not in body and "presence_penalty" not in body


@pytest.mark.parametrize("task", ["chart", "table", "svg"])
def test_greedy_profile_keeps_inputs_and_decodes_greedily(echo_server, task):
    run(HttpJudge(endpoints=[echo_server.url], profile="greedy"), [JudgeRequest(task, REF, SMALL)])
    body = echo_server.requests[0]
    user = body["messages"][-1]["content"]
    encode = released_table_image if task == "table" else released_chart_image
    assert user[0]["image_url"]["url"] == encode(REF)
    assert user[1]["image_url"]["url"] == encode(SMALL) and decode(user[1]["image_url"]["url"]).size == (300, 200)
    assert body["temperature"] == 0.0 and body["top_p"] == 1.0
    assert "top_k" not in body and "presence_penalty" not in body
    assert body["max_tokens"] == (8192 if task == "table" else 4096)
    assert (body["messages"][0]["role"] == "system") == (task == "table")


@pytest.mark.parametrize("task", ["chart", "table", "svg"])
def test_legacy_profile_is_the_old_request(echo_server, task):
    run(HttpJudge(endpoints=[echo_server.url], profile="legacy"), [JudgeRequest(task, REF, CAND)])
    body = echo_server.requests[0]
    user = body["messages"][-1]["content"]
    img = decode(user[0]["image_url"]["url"])
    assert user[0]["image_url"]["url"].startswith("data:image/png;base64,") and img.format == "PNG"
    assert max(img.size) == 1024 and user[2]["text"] == load_prompt(task)
    assert body["temperature"] == 0.0 and body["max_tokens"] == 4096


def test_overrides_from_config_apply_over_the_profile(echo_server, tmp_path):
    cfg = {"profile": "released", "max_tokens": 2048, "image_format": "png", "max_image_side": 512,
           "temperature": None, "per_task": {"table": {"max_tokens": 8000}}, "on_parse_failure": "keep"}
    inputs = judge_inputs_from_config(cfg)
    run(HttpJudge(endpoints=[echo_server.url], inputs=inputs),
        [JudgeRequest("chart", REF, CAND), JudgeRequest("table", REF, CAND)])
    by_task = {("table" if b["messages"][0]["role"] == "system" else "chart"): b for b in echo_server.requests}
    chart, table = by_task["chart"], by_task["table"]
    assert chart["max_tokens"] == 2048 and chart["temperature"] == 0.7 and table["max_tokens"] == 8000
    url = chart["messages"][0]["content"][0]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,") and max(decode(url).size) == 512
    assert inputs.for_task("chart").parse_attempts == 1
    with pytest.raises(ValueError, match="unknown judge profile"):
        judge_inputs("sampled")
    with pytest.raises(ValueError, match="unknown judge setting"):
        judge_inputs_from_config({"per_task": {"chart": {"temprature": 0.1}}})
    with pytest.raises(ValueError, match="image_format"):
        judge_inputs(image_format="webp")


def test_local_judge_inputs_match_the_http_request(echo_server):
    """The ray_actor/local backend decodes exactly the bytes an http judge sends, same layout."""
    inputs = judge_inputs("released")
    run(HttpJudge(endpoints=[echo_server.url], inputs=inputs), [JudgeRequest("table", REF, CAND)])
    parts = echo_server.requests[0]["messages"][1]["content"]
    s = inputs.for_task("table")
    images = local_images(REF, CAND, s)
    for img, part in zip(images, parts[:2], strict=True):
        assert np.array_equal(np.asarray(img), np.asarray(decode(part["image_url"]["url"]).convert("RGB")))
    messages = local_messages(inputs.prompt("table"), s)
    assert messages[0] == {"role": "system", "content": "You are a helpful assistant."}
    assert messages[1]["content"][2]["text"] == parts[2]["text"]


def test_resample_on_parse_failure_garbage_twice_then_json(scripted_server):
    calls = {"n": 0}

    def garbage_twice(body):
        calls["n"] += 1
        if calls["n"] <= 2:
            return 200, "The generated chart looks mostly fine to me."
        return 200, json.dumps({"errors": [{"category": "data_error", "severity": 3, "location": "bars",
                                            "description": "wrong heights"}]})

    server = scripted_server(garbage_twice)
    [j] = run(HttpJudge(endpoints=[server.url], on_parse_failure="resample",
                        inputs=judge_inputs("released", on_parse_failure="resample", parse_attempts=3)),
              [JudgeRequest("chart", REF, CAND)])
    assert j.parse_ok and j.total_severity == 3 and "parse_attempts:3" in j.notes
    assert len(server.requests) == 3
    assert server.requests[0] == server.requests[2]  # the same request, sampled again


def test_released_two_attempts_then_fixed_severity_reward(scripted_server):
    """Released chart/SVG: 2 calls, then Σseverity 25 → verm 0.5 → reward 1.5 at norm 50."""
    from verm_rl.render.result import RenderResult
    from verm_rl.reward.severity import SeverityRewardConfig, score_batch

    server = scripted_server(lambda body: (200, "not json at all"))
    [j] = run(HttpJudge(endpoints=[server.url]), [JudgeRequest("svg", REF, CAND)])
    assert j.status == "parse_failed" and len(server.requests) == 2
    [t] = run(HttpJudge(endpoints=[server.url]), [JudgeRequest("table", REF, CAND)])
    assert t.status == "parse_failed" and len(server.requests) == 3  # table: one call, as released

    ok = RenderResult(ok=True, png=SMALL)
    cfg = SeverityRewardConfig(parse_fallback="severity")
    [b] = score_batch([("svg", ok, j)], cfg)
    assert b.fallback_used and b.verm == 0.5 and b.total == 1.5
    [m] = score_batch([("svg", ok, j)], SeverityRewardConfig())  # batch_mean with nothing to average
    assert m.total == 1.5 and m.verm == 0.5  # default fallback_default 0.5
    assert not math.isnan(m.verm)


def test_released_table_formula():
    from verm_rl.judge.schema import JudgedError, Judgement
    from verm_rl.render.result import RenderResult
    from verm_rl.reward.severity import SeverityRewardConfig, score_batch

    ok, failed = RenderResult(ok=True, png=SMALL), RenderResult(ok=False, error_kind="timeout")
    judged = Judgement("table", errors=[JudgedError("text_error", 2), JudgedError("layout_error", 3)])
    chart = Judgement("chart", errors=[JudgedError("data_error", 3)])
    cfg = SeverityRewardConfig(formula={"table": "neg_severity"})
    out = score_batch([("table", ok, judged), ("table", failed, None),
                       ("table", ok, Judgement("table", status="parse_failed")), ("chart", ok, chart)], cfg)
    assert [b.total for b in out[:3]] == [-5.0, -4.0, -4.0]
    assert out[3].total == pytest.approx(1 + (1 - 3 / 50))  # chart keeps the verm formula
    with pytest.raises(ValueError, match="formula"):
        SeverityRewardConfig(formula="neg")
    from verm_rl.reward.severity import released_reward_options

    assert released_reward_options({"formula": {"table": "neg_severity"}, "failure_value": -4}) == {
        "formula": {"table": "neg_severity"}, "failure_value": -4.0}


def test_explicit_sampling_replaces_the_profile_for_every_task(echo_server):
    run(HttpJudge(endpoints=[echo_server.url], sampling=SamplingParams(max_tokens=7)),
        [JudgeRequest("table", REF, CAND)])
    body = echo_server.requests[0]
    assert body["max_tokens"] == 7 and "repetition_penalty" not in body


def test_local_judge_follows_the_profile_with_the_tiny_model(tiny_vlm_path):
    """LocalJudge (the ray_actor engine) on the real tiny Qwen3-VL: per-task sampling groups in one
    batch (chart samples with presence_penalty, table is greedy), resampling counted per call."""
    from verm_rl.judge.local import LocalJudge

    judge = LocalJudge(tiny_vlm_path, engine="transformers", inputs=judge_inputs("released", max_tokens=6),
                       max_wait_ms=200)
    requests = [JudgeRequest(t, SMALL, SMALL) for t in ("chart", "table", "svg")]
    out = asyncio.run(judge.judge(requests))
    assert all(j.status in ("ok", "parse_failed") for j in out)
    expected_calls = sum(2 if (j.status == "parse_failed" and r.task != "table") or "parse_attempts:2" in j.notes
                         else 1 for r, j in zip(requests, out, strict=True))
    assert sum(judge.batcher.batch_sizes) == expected_calls and judge.info()["profile"] == "released"


def test_presence_penalty_for_transformers_generate():
    import torch

    from verm_rl.judge.engine import _PresencePenalty

    ids = torch.tensor([[5, 6, 1, 1, 3]])  # prompt of 2 tokens, then 1, 1, 3 generated
    scores = torch.zeros(1, 8)
    out = _PresencePenalty(1.5, prompt_len=2)(ids, scores)
    assert out[0].tolist() == [0, -1.5, 0, -1.5, 0, 0, 0, 0]  # once per token present, prompt tokens free


def test_pipeline_factory_passes_profile_and_reward_variants(echo_server):
    """The reward pipeline's factory (what the recipe calls) builds the judge from the profile keys
    and the reward from the released-variant keys."""
    from reward_workers.factory import build_judge, reward_config

    judge_cfg = {"backend": "http", "endpoints": [echo_server.url], "profile": "greedy", "max_tokens": None,
                 "prompts": None, "per_task": {"svg": {"max_image_side": 336}}}
    judge = build_judge(judge_cfg, pool=None)
    assert judge.inputs.profile == "greedy" and judge.inputs.for_task("svg").max_image_side == 336
    assert judge.inputs.for_task("table").sampling.max_tokens == 8192
    cfg = reward_config({"name": "verm", "parse_fallback": "severity", "formula": {"table": "neg_severity"},
                         "fallback_severity": 20})
    assert cfg.formula_for("table") == "neg_severity" and cfg.formula_for("chart") == "verm"
    assert cfg.fallback_severity == 20.0 and cfg.failure_value == -4.0


def test_resampling_with_a_fixed_seed_shifts_the_seed(scripted_server):
    server = scripted_server(lambda body: (200, "garbage"))
    [j] = run(HttpJudge(endpoints=[server.url], inputs=judge_inputs("released", seed=5, parse_attempts=3,
                                                                       on_parse_failure="resample")),
              [JudgeRequest("chart", REF, CAND)])
    assert j.status == "parse_failed" and "parse_attempts:3" in j.notes
    assert [b["seed"] for b in server.requests] == [5, 6, 7]
