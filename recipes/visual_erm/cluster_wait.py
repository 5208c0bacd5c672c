"""Wait until every Slurm node has joined the Ray cluster with its GPUs (``slurm/launch.sh`` runs this).

    python -m recipes.visual_erm.cluster_wait --address HEAD_IP:PORT --nodes n1,n2 --gpus-per-node 8 --timeout 600

Nodes are recognised by the ``verm-slurm-node`` label the launcher gives every ``ray start``; on timeout the
error names the nodes that never joined (or joined with too few GPUs), not just a count. Exit 0 when all are
in, 3 on timeout.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence

from recipes.visual_erm.plan import Node, nodes_from_ray_table


class ClusterNotReady(TimeoutError):
    """Some nodes did not join (or lack GPUs) before the timeout."""


_decided = threading.Event()  # set once the answer is known: the watchdog then leaves ray.shutdown() alone


def missing_nodes(expected: Sequence[str], joined: Sequence[Node], gpus_per_node: float) -> list[str]:
    """The expected nodes not in ``joined``, or in it with fewer GPUs than asked (as 'name (k/8 GPUs)')."""
    by_name = {n.name: n for n in joined}
    out = []
    for name in expected:
        node = by_name.get(name)
        if node is None:
            out.append(name)
        elif node.gpus < gpus_per_node:
            out.append(f"{name} ({node.gpus:g}/{gpus_per_node:g} GPUs)")
    return out


def port_open(address: str, timeout_s: float = 1.0) -> bool:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            return True
    except OSError:
        return False


def wait_for_nodes(address: str, expected: Sequence[str], gpus_per_node: float, timeout_s: float,
                   poll_s: float = 1.0, log: Callable[[str], None] = print) -> list[Node]:
    """Poll Ray's node table until every name in ``expected`` is alive with ``gpus_per_node`` GPUs.
    Raises ``ClusterNotReady`` naming what is missing after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not port_open(address):
        if time.monotonic() > deadline:
            raise ClusterNotReady(f"the Ray head ({expected[0] if expected else '?'}, GCS {address}) did not come up "
                                  f"within {timeout_s:g} s; missing nodes: {', '.join(expected)}")
        time.sleep(poll_s)
    import ray

    while True:  # the GCS answers before the head's raylet has registered: the driver cannot attach until then
        try:
            ray.init(address=address, logging_level="ERROR", log_to_driver=False, configure_logging=False)
            break
        except (ConnectionError, RuntimeError) as e:
            ray.shutdown()
            if time.monotonic() > deadline:
                raise ClusterNotReady(f"cannot attach to the Ray cluster at {address} within {timeout_s:g} s "
                                      f"({e}); missing nodes: {', '.join(expected)}") from e
            time.sleep(poll_s)
    try:
        last = None
        while True:
            joined = nodes_from_ray_table(ray.nodes())
            missing = missing_nodes(expected, joined, gpus_per_node)
            if not missing:
                _decided.set()
                log(f"all {len(expected)} node(s) joined: " + ", ".join(f"{n.name} ({n.gpus:g} GPU, {n.cpus:g} CPU)"
                                                                      for n in joined))
                return joined
            if missing != last:
                log(f"waiting for {len(missing)} of {len(expected)} node(s): {', '.join(missing)}")
                last = missing
            if time.monotonic() > deadline:
                _decided.set()
                raise ClusterNotReady(f"{len(missing)} of {len(expected)} node(s) did not join the Ray cluster "
                                      f"at {address} within {timeout_s:g} s: {', '.join(missing)} (see the "
                                      "job log for their `ray start` output)")
            time.sleep(poll_s)
    finally:
        ray.shutdown()


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--address", required=True)
    p.add_argument("--nodes", required=True, help="comma-separated Slurm node names")
    p.add_argument("--gpus-per-node", type=float, default=0)
    p.add_argument("--timeout", type=float, default=600)
    p.add_argument("--poll", type=float, default=1.0)
    p.add_argument("--grace", type=float, default=30, help="hard stop this long after --timeout")
    args = p.parse_args(argv)
    nodes = [n for n in args.nodes.split(",") if n]
    # ray.init against a GCS that died mid-start retries for ever inside Ray's client: a hard stop at the deadline
    watchdog = threading.Timer(args.timeout + args.grace, _give_up, args=(args.address, nodes, args.timeout))
    watchdog.daemon = True
    watchdog.start()
    try:
        wait_for_nodes(args.address, nodes, args.gpus_per_node, args.timeout, args.poll,
                       log=lambda m: print(f"[wait] {m}", flush=True))
    except ClusterNotReady as e:
        print(f"[wait] ERROR: {e}", file=sys.stderr, flush=True)
        return 3
    finally:
        watchdog.cancel()
    return 0


def _give_up(address: str, nodes: list[str], timeout_s: float) -> None:
    if _decided.is_set():
        return
    print(f"[wait] ERROR: the Ray cluster at {address} did not answer within {timeout_s:g} s; "
          f"not confirmed: {', '.join(nodes)}", file=sys.stderr, flush=True)
    os._exit(3)


if __name__ == "__main__":
    sys.exit(main())
