"""DynamicBatcher: concurrent submits share a batch, failures reach every waiter, close stops the task."""

from __future__ import annotations

import asyncio

import pytest

from verm_rl.judge.batcher import DynamicBatcher


def test_concurrent_submits_run_as_one_batch_in_order():
    batcher = DynamicBatcher(lambda xs: [x * 10 for x in xs], max_batch_size=8, max_wait_ms=50)

    async def main():
        out = await asyncio.gather(*(batcher.submit(i) for i in range(5)))
        await batcher.close()
        return out

    assert asyncio.run(main()) == [0, 10, 20, 30, 40]
    assert batcher.batch_sizes == [5]


def test_a_failing_batch_raises_in_every_waiter_and_the_next_batch_runs():
    calls = []

    async def run_batch(xs):
        calls.append(list(xs))
        if len(calls) == 1:
            raise ValueError("engine died")
        return xs

    batcher = DynamicBatcher(run_batch, max_batch_size=4, max_wait_ms=20)

    async def main():
        first = await asyncio.gather(batcher.submit(1), batcher.submit(2), return_exceptions=True)
        second = await batcher.submit(3)
        await batcher.close()
        return first, second

    first, second = asyncio.run(main())
    assert all(isinstance(e, ValueError) for e in first) and second == 3


def test_close_stops_the_task_on_this_loop_and_a_later_submit_starts_a_new_one():
    batcher = DynamicBatcher(lambda xs: xs, max_wait_ms=1)
    loop = asyncio.new_event_loop()  # a loop that is closed without cancelling its tasks, as verl's may be
    try:
        assert loop.run_until_complete(batcher.submit("a")) == "a"
        task = batcher._task
        assert task is not None and not task.done()
        loop.run_until_complete(batcher.close())
        assert task.cancelled() and batcher._task is None
        assert loop.run_until_complete(batcher.submit("b")) == "b"
        loop.run_until_complete(batcher.close())
        assert not [t for t in asyncio.all_tasks(loop) if not t.done()]
    finally:
        loop.close()
    assert asyncio.run(batcher.submit("c")) == "c"  # another loop later: a fresh task


@pytest.mark.parametrize("closes", [0, 2])
def test_close_is_safe_before_any_submit_and_twice(closes):
    batcher = DynamicBatcher(lambda xs: xs)

    async def main():
        for _ in range(closes):
            await batcher.close()
        return await batcher.submit(1)

    assert asyncio.run(main()) == 1
