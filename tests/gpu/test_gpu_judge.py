"""GPU paths (skipped on CPU): the judge and DINO actors on CUDA in bf16, batched; vLLM when installed."""

from __future__ import annotations

import asyncio
import importlib.util

import pytest

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


def test_transformers_judge_on_cuda_bf16(tiny_vlm_path):
    from tests.judge.test_http import CAND, REF
    from verm_rl.judge import JudgeRequest, SamplingParams
    from verm_rl.judge.local import LocalJudge

    judge = LocalJudge(tiny_vlm_path, engine="transformers", sampling=SamplingParams(max_tokens=16), max_wait_ms=100)
    out = asyncio.run(judge.judge([JudgeRequest("chart", REF, CAND)] * 8))
    assert all(j.status in ("ok", "parse_failed") for j in out)
    info = judge.info()
    assert info["device"] == "cuda" and info["dtype"] == "bfloat16" and info["mean_batch_size"] > 1


def test_dino_scorer_on_cuda(tmp_path):
    from tests.reward.test_baselines import png
    from verm_rl.similarity.dino import DinoScorer, build_tiny_dinov2

    scorer = DinoScorer(build_tiny_dinov2(str(tmp_path / "dino")))
    assert scorer.device == "cuda"
    assert scorer.similarities([(png("white"), png("white"))])[0] == pytest.approx(1.0, abs=1e-2)


@pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vLLM not installed")
def test_vllm_engine(tiny_vlm_path):
    from PIL import Image

    from verm_rl.judge import SamplingParams
    from verm_rl.judge.engine import Conversation, VllmEngine, conversation_from_openai  # noqa: F401

    engine = VllmEngine(tiny_vlm_path, gpu_memory_utilization=0.3, max_model_len=2048)
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "image"}, {"type": "text", "text": "x"}]}]
    texts = engine.generate([Conversation(messages, [Image.new("RGB", (64, 64))] * 2)] * 2, SamplingParams(max_tokens=8))
    assert len(texts) == 2
