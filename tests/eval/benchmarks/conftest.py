"""One warm sandboxed render pool shared by the benchmark tests (a worker start costs seconds)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def render_pool():
    from verm_rl.render.local_pool import LocalRenderPool

    pool = LocalRenderPool(size=2)
    yield pool
    pool.close()
