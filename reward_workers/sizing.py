"""Pure arithmetic for sizing Ray pools (no Ray import): shared by the pools and the ``plan`` preflight."""

from __future__ import annotations

import math
from collections.abc import Mapping


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


def spread_over_nodes(size: int, free_cpus_per_node: Mapping[str, float], cpus_per_actor: float) -> list[str | None]:
    """A node for each of ``size`` actors: each goes to the node with the most CPUs still unclaimed, so equal nodes
    are filled round-robin and a bigger node takes proportionally more. Nodes with no free CPU are skipped; with no
    such node at all every entry is ``None`` (let Ray choose)."""
    free = {node: float(cpus) for node, cpus in free_cpus_per_node.items() if cpus > 0}
    if not free:
        return [None] * size
    step = cpus_per_actor if cpus_per_actor > 0 else 1.0
    claimed = dict.fromkeys(free, 0.0)
    order = sorted(free)  # deterministic tie-break
    plan: list[str | None] = []
    for _ in range(size):
        node = max(order, key=lambda n: free[n] - claimed[n])
        claimed[node] += step
        plan.append(node)
    return plan


def judge_actor_count(num_actors: int | None, judge_nnodes: int | None, judge_gpus_per_node: int | None,
                      num_gpus: float, key: str = "verm.judge.ray_actor.num_actors") -> int:
    """Judge actors to start: ``num_actors`` when set, else as many as the GPUs reserved for the judge
    (``verm.cluster.judge_nnodes × judge_gpus_per_node``) hold at ``num_gpus`` each. An explicit count that needs
    more GPUs than are reserved is refused (the placement group could never be placed)."""
    reserved = (judge_nnodes or 0) * (judge_gpus_per_node or 0)
    if num_actors is None:
        if num_gpus <= 0:
            raise ValueError(f"{key}=null needs num_gpus > 0 to derive the count from the reserved judge GPUs")
        if reserved <= 0:
            raise ValueError(f"{key}=null needs verm.cluster.judge_nnodes and verm.cluster.judge_gpus_per_node "
                             "(the GPUs reserved for the judge); set them or set the count")
        count = math.floor(reserved / num_gpus + 1e-9)
        if count < 1:
            raise ValueError(f"one judge actor needs {num_gpus} GPUs but only {reserved} are reserved "
                             "(verm.cluster.judge_nnodes x judge_gpus_per_node)")
        return count
    count = int(num_actors)
    if count < 1:
        raise ValueError(f"{key} must be >= 1 or null, got {num_actors!r}")
    if reserved > 0 and count * num_gpus > reserved + 1e-9:
        raise ValueError(f"{key}={count} x num_gpus={num_gpus} needs {count * num_gpus:g} GPUs but "
                         f"verm.cluster reserves {reserved} for the judge (judge_nnodes x judge_gpus_per_node)")
    return count
