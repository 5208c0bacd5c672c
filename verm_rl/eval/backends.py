"""Judge backends from one command-line spec, for the tools that run outside verl (``verm-rl tts``,
``verm-rl eval-judge``). Training builds its judge from the Hydra config instead
(``reward_workers.factory``); the backends are the same classes.

Specs:
- ``structural``: the deterministic critic (needs the reference and candidate programs);
- ``http://host:port[/v1][,http://…]``: OpenAI-compatible endpoint(s) serving a Visual-ERM-shaped judge
  (``vllm serve``, ``verm-rl serve-judge``);
- ``ray_actor:/path/to/model``: dedicated Ray actors (GPU when there is one) — starts or joins Ray;
- ``/path/to/model``: the model in this process (``LocalJudge``, transformers or vLLM).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from verm_rl.judge import JudgeBackend, SamplingParams

RenderFn = Callable[..., Awaitable[Any]]
IMAGE_JUDGES = ("http", "ray_actor", "local")


def judge_kind(spec: str) -> str:
    """structural | http | ray_actor | local (raises on anything else)."""
    spec = spec.strip()
    if spec == "structural":
        return "structural"
    if spec.startswith(("http://", "https://")):
        return "http"
    if spec.startswith("ray_actor:"):
        return "ray_actor"
    if Path(spec).expanduser().is_dir():
        return "local"
    raise ValueError(f"judge {spec!r}: expected 'structural', an http(s):// endpoint, 'ray_actor:<model dir>' "
                     "or a local model folder")


def build_judge_backend(spec: str, render: RenderFn | None = None, model: str | None = None,
                        api_key: str | None = None, sampling: SamplingParams | None = None,
                        max_concurrency: int = 64, timeout_s: float = 300.0, engine: str = "auto",
                        num_actors: int = 1, num_gpus: float = 1.0, max_batch_size: int = 16,
                        prompts: dict[str, str] | None = None) -> JudgeBackend:
    """The backend for ``spec``; ``render`` (e.g. ``LocalRenderPool.render``) lets the structural
    critic trace charts on the same warm renderers as the rest of the run."""
    kind = judge_kind(spec)
    sampling = sampling or SamplingParams()
    if kind == "structural":
        from verm_rl.judge.structural import StructuralJudge

        return StructuralJudge(render=render)
    if kind == "http":
        from verm_rl.judge.http import HttpJudge, HttpJudgeConfig

        return HttpJudge(HttpJudgeConfig(endpoints=[e for e in spec.split(",") if e.strip()],
                                         model=model or "reward_service", api_key=api_key, sampling=sampling,
                                         max_concurrency=max_concurrency, timeout_s=timeout_s,
                                         prompts=prompts or {}))
    if kind == "ray_actor":
        from reward_workers.judge_actor import RayActorJudge  # Ray only when asked for

        return RayActorJudge(spec.split(":", 1)[1], num_actors=num_actors, num_gpus=num_gpus, engine=engine,
                             sampling=sampling, prompts=prompts or {}, max_batch_size=max_batch_size)
    from verm_rl.judge.local import LocalJudge

    return LocalJudge(spec, engine=engine, sampling=sampling, max_batch_size=max_batch_size, prompts=prompts)
