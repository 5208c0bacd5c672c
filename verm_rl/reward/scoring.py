"""``score(tasks, responses, references)``: the reward as a plain function, for scripts and notebooks.

The same ``RewardPipeline`` training uses (render → de-duplicate → judge → reward), with defaults that
need no cluster and no model: renders in local warm workers shared by every call of this process, and
the structural critic as judge. Pass ``judge=`` (any ``JudgeBackend``: an HTTP judge server, a similarity
baseline) or ``backend=`` (e.g. a Ray ``RenderPool``) to change either.
"""

from __future__ import annotations

import asyncio
import atexit
import io
import os
import threading
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from verm_rl.judge import JudgeBackend
from verm_rl.reward.pipeline import RenderBackend, RewardPipeline, ScoreItem, check_backends
from verm_rl.reward.record import sample_detail
from verm_rl.reward.severity import SeverityRewardConfig
from verm_rl.tasks import check_task

T = TypeVar("T")
Reference = Any  # a program to render, or the reference image (PNG bytes, PIL, array, path): see score_item

LOCAL_WORKERS = 8
_local_backend = None
_local_lock = threading.Lock()


def local_backend() -> RenderBackend:
    """This process's shared pool of local warm render workers (started on first use, closed at exit).
    At most ``LOCAL_WORKERS`` renderers: each holds warm chart/SVG and browser processes, and a notebook on a
    large node should not start one per core; pass ``backend=LocalRenderPool(n)`` for more."""
    global _local_backend
    with _local_lock:
        if _local_backend is None:
            from verm_rl.render.local_pool import LocalRenderPool

            _local_backend = LocalRenderPool(min(LOCAL_WORKERS, os.cpu_count() or 2))
            atexit.register(_local_backend.close)
        return _local_backend


def response_text(response: Any) -> str:
    """A completion as text: a string, or TRL's conversational form (a list of messages, or one message: the
    last one's content, itself a string or a list of ``{"type": "text", "text": ...}`` parts); no message: ""."""
    if response is None:
        return ""
    if isinstance(response, str):
        return response
    if isinstance(response, dict):
        response = [response]
    if isinstance(response, (list, tuple)) and not response:
        return ""
    if isinstance(response, (list, tuple)) and isinstance(response[-1], dict):
        content = response[-1].get("content", "")
        if isinstance(content, list):
            return "".join(p if isinstance(p, str) else str(p.get("text") or "")
                           for p in content if isinstance(p, (str, dict)))
        return str(content or "")
    raise TypeError(f"a response must be a string or a list of chat messages, not {type(response).__name__}")


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif")


def _image_path(reference: Any) -> Path | None:
    """``reference`` as an image file path: a ``Path``, or a one-line string ending in an image suffix (a
    program never does). Missing: ``FileNotFoundError`` (a wrong directory, before any work)."""
    if isinstance(reference, os.PathLike):
        path = Path(reference)
    elif (isinstance(reference, str) and "\n" not in reference and len(reference) < 4096
          and reference.strip().lower().endswith(IMAGE_SUFFIXES)):
        path = Path(reference.strip()).expanduser()
    else:
        return None
    if not path.is_file():
        raise FileNotFoundError(f"reference image {str(path)!r} does not exist")
    return path


def _png(image: Any) -> bytes:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="PNG")
    return buf.getvalue()


def score_item(task: str, response: Any, reference: Any) -> ScoreItem:
    """One ``ScoreItem``: ``reference`` is a program (``str``), the reference image (PNG bytes, a PIL image, an
    HxW(xC) uint8 array, an image file path, a ``datasets`` image dict ``{"bytes", "path"}``), or None (no
    reference: the sample still gets a reward, with status ``judge_failed`` and the fallback visual term)."""
    check_task(task)
    text = response_text(response)
    if isinstance(reference, dict) and {"bytes", "path"} & reference.keys():  # datasets.Image(decode=False)
        reference = reference.get("bytes") or reference.get("path")
    path = _image_path(reference)
    if path is not None:
        return ScoreItem(task, text, reference_png=path.read_bytes())
    if reference is None:
        return ScoreItem(task, text)
    if isinstance(reference, str):
        return ScoreItem(task, text, reference_source=reference)
    if isinstance(reference, (bytes, bytearray, memoryview)):
        return ScoreItem(task, text, reference_png=bytes(reference))
    if callable(getattr(reference, "save", None)):  # a PIL image
        return ScoreItem(task, text, reference_png=_png(reference))
    if hasattr(reference, "__array_interface__"):  # a numpy array
        from PIL import Image

        return ScoreItem(task, text, reference_png=_png(Image.fromarray(reference)))
    raise TypeError(f"a reference must be a program (str), an image (PNG bytes, PIL image, array, file path) "
                    f"or None, not {type(reference).__name__}")


def score_items(tasks: Sequence[str] | str, responses: Sequence[Any],
                references: Sequence[Reference]) -> list[ScoreItem]:
    """Check the three lists (a single task name applies to every response) and pair them up."""
    for name, value in (("tasks", tasks), ("responses", responses), ("references", references)):
        if isinstance(value, (str, bytes)) and name != "tasks" or value is None:
            raise TypeError(f"{name} must be a list with one entry per sample, not {type(value).__name__}")
    responses, references = list(responses), list(references)
    task_list = [tasks] * len(responses) if isinstance(tasks, str) else list(tasks)
    if not len(task_list) == len(responses) == len(references):
        raise ValueError(f"tasks, responses and references must have the same length, got {len(task_list)}, "
                         f"{len(responses)} and {len(references)}")
    return [score_item(t, r, ref) for t, r, ref in zip(task_list, responses, references, strict=True)]


async def ascore(tasks: Sequence[str] | str, responses: Sequence[Any], references: Sequence[Reference], *,
                 judge: JudgeBackend | None = None, backend: RenderBackend | None = None,
                 reward: SeverityRewardConfig | None = None,
                 render_options: dict[str, Any] | None = None) -> tuple[list[float], list[dict[str, Any]]]:
    """``score`` for callers already in an event loop."""
    items = score_items(tasks, responses, references)
    if render_options:
        from verm_rl.render import RenderOptions

        RenderOptions().replace(**render_options)  # a typo is a TypeError here, not a crash per sample
    backend = backend if backend is not None else local_backend()
    if judge is not None or not callable(getattr(backend, "render", None)):
        check_backends(backend, judge)
    own_judge = judge is None
    if judge is None:
        from verm_rl.judge.structural import StructuralJudge

        judge = StructuralJudge(render=backend.render, render_options=render_options)
    try:
        result = await RewardPipeline(backend, judge, reward, render_options=render_options).score(items)
    finally:
        if own_judge:
            await judge.close()
    return [float(s.reward.total) for s in result.samples], [sample_detail(s) for s in result.samples]


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion from sync code, also where an event loop already runs (Jupyter)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(1, thread_name_prefix="verm-score") as pool:
        return pool.submit(asyncio.run, coro).result()


def score(tasks: Sequence[str] | str, responses: Sequence[Any], references: Sequence[Reference], *,
          judge: JudgeBackend | None = None, backend: RenderBackend | None = None,
          reward: SeverityRewardConfig | None = None,
          render_options: dict[str, Any] | None = None) -> tuple[list[float], list[dict[str, Any]]]:
    """Rewards and per-sample details for ``responses`` against ``references``, one per sample, in order.

    ``tasks``: chart | table | svg per sample (or one for all). ``references``: the program to render, or
    the reference image. Returns ``(rewards, details)``: each detail has the sample's ``status`` (ok,
    no_code, render_failed, blank, parse_failed, judge_failed), the reward parts, ``severity`` and
    ``sev_<category>``, the judge's ``errors`` and timings. Bad programs never raise; a wrong argument
    (lengths, unknown task, reference type, render option) raises ``ValueError``/``TypeError`` before any work.
    The whole call is one batch: ``norm=batch_max`` and the parse fallback see all of it."""
    return run_sync(ascore(tasks, responses, references, judge=judge, backend=backend, reward=reward,
                           render_options=render_options))


def reward_function(task_column: str = "task", reference_column: str = "reference",
                    **score_kwargs: Any) -> Callable[..., list[float]]:
    """A TRL ``GRPOTrainer`` reward function: ``f(prompts, completions, **dataset_columns) -> rewards``,
    reading each sample's task and reference from the dataset columns TRL passes as keyword arguments."""

    def visual_erm_reward(prompts: Any = None, completions: Sequence[Any] = (), **columns: Any) -> list[float]:
        for name in (task_column, reference_column):
            if name not in columns:
                raise KeyError(f"the dataset has no {name!r} column (has {sorted(columns)})")
        rewards, _ = score(columns[task_column], completions, columns[reference_column], **score_kwargs)
        return rewards

    return visual_erm_reward
