"""How well a judge recovers known errors: per-category precision and recall over labelled pairs.

``Agreement`` matches errors per pair by category (each predicted error can match one true error
of the same category), the way the structural judge's labels and the injector's labels line up.
Multi-error pairs are scored by matched (category, location) with ``score_errors`` — the one place
to switch to VC-RewardBench's matcher (``verm_rl.eval.vc_rewardbench``) once that exists.
Also here: the metamorphic equivalence measurement (false positives on pixel-identical rewrites).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from verm_rl.judge.schema import JudgedError
from verm_rl.tasks import get_task


@dataclass
class Agreement:
    tp: Counter = field(default_factory=Counter)
    fp: Counter = field(default_factory=Counter)
    fn: Counter = field(default_factory=Counter)
    pairs: int = 0

    def add(self, predicted: Iterable[JudgedError], true: Iterable[JudgedError]) -> None:
        pc, tc = Counter(e.category for e in predicted), Counter(e.category for e in true)
        for c in set(pc) | set(tc):
            m = min(pc[c], tc[c])
            self.tp[c] += m
            self.fp[c] += pc[c] - m
            self.fn[c] += tc[c] - m
        self.pairs += 1

    @staticmethod
    def _pr(tp: int, fp: int, fn: int) -> dict[str, float]:
        return {"precision": tp / (tp + fp) if tp + fp else 1.0, "recall": tp / (tp + fn) if tp + fn else 1.0,
                "support": float(tp + fn)}

    def per_category(self) -> dict[str, dict[str, float]]:
        cats = sorted(set(self.tp) | set(self.fp) | set(self.fn))
        return {c: self._pr(self.tp[c], self.fp[c], self.fn[c]) for c in cats}

    def overall(self) -> dict[str, float]:
        return self._pr(sum(self.tp.values()), sum(self.fp.values()), sum(self.fn.values()))


# ------------------------------------------------------------------------------ multi-error pairs

def location_key(task: str, location: str) -> str:
    """The part of a location both sides name the same way: 'subplot 2' (charts; titles and series
    names dropped), '<rect> 3' (SVG elements); tables carry no location (``TaskSpec.location_pattern``)."""
    return get_task(task).location_key(location)


def score_errors(predicted: Iterable[JudgedError], true: Iterable[JudgedError], task: str) -> dict[str, float]:
    """Precision and recall of one pair's errors, matched one-to-one by (category, location key).

    Exact-key matching for labels and critic that share one rule book (so locations agree verbatim);
    ``LocatedAgreement.vc_rewardbench`` scores the same pairs with VC-RewardBench's F1h/F1s/Sc."""
    pc = Counter((e.category, location_key(task, e.location)) for e in predicted)
    tc = Counter((e.category, location_key(task, e.location)) for e in true)
    tp = sum((pc & tc).values())
    fp, fn = sum(pc.values()) - tp, sum(tc.values()) - tp
    return {"tp": tp, "fp": fp, "fn": fn, "precision": tp / (tp + fp) if tp + fp else 1.0,
            "recall": tp / (tp + fn) if tp + fn else 1.0}


@dataclass
class LocatedAgreement:
    """``score_errors`` summed over pairs (micro precision/recall), e.g. over multi-error pairs."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    pairs: int = 0
    exact: int = 0  # pairs where every error was found and nothing else
    triples: list = field(default_factory=list)  # (task, predicted, true) for VC-RewardBench scoring

    def add(self, predicted: Iterable[JudgedError], true: Iterable[JudgedError], task: str) -> dict[str, float]:
        predicted, true = list(predicted), list(true)
        self.triples.append((task, predicted, true))
        s = score_errors(predicted, true, task)
        self.tp, self.fp, self.fn, self.pairs = self.tp + s["tp"], self.fp + s["fp"], self.fn + s["fn"], self.pairs + 1
        self.exact += s["fp"] == 0 and s["fn"] == 0
        return s

    def overall(self) -> dict[str, float]:
        return {**Agreement._pr(self.tp, self.fp, self.fn), "pairs": float(self.pairs),
                "exact_pairs": self.exact / self.pairs if self.pairs else 1.0}

    def vc_rewardbench(self) -> dict[str, float]:
        """F1h / F1s / Sc (×100) of the same pairs as VC-RewardBench scores a judge (deterministic matcher)."""
        from verm_rl.eval.vc_rewardbench import score_lists

        avg = score_lists(self.triples)["avg"]
        return {"f1_hard": avg["f1_hard"], "f1_soft": avg["f1_soft"], "sc": avg["sc"]}


async def measure_multi_agreement(references: Iterable, render, seed: int = 0, n: int = 2,
                                  concurrency: int = 8) -> dict[str, LocatedAgreement]:
    """Multi-error pairs (``inject_multi``) of each reference rendered, judged by the structural
    critic, scored by (category, location); pairs that fail to render or look unchanged are skipped."""
    import asyncio

    from verm_rl.data.inject import inject_multi
    from verm_rl.judge.structural import compare_sources

    sem = asyncio.Semaphore(concurrency)
    out: dict[str, LocatedAgreement] = {}

    async def rendered(task: str, source: str):
        async with sem:
            return await render(task, source, trace=get_task(task).structural_trace)

    async def one(ref) -> None:
        pairs = inject_multi(ref.task, ref.source, n=n, seed=seed)
        ref_res, *results = await asyncio.gather(rendered(ref.task, ref.source),
                                                 *(rendered(ref.task, p.source) for p in pairs))
        for p, res in zip(pairs, results):
            if not (ref_res.ok and res.ok) or res.png == ref_res.png:
                continue
            found = compare_sources(ref.task, ref.source, p.source, ref_res.meta.get("trace"), res.meta.get("trace"))
            out.setdefault(ref.task, LocatedAgreement()).add(found, p.errors, ref.task)

    await asyncio.gather(*(one(ref) for ref in references))
    return out


# ------------------------------------------------------------------------- metamorphic equivalence

@dataclass
class EquivalenceResult:
    """One rewrite of one reference: were the renders pixel-identical, and what did the critic say
    about them when it compared the programs alone (the pixel short-cut switched off)?"""

    task: str
    kind: str
    reference_id: str
    rendered: bool
    identical: bool
    errors: list[JudgedError] = field(default_factory=list)


def equivalence_summary(results: Iterable[EquivalenceResult]) -> dict[str, dict[str, dict[str, float]]]:
    """Per task and rewrite kind (and ``all``): verified-identical pairs, pairs dropped because the
    rewrite changed pixels or did not render, and the critic's false-positive rate on the verified ones."""
    table: dict[str, dict[str, dict[str, float]]] = {}
    for r in results:
        for kind in (r.kind, "all"):
            row = table.setdefault(r.task, {}).setdefault(kind, {"verified": 0, "not_identical": 0, "not_rendered": 0,
                                                                 "false_positives": 0})
            if not r.rendered:
                row["not_rendered"] += 1
            elif not r.identical:
                row["not_identical"] += 1
            else:
                row["verified"] += 1
                row["false_positives"] += bool(r.errors)
    for kinds in table.values():
        for row in kinds.values():
            row["fp_rate"] = row["false_positives"] / row["verified"] if row["verified"] else 0.0
    return table


async def measure_equivalence(references: Iterable, render, seed: int = 0, concurrency: int = 8,
                              kinds: dict[str, list[str]] | None = None) -> list[EquivalenceResult]:
    """Render every reference and each of its rewrites (``verm_rl.data.rewrite``) with ``render``
    (``RenderPool.render``/``LocalRenderPool.render``); for pixel-identical pairs, run the structural
    comparison on the programs (charts: on their traces) and keep what it reports."""
    import asyncio

    from verm_rl.data.rewrite import rewrites_of
    from verm_rl.judge.structural import compare_sources
    from verm_rl.judge.structural.visual import visual_match

    sem = asyncio.Semaphore(concurrency)

    async def rendered(task: str, source: str):
        async with sem:
            return await render(task, source, trace=get_task(task).structural_trace)

    async def one(ref) -> list[EquivalenceResult]:
        rewrites = rewrites_of(ref.task, ref.source, seed=seed, kinds=(kinds or {}).get(ref.task))
        ref_res, *results = await asyncio.gather(rendered(ref.task, ref.source),
                                                 *(rendered(ref.task, rw.source) for rw in rewrites))
        out = []
        for rw, res in zip(rewrites, results):
            ok = ref_res.ok and res.ok
            match = visual_match(ref_res.png, res.png) if ok else None
            identical = bool(match and match.identical)
            errors = []
            if identical:
                errors = compare_sources(ref.task, ref.source, rw.source, ref_res.meta.get("trace"),
                                         res.meta.get("trace"))
            out.append(EquivalenceResult(ref.task, rw.kind, ref.id, ok, identical, errors))
        return out

    return [r for rows in await asyncio.gather(*(one(ref) for ref in references)) for r in rows]
