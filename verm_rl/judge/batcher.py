"""Dynamic batching: requests that arrive within a short window run as one batch."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")
log = logging.getLogger(__name__)


class DynamicBatcher(Generic[T, R]):
    """``await batcher.submit(item)``; items are grouped up to ``max_batch_size`` or until
    ``max_wait_ms`` after the first one, then ``run_batch`` (blocking, e.g. model.generate) runs in
    a thread (or awaited, when it is a coroutine function). One batch at a time: a model is one
    device's worth of work."""

    def __init__(self, run_batch: Callable[[list[T]], list[R]], max_batch_size: int = 16,
                 max_wait_ms: float = 20.0):
        self.run_batch = run_batch
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_ms / 1000
        self.batch_sizes: list[int] = []
        self._queue: asyncio.Queue | None = None
        self._task: asyncio.Task | None = None

    def _ensure_started(self) -> asyncio.Queue:
        loop = asyncio.get_running_loop()
        if self._queue is None or self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self._queue = asyncio.Queue()
            self._task = loop.create_task(self._loop())
        return self._queue

    async def submit(self, item: T) -> R:
        queue = self._ensure_started()
        future = asyncio.get_running_loop().create_future()
        await queue.put((item, future))
        return await future

    async def close(self) -> None:
        """Stop the batching task (on its own loop); a later ``submit`` starts a new one."""
        task, self._task, self._queue = self._task, None, None
        if task is None or task.done():
            return
        task.cancel()
        if task.get_loop() is asyncio.get_running_loop():
            await asyncio.gather(task, return_exceptions=True)

    async def _loop(self) -> None:
        queue = self._queue
        while True:
            batch = [await queue.get()]
            deadline = asyncio.get_running_loop().time() + self.max_wait_s
            while len(batch) < self.max_batch_size:
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(queue.get(), left))
                except asyncio.TimeoutError:
                    break
            batch = [(item, fut) for item, fut in batch if not fut.done()]  # drop what its caller cancelled
            if not batch:
                continue
            self.batch_sizes.append(len(batch))
            items = [item for item, _ in batch]
            try:
                if inspect.iscoroutinefunction(self.run_batch):
                    results: list[Any] = await self.run_batch(items)
                else:
                    results = await asyncio.to_thread(self.run_batch, items)
                if len(results) != len(items):
                    raise RuntimeError(f"run_batch returned {len(results)} results for {len(items)} items")
            except Exception as e:  # noqa: BLE001 - handed to every waiter of this batch
                log.exception("batch of %d failed", len(items))
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(e)
                continue
            for (_, fut), res in zip(batch, results):
                if not fut.done():
                    fut.set_result(res)
