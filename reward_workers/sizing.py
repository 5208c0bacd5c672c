"""Pure arithmetic for sizing Ray pools (no Ray import): shared by the pools and the ``plan`` preflight."""

from __future__ import annotations

import math


def render_pool_size(setting: int | str, free_cpus: float, cpus_per_actor: float, headroom: float = 0.1,
                     minimum: int = 1) -> int:
    """Render actors to start: ``setting`` when it is a number, else (``"auto"``) the CPUs left after every other
    reservation (``free_cpus``), less a ``headroom`` share for drivers and Ray itself, one actor per
    ``cpus_per_actor``. Never fewer than ``minimum``."""
    if str(setting).lower() != "auto":
        size = int(setting)
        if size < 1:
            raise ValueError(f"verm.render.pool_size must be >= 1 or 'auto', got {setting!r}")
        return size
    if cpus_per_actor <= 0:
        raise ValueError("verm.render.pool_size=auto needs verm.render.num_cpus_per_actor > 0")
    return max(minimum, math.floor(free_cpus * (1.0 - headroom) / cpus_per_actor))
