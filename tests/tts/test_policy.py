"""Policy backends: a real HTTP server on 127.0.0.1 and the tiny local Qwen3-VL (random weights)."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from verm_rl.policy import HttpPolicy, PolicyRequest, build_policy, decode_data_url, task_request, user_content


def png(color=(255, 0, 0), size=(40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


def test_user_content_places_images_at_markers():
    assert user_content("<image>Draw it") == [{"type": "image"}, {"type": "text", "text": "Draw it"}]
    parts = user_content("A <image> then <image>")
    assert [p["type"] for p in parts] == ["text", "image", "text", "image"]
    req = task_request("chart", png())
    assert req.image_slots() == 1 and "matplotlib" in req.messages[0]["content"][-1]["text"]


async def test_http_policy_sends_images_in_order_and_counts_failures(scripted_server):
    server = scripted_server(lambda body: (200, f"n={len(body['messages'])} model={body['model']}"))
    policy = HttpPolicy(server.url + "/v1", model="pol", retries=0)
    red, blue = png((255, 0, 0)), png((0, 0, 255))
    req = PolicyRequest([red, blue], [{"role": "system", "content": "sys"},
                                      {"role": "user", "content": user_content("<image><image>compare")}],
                        max_tokens=7, temperature=0.5)
    bad = PolicyRequest([red], [{"role": "user", "content": "no placeholder"}])
    out = await policy.generate([req, bad])
    assert out == ["n=2 model=pol", ""]
    assert policy.stats.requests == 2 and policy.stats.failures == 1 and "placeholder" in policy.stats.last_error
    body = server.requests[0]
    assert body["max_tokens"] == 7 and body["temperature"] == 0.5
    urls = [p["image_url"]["url"] for p in body["messages"][1]["content"] if p["type"] == "image_url"]
    assert [decode_data_url(u) for u in urls] == [red, blue]
    await policy.close()


async def test_http_policy_dead_endpoint_gives_empty_answer(listener):
    policy = build_policy(f"http://127.0.0.1:{listener.port}", model="m", retries=1, backoff_s=0.01, timeout_s=2)
    assert await policy.generate([task_request("svg", png())]) == [""]
    assert policy.stats.failures == 1
    await policy.close()


@pytest.mark.slow
async def test_local_policy_generates_with_tiny_model(tiny_vlm_path):
    policy = build_policy(tiny_vlm_path, engine="transformers", device="cpu")
    reqs = [task_request("chart", png(), max_tokens=6), task_request("table", png((0, 255, 0)), max_tokens=4),
            PolicyRequest([], [{"role": "user", "content": "text only"}], max_tokens=3)]
    out = await policy.generate(reqs)
    assert len(out) == 3 and all(isinstance(t, str) for t in out)
    assert policy.stats.failures == 0 and policy.batcher.batch_sizes
    with pytest.raises(ValueError):
        build_policy("/nonexistent/model")
