"""The structural judge's trace cache (cachetools FIFO, bounded): a program traced once is not
re-run while cached, and the cache never holds more than its size."""

from __future__ import annotations

import asyncio

from verm_rl.judge.structural import StructuralJudge

PROGRAM = "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.plot([1, 2, 3], [{}, 2, 1])\n"


def test_traces_are_cached_up_to_the_cache_size(renderer):
    calls = []

    async def render(task, source, **kwargs):  # the real sandboxed renderer, counted
        calls.append(source)
        return await asyncio.to_thread(renderer.render, task, source, **kwargs)

    judge = StructuralJudge(render=render, cache_size=2)
    a, b, c = (PROGRAM.format(v) for v in (1, 4, 9))

    async def run():
        first = await judge._trace("chart", a)
        again = await judge._trace("chart", a)  # cached: no render
        await judge._trace("chart", b)
        await judge._trace("chart", c)  # evicts a (first in, first out)
        await judge._trace("chart", a)
        return first, again

    first, again = asyncio.run(run())
    assert first == again and first["axes"][0]["lines"]
    assert calls == [a, b, c, a]
    assert len(judge._traces) == 2
