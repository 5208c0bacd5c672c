"""Judge-answer parsing time on adversarial shapes: the bounded linear parser vs the old one.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/parse_judgement.py [--small 4096] [--large 65536] [--repeats 5]

The old parser handed the whole candidate to ``json_repair`` whenever ``json.loads`` failed, whose
cost grows faster than linearly on some shapes (a 16k brace flood took 2.8 s). The old path is timed
on ``--small`` characters only (it would take seconds at 64k); the new one at ``--small`` and
``--large``. Printed per shape: milliseconds, old/new ratio at the small size, and the new parser's
microseconds per character at both sizes (equal for a linear parse). The target: every shape at
64k characters in under 50 ms.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from verm_rl.judge import parse as new  # noqa: E402
from verm_rl.testing.adversarial import adversarial_answers  # noqa: E402


def old_parse(task: str, raw: str):
    """The previous parse: the same steps, but ``json_repair`` on the whole unbounded candidate."""
    import json_repair

    def load(text: str):
        try:
            return json.loads(text), []
        except ValueError:
            pass
        try:
            obj, end = json.JSONDecoder().raw_decode(text)
            return obj, (["prose_around"] if text[end:].strip() else [])
        except ValueError:
            pass
        return json_repair.loads(text), ["repaired_json"]

    saved = new._load
    new._load = load
    try:
        return new.parse_judgement(task, raw)
    finally:
        new._load = saved


def best_ms(fn, text: str, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn("chart", text)
        best = min(best, time.perf_counter() - start)
    return best * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--small", type=int, default=4096)
    ap.add_argument("--large", type=int, default=65536)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--target-ms", type=float, default=50.0)
    args = ap.parse_args()
    small, large = adversarial_answers(args.small), adversarial_answers(args.large)
    print(f"{'shape':24s} {'old@small':>10s} {'new@small':>10s} {'old/new':>8s} {'new@large':>10s} "
          f"{'us/char s':>9s} {'us/char L':>9s}")
    worst = 0.0
    for name in small:
        old_ms = best_ms(old_parse, small[name], max(1, args.repeats // 2))
        new_small = best_ms(new.parse_judgement, small[name], args.repeats)
        new_large = best_ms(new.parse_judgement, large[name], args.repeats)
        worst = max(worst, new_large)
        print(f"{name:24s} {old_ms:10.2f} {new_small:10.2f} {old_ms / max(new_small, 1e-6):8.1f} {new_large:10.2f} "
              f"{1000 * new_small / len(small[name]):9.3f} {1000 * new_large / len(large[name]):9.3f}")
    verdict = "OK" if worst < args.target_ms else "OVER"
    print(f"worst shape at {args.large} characters: {worst:.1f} ms (target < {args.target_ms:.0f} ms: {verdict})")


if __name__ == "__main__":
    main()
