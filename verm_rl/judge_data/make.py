"""``verm-rl make-judge-data``: judge SFT data from real policy outputs and injected errors, labelled by a teacher.

Per reference program (verl parquet from ``verm-rl prepare``, a code-pair folder, a JSONL, or
``synthetic:N``):

1. candidates: ``policy_samples`` answers of a policy (OpenAI-compatible endpoint or local model
   folder, ``verm_rl.policy.build_policy``) shown the reference image, plus injected perturbations
   (``verm_rl.data.inject``) with 1..``max_errors`` errors each (``inject_multi`` for several: errors of
   different categories whose edits cannot hide or re-label each other);
2. render the reference and every candidate (``LocalRenderPool``);
3. label each (reference render, candidate render) with the teacher judge (any ``eval-judge`` spec:
   ``structural``, an ``http://`` endpoint, a model folder);
4. filter, each with a named reason: the policy gave no program (``no_program``), the candidate does
   not render (``render_failed``), it renders exactly like the reference (``identical_render``), the
   teacher's answer does not parse (``unparseable_label``) or never came (``teacher_failed``), and —
   when the teacher is not the structural critic and both programs are there — the teacher and the
   structural critic agree less than ``min_critic_f1`` (VC-RewardBench's soft F1 of the one item,
   ``verm_rl.eval.vc_rewardbench.score_lists``) → ``teacher_critic_disagree``;
5. balance: per task, each category bucket (the category of a pair's most severe error, or
   ``no_error``) is capped at ``balance_ratio`` × the smallest error-category bucket, picking round-robin over the
   maximum severities so severities stay as even as the data allow;
6. split by reference (no reference in both splits) and write ``sft_{train,validation}.jsonl`` (the
   chat format of ``verm-rl synth``) and ``vc_rewardbench_{train,validation}.jsonl`` (eval-judge's
   input), images under ``images/``, and ``stats.json`` (counts per task/category/severity/origin,
   filter reasons, agreement).

Resumable: every judged candidate (kept or filtered) is appended to ``candidates.jsonl`` and each
finished reference to ``references_done.txt``; a rerun skips finished references and rebuilds the
balanced splits from everything gathered so far.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import logging
import random
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from verm_rl.data.inject import inject, inject_multi
from verm_rl.judge.base import JudgeBackend, JudgeRequest
from verm_rl.judge.prompts import load_prompt, released_system_prompt
from verm_rl.judge.schema import JudgedError, Judgement
from verm_rl.tasks import extract_code, get_task

log = logging.getLogger(__name__)
RenderFn = Callable[..., Awaitable[Any]]
NO_ERROR = "no_error"
FILTER_REASONS = ("no_program", "duplicate", "render_failed", "identical_render", "teacher_failed", "unparseable_label",
                  "teacher_critic_disagree")


@dataclass
class JudgeDataConfig:
    """The knobs of ``make-judge-data`` (each one is a CLI flag of the same name)."""

    policy_samples: int = 2          # policy answers per reference (0: injected candidates only)
    policy_temperature: float = 1.0  # sampling temperature of the policy (diverse, natural mistakes)
    policy_max_tokens: int = 4096
    injected: int = 3                # injected candidates per reference
    max_errors: int = 3              # injected candidates get 1..max_errors composed errors
    min_critic_f1: float = 0.3       # keep a pair only if teacher vs structural critic soft F1 ≥ this (0: off)
    balance_ratio: float = 3.0       # category bucket cap = ratio × smallest bucket of the task (0: off)
    validation_fraction: float = 0.1  # share of references in the validation split
    seed: int = 0
    concurrency: int = 16            # renders / judge calls in flight
    references_per_batch: int = 8    # references whose candidates are generated and judged together
    prompts: dict[str, str] = field(default_factory=dict)  # task → judge prompt file (judge.prompts.<task>)


@dataclass
class Reference:
    id: str
    task: str
    source: str


@dataclass
class Candidate:
    """One judged pair, kept or filtered (``reason``); what ``candidates.jsonl`` stores."""

    id: str
    ref_id: str
    task: str
    origin: str                     # policy | inject
    source: str | None
    reason: str = ""                # "" when kept, else one of FILTER_REASONS
    errors: list[dict] = field(default_factory=list)   # the teacher's label (JudgedError fields)
    injected: list[dict] = field(default_factory=list)  # what the injector says it changed
    critic_f1: float | None = None  # soft F1 teacher vs structural critic, when both exist
    teacher_notes: list[str] = field(default_factory=list)

    @property
    def kept(self) -> bool:
        return not self.reason

    def judged_errors(self) -> list[JudgedError]:
        return [JudgedError(**e) for e in self.errors]

    def bucket(self) -> tuple[str, int]:
        """(category of the most severe error or ``no_error``, its severity) — what balancing evens out."""
        if not self.errors:
            return NO_ERROR, 0
        top = max(self.errors, key=lambda e: e["severity"])
        return top["category"], int(top["severity"])


# ------------------------------------------------------------------------------------------- inputs

def read_references(spec: str, task: str | None = None, seed: int = 0) -> list[Reference]:
    """References from ``synthetic:N``, a verl parquet, a JSONL or a code-pair folder (``verm-rl tts`` readers);
    those without a reference program are skipped with a warning."""
    if spec.startswith("synthetic:"):
        from verm_rl.data.synthetic import generate_references

        tasks = (task,) if task else None
        return [Reference(r.id, r.task, r.source)
                for r in generate_references(int(spec.split(":", 1)[1]), seed=seed, tasks=tasks)]
    from verm_rl.tts.inputs import read_inputs

    items, report = read_inputs(spec, task)
    out = []
    for item in items:
        if not item.reference_source:
            log.warning("reference %s has no program (ground truth): skipped", item.id)
            continue
        out.append(Reference(item.id, item.task, item.reference_source))
    if not out:
        raise ValueError(f"{spec}: no references with a program ({report.kept} inputs read)")
    return out


def compose_errors(task: str, source: str, n_errors: int, seed: int) -> tuple[str, list[JudgedError], list[str]] | None:
    """``source`` with injected errors: one perturbation for ``n_errors`` 1, else a multi-error one
    (``inject_multi``: 2–4 errors of different categories whose edits cannot hide or re-label each other,
    at most ``n_errors``); returns (program, its labels, kinds) or None when nothing applies."""
    rng = random.Random(f"{seed}:{task}:{n_errors}:{hashlib.blake2b(source.encode(), digest_size=8).hexdigest()}")
    found = []
    if n_errors >= 2:
        found = [p for p in inject_multi(task, source, n=4, seed=rng.randrange(1 << 30))
                 if len(p.kind.split("+")) <= n_errors][:1]
    if not found:
        found = inject(task, source, k=1, seed=rng.randrange(1 << 30))
    if not found:
        return None
    return found[0].source, list(found[0].errors), found[0].kind.split("+")


def injected_candidates(ref: Reference, cfg: JudgeDataConfig) -> list[Candidate]:
    """``cfg.injected`` candidates, the i-th with ((i mod max_errors) + 1) composed errors; duplicates dropped."""
    out, seen = [], {ref.source.strip()}
    for i in range(cfg.injected):
        made = compose_errors(ref.task, ref.source, i % max(1, cfg.max_errors) + 1, cfg.seed + i)
        if made is None or made[0].strip() in seen:
            continue
        seen.add(made[0].strip())
        out.append(Candidate(f"{ref.id}-inj{i}", ref.id, ref.task, "inject", made[0],
                             injected=[asdict(e) for e in made[1]]))
    return out


async def policy_candidates(ref: Reference, ref_png: bytes, policy: Any, cfg: JudgeDataConfig,
                            seen: set[str] | None = None) -> list[Candidate]:
    """``cfg.policy_samples`` answers of the policy shown the reference render; a program already in
    ``seen`` (or given twice) is a ``duplicate``."""
    from verm_rl.policy import task_request

    if policy is None or cfg.policy_samples <= 0:
        return []
    requests = [task_request(ref.task, ref_png, temperature=cfg.policy_temperature, max_tokens=cfg.policy_max_tokens,
                             seed=cfg.seed * 1000 + i) for i in range(cfg.policy_samples)]
    answers = await policy.generate(requests)
    out, seen = [], set(seen or ())
    for i, answer in enumerate(answers):
        code = extract_code(ref.task, answer) if answer else None
        reason = "no_program" if not code else "duplicate" if code.strip() in seen else ""
        seen.add((code or "").strip())
        out.append(Candidate(f"{ref.id}-pol{i}", ref.id, ref.task, "policy", code, reason=reason))
    return out


# ------------------------------------------------------------------------------------------ labelling

def same_pixels(a: bytes, b: bytes) -> bool:
    """Identical renders: the same bytes, or decoded images with no differing pixel."""
    if a == b:
        return True
    from PIL import Image, ImageChops

    with Image.open(io.BytesIO(a)) as ia, Image.open(io.BytesIO(b)) as ib:
        if ia.size != ib.size:
            return False
        return ImageChops.difference(ia.convert("RGB"), ib.convert("RGB")).getbbox() is None


def critic_agreement(task: str, teacher: list[JudgedError], critic: list[JudgedError]) -> float:
    """VC-RewardBench soft F1 (0–1) of the teacher's errors against the critic's, on this one pair
    (deterministic matcher). Both empty counts as full agreement."""
    from verm_rl.eval.vc_rewardbench import score_lists

    if not teacher and not critic:
        return 1.0
    return score_lists([(task, [asdict(e) for e in teacher], [asdict(e) for e in critic])])["avg"]["f1_soft"] / 100


@dataclass
class Labeller:
    """Renders, teacher, and (when the teacher is another judge) the structural critic as a second opinion."""

    render: RenderFn
    teacher: JudgeBackend
    critic: JudgeBackend | None
    cfg: JudgeDataConfig

    async def label(self, ref: Reference, ref_png: bytes, cand: Candidate, out_images: Path) -> Candidate:
        if cand.reason:
            return cand
        res = await self.render(cand.task, cand.source, trace=get_task(cand.task).structural_trace)
        if not res.ok:
            cand.reason = "render_failed"
            return cand
        if same_pixels(ref_png, res.png):
            cand.reason = "identical_render"
            return cand
        request = JudgeRequest(cand.task, ref_png, res.png, ref.source, cand.source)
        (judgement,) = await self.teacher.judge([request])
        cand.teacher_notes = list(judgement.notes)
        if judgement.status == "judge_failed":
            cand.reason = "teacher_failed"
            return cand
        if not judgement.parse_ok:
            cand.reason = "unparseable_label"
            return cand
        cand.errors = [asdict(e) for e in judgement.errors]
        if self.critic is not None:
            (opinion,) = await self.critic.judge([request])
            if opinion.parse_ok:
                cand.critic_f1 = critic_agreement(cand.task, judgement.errors, opinion.errors)
                if cand.critic_f1 < self.cfg.min_critic_f1:
                    cand.reason = "teacher_critic_disagree"
                    return cand
        (out_images / f"{cand.id}_pred.png").write_bytes(res.png)
        return cand


# ---------------------------------------------------------------------------------- balance and split

def balance(candidates: list[Candidate], ratio: float, seed: int = 0) -> tuple[list[Candidate], Counter]:
    """Cap each (task, category) bucket at ``ratio`` × the task's smallest error bucket, taking samples round-robin
    over maximum severities (seeded). Returns (kept, dropped count per "task/category")."""
    if ratio <= 0:
        return list(candidates), Counter()
    by_task: dict[str, dict[str, list[Candidate]]] = defaultdict(lambda: defaultdict(list))
    for c in candidates:
        by_task[c.task][c.bucket()[0]].append(c)
    kept, dropped = [], Counter()
    rng = random.Random(seed)
    for task, buckets in sorted(by_task.items()):
        # the smallest *error* category sets the cap: a handful of no-error pairs must not starve the rest
        sizes = [len(v) for k, v in buckets.items() if k != NO_ERROR] or [len(v) for v in buckets.values()]
        cap = max(1, int(ratio * min(sizes)))
        for category, items in sorted(buckets.items()):
            by_sev: dict[int, list[Candidate]] = defaultdict(list)
            for c in sorted(items, key=lambda c: c.id):
                by_sev[c.bucket()[1]].append(c)
            for group in by_sev.values():
                rng.shuffle(group)
            chosen: list[Candidate] = []
            while len(chosen) < min(cap, len(items)):
                for sev in sorted(by_sev):
                    if by_sev[sev] and len(chosen) < cap:
                        chosen.append(by_sev[sev].pop())
            kept += chosen
            dropped[f"{task}/{category}"] += len(items) - len(chosen)
    return sorted(kept, key=lambda c: c.id), dropped


def split_of(ref_id: str, fraction: float, seed: int = 0) -> str:
    """``validation`` for a stable ``fraction`` of references (hash of the id), else ``train``."""
    h = int(hashlib.blake2b(f"{seed}:{ref_id}".encode(), digest_size=8).hexdigest(), 16) / 2**64
    return "validation" if h < fraction else "train"


def assign_splits(candidates: list[Candidate], fraction: float, seed: int = 0) -> dict[str, list[Candidate]]:
    """Split by reference; with a positive fraction and ≥ 2 references, validation is never empty."""
    refs = sorted({c.ref_id for c in candidates})
    val = {r for r in refs if split_of(r, fraction, seed) == "validation"}
    if fraction > 0 and not val and len(refs) >= 2:
        val = {min(refs, key=lambda r: hashlib.blake2b(f"{seed}:{r}".encode()).hexdigest())}
    if len(val) == len(refs) and len(refs) >= 2:
        val.discard(sorted(val)[0])
    return {"train": [c for c in candidates if c.ref_id not in val],
            "validation": [c for c in candidates if c.ref_id in val]}


# ------------------------------------------------------------------------------------------- outputs

def answer_of(c: Candidate) -> dict[str, Any]:
    return Judgement(task=c.task, errors=c.judged_errors()).to_json_answer()


def sft_row(c: Candidate, prompt: str) -> dict[str, Any]:
    """The chat-format row of ``verm-rl synth``'s ``sft.jsonl`` (LLaMA-Factory ``messages``/``images``; images in
    (reference, candidate) order). ``task`` lets our SFT collator encode the pair as the serving judge profile does."""
    messages = [{"role": "user", "content": "<image><image>" + prompt},
                {"role": "assistant", "content": json.dumps(answer_of(c), ensure_ascii=False)}]
    system = released_system_prompt(c.task)
    if system is not None:
        messages.insert(0, {"role": "system", "content": system})
    return {"id": c.id, "task": c.task, "messages": messages,
            "images": [f"images/{c.ref_id}_ref.png", f"images/{c.id}_pred.png"]}


def bench_row(c: Candidate, ref_source: str) -> dict[str, Any]:
    spec = get_task(c.task)
    errors = [{spec.category_key: e.category, "severity": e.severity, "description": e.description,
               **({"location": e.location} if spec.error_location else {})} for e in c.judged_errors()]
    return {"id": c.id, "category": c.task, "gt_img_path": f"images/{c.ref_id}_ref.png",
            "pred_img_path": f"images/{c.id}_pred.png", "human_errors": errors, "origin": c.origin,
            "gt_source": ref_source, "pred_source": c.source}


def read_candidates(path: Path) -> list[Candidate]:
    """Candidates recorded so far (the last record of an id wins; a torn last line is ignored)."""
    found: dict[str, Candidate] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                c = Candidate(**json.loads(line))
            except (ValueError, TypeError):
                continue
            found[c.id] = c
    return list(found.values())


def stats_of(candidates: list[Candidate], splits: dict[str, list[Candidate]], dropped: Counter,
             ref_failures: Counter) -> dict[str, Any]:
    kept = [c for c in candidates if c.kept]
    by_task_origin = Counter(f"{c.task}/{c.origin}" for c in candidates)
    reasons = Counter(c.reason for c in candidates if c.reason)
    written = [c for v in splits.values() for c in v]
    per_category, per_severity = Counter(), Counter()
    for c in written:
        if not c.errors:
            per_category[f"{c.task}/{NO_ERROR}"] += 1
        for e in c.errors:
            per_category[f"{c.task}/{e['category']}"] += 1
            per_severity[f"{c.task}/{e['severity']}"] += 1
    f1s = [c.critic_f1 for c in candidates if c.critic_f1 is not None]
    return {
        "candidates": len(candidates), "labelled": len(kept), "written": len(written),
        "splits": {k: len(v) for k, v in splits.items()},
        "split_references": {k: len({c.ref_id for c in v}) for k, v in splits.items()},
        "per_task": dict(Counter(c.task for c in written)),
        "per_origin": dict(Counter(c.origin for c in written)),
        "candidates_per_task_origin": dict(by_task_origin),
        "errors_per_category": dict(sorted(per_category.items())),
        "errors_per_severity": dict(sorted(per_severity.items())),
        "pair_buckets": dict(sorted(Counter(f"{c.task}/{c.bucket()[0]}/{c.bucket()[1]}" for c in written).items())),
        "filtered": {r: reasons.get(r, 0) for r in FILTER_REASONS},
        "balance_dropped": dict(sorted(dropped.items())),
        "reference_failures": dict(ref_failures),
        "teacher_critic_f1_soft_mean": (sum(f1s) / len(f1s)) if f1s else None,
    }


def format_stats(stats: dict[str, Any]) -> str:
    lines = [f"judge data: {stats['written']} pairs written ({stats['splits']}), "
             f"{stats['labelled']} labelled of {stats['candidates']} candidates"]
    for key in ("per_task", "per_origin", "errors_per_category", "errors_per_severity", "filtered",
                "balance_dropped", "reference_failures"):
        if stats.get(key):
            lines.append(f"  {key}: " + ", ".join(f"{k}={v}" for k, v in stats[key].items()))
    if stats.get("teacher_critic_f1_soft_mean") is not None:
        lines.append(f"  teacher vs structural critic, mean soft F1: {stats['teacher_critic_f1_soft_mean']:.3f}")
    return "\n".join(lines)


def write_splits(out: Path, splits: dict[str, list[Candidate]], sources: dict[str, str], cfg: JudgeDataConfig) -> None:
    prompts = {t: load_prompt(t, cfg.prompts.get(t)) for t in {c.task for v in splits.values() for c in v}}
    for name, items in splits.items():
        with (out / f"sft_{name}.jsonl").open("w") as f:
            for c in items:
                f.write(json.dumps(sft_row(c, prompts[c.task]), ensure_ascii=False) + "\n")
        with (out / f"vc_rewardbench_{name}.jsonl").open("w") as f:
            for c in items:
                f.write(json.dumps(bench_row(c, sources.get(c.ref_id, "")), ensure_ascii=False) + "\n")


# ------------------------------------------------------------------------------------------ pipeline

async def make_judge_data(out: str | Path, references: list[Reference], render: RenderFn, teacher: JudgeBackend,
                          policy: Any = None, critic: JudgeBackend | None = None,
                          cfg: JudgeDataConfig | None = None, progress: bool = True) -> dict[str, Any]:
    """Gather, label, filter, balance and split; returns the stats (also in ``out/stats.json``)."""
    from tqdm import tqdm

    cfg = cfg or JudgeDataConfig()
    out = Path(out)
    images = out / "images"
    images.mkdir(parents=True, exist_ok=True)
    cand_path, done_path = out / "candidates.jsonl", out / "references_done.txt"
    done = set(done_path.read_text().split()) if done_path.exists() else set()
    (out / "sources.jsonl").touch()
    sem = asyncio.Semaphore(max(1, cfg.concurrency))
    labeller = Labeller(render, teacher, critic, cfg)
    todo = [r for r in references if r.id not in done]
    bar = tqdm(total=len(references), initial=len(references) - len(todo), desc="make-judge-data", disable=not progress)

    async def bounded(coro):
        async with sem:
            return await coro

    async def one(ref: Reference) -> tuple[list[Candidate], str]:
        res = await bounded(render(ref.task, ref.source, trace=get_task(ref.task).structural_trace))
        if not res.ok:
            log.warning("reference %s does not render: %s", ref.id, res.message[:200])
            return [], "reference_render_failed"
        (images / f"{ref.id}_ref.png").write_bytes(res.png)
        injected = injected_candidates(ref, cfg)
        seen = {c.source.strip() for c in injected if c.source}
        cands = injected + await policy_candidates(ref, res.png, policy, cfg, seen)
        return list(await asyncio.gather(*(bounded(labeller.label(ref, res.png, c, images)) for c in cands))), ""

    for start in range(0, len(todo), max(1, cfg.references_per_batch)):
        chunk = todo[start:start + cfg.references_per_batch]
        results = await asyncio.gather(*(one(r) for r in chunk))
        with cand_path.open("a") as f, (out / "sources.jsonl").open("a") as s, done_path.open("a") as d:
            for ref, (cands, failure) in zip(chunk, results, strict=True):
                for c in cands:
                    f.write(json.dumps(asdict(c), ensure_ascii=False) + "\n")
                s.write(json.dumps({"id": ref.id, "task": ref.task, "source": ref.source, "failed": failure}) + "\n")
                d.write(ref.id + "\n")  # after its candidates: a crash in between only repeats this reference
        bar.update(len(chunk))
    bar.close()
    return finalize(out, cfg)


def finalize(out: Path, cfg: JudgeDataConfig) -> dict[str, Any]:
    """Balance, split and write everything gathered in ``out`` so far (also what a resumed run ends with)."""
    candidates = read_candidates(out / "candidates.jsonl")
    sources, ref_failures = {}, Counter()
    for line in (out / "sources.jsonl").read_text().splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        sources[rec["id"]] = rec["source"]
        if rec.get("failed"):
            ref_failures[rec["failed"]] += 1
    kept, dropped = balance([c for c in candidates if c.kept], cfg.balance_ratio, cfg.seed)
    splits = assign_splits(kept, cfg.validation_fraction, cfg.seed)
    write_splits(out, splits, sources, cfg)
    stats = stats_of(candidates, splits, dropped, ref_failures)
    stats["config"] = asdict(cfg)
    (out / "stats.json").write_text(json.dumps(stats, indent=2))
    return stats


async def run_make_judge_data(references: str, out: str | Path, teacher: str = "structural",
                              policy: str | None = None, cfg: JudgeDataConfig | None = None, task: str | None = None,
                              limit: int | None = None, teacher_options: dict[str, Any] | None = None,
                              policy_options: dict[str, Any] | None = None, render_workers: int | None = None,
                              progress: bool = True) -> dict[str, Any]:
    """The CLI's job: read references, build the renderers, teacher, critic and policy, run, close."""
    from verm_rl.eval.backends import build_judge_backend, judge_kind
    from verm_rl.judge.structural import StructuralJudge
    from verm_rl.policy import build_policy
    from verm_rl.render.local_pool import LocalRenderPool

    cfg = cfg or JudgeDataConfig()
    refs = read_references(references, task, cfg.seed)[:limit or None]
    pool = LocalRenderPool(render_workers)
    judge = critic = backend = None
    try:
        judge = build_judge_backend(teacher, render=pool.render, prompts=cfg.prompts or None,
                                    **(teacher_options or {}))
        if judge_kind(teacher) != "structural" and cfg.min_critic_f1 > 0:
            critic = StructuralJudge(render=pool.render)
        backend = build_policy(policy, **(policy_options or {})) if policy and cfg.policy_samples > 0 else None
        return await make_judge_data(out, refs, pool.render, judge, backend, critic, cfg, progress)
    finally:
        for closable in (judge, critic, backend):
            if closable is not None:
                await closable.close()
        pool.close()
