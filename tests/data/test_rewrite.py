"""Metamorphic rewrites: each kind renders pixel-identically and the critic reports nothing; one
real difference on top of a rewrite is reported exactly."""

from __future__ import annotations

import asyncio
import random
from functools import cache

import pytest

from verm_rl.data.inject import NotApplicable, inject, perturb_chart, perturbations_for
from verm_rl.data.rewrite import rewrite, rewrites_for, rewrites_of
from verm_rl.data.synthetic import generate_references
from verm_rl.eval.agreement import equivalence_summary, measure_equivalence
from verm_rl.judge.structural import compare_sources
from verm_rl.tasks import task_names

SEED = 5
# real differences put on top of a rewrite, tried in this order
INJECT_ORDER = {"chart": ["data_value", "text", "color", "legend_label", "ticks", "legend_loc"],
                "svg": ["recolor", "move_shape", "edit_text", "remove_element"],
                "table": ["numeric_cell", "text_cell", "drop_row"]}
CASES = [(task, kind) for task in task_names("rewrites") for kind in rewrites_for(task)]


@cache
def _references(task: str):
    return generate_references(60, seed=SEED, tasks=(task,))


def _first_applicable(task: str, kind: str):
    for ref in _references(task):
        try:
            return ref, rewrite(task, ref.source, kind, SEED)
        except NotApplicable:
            continue
    pytest.fail(f"rewrite {kind} applies to no synthetic {task}")


_RENDERS: dict[tuple[str, str], object] = {}


def _render(renderer, task, source):
    """Render once per source (references are shared between rewrite kinds)."""
    if (task, source) not in _RENDERS:
        res = renderer.render(task, source, trace=task == "chart")
        assert res.ok, (res.error_kind, res.message, source)
        _RENDERS[(task, source)] = res
    return _RENDERS[(task, source)]


def _compare(task, ref_source, ref_res, cand_source, cand_res):
    return compare_sources(task, ref_source, cand_source, ref_res.meta.get("trace"), cand_res.meta.get("trace"))


@pytest.mark.parametrize("task,kind", CASES, ids=[f"{t}-{k}" for t, k in CASES])
def test_rewrite_is_pixel_identical_and_critic_is_silent(renderer, task, kind):
    ref, new = _first_applicable(task, kind)
    assert new.strip() != ref.source.strip()
    ref_res, new_res = _render(renderer, task, ref.source), _render(renderer, task, new)
    assert ref_res.png == new_res.png, f"{kind} changed pixels:\n{new}"
    errors = _compare(task, ref.source, ref_res, new, new_res)
    assert errors == [], [(e.category, e.location, e.description) for e in errors]

    # one real difference on top of the rewrite: exactly that difference is reported
    for inject_kind in INJECT_ORDER[task]:
        try:
            p = perturb_chart(ref.source, inject_kind, random.Random(SEED)) if task == "chart" else \
                perturbations_for(task)[inject_kind](ref.source, random.Random(SEED))
            changed = rewrite(task, p.source, kind, SEED)
        except NotApplicable:
            continue
        changed_res = _render(renderer, task, changed)
        if changed_res.png == ref_res.png:
            continue
        found = _compare(task, ref.source, ref_res, changed, changed_res)
        assert sorted((e.category, e.severity) for e in found) == sorted((e.category, e.severity) for e in p.errors), \
            (inject_kind, [e.description for e in found], [e.description for e in p.errors])
        return
    pytest.fail(f"no injected difference could be combined with {kind}")


def test_rewrites_are_seeded_and_not_applicable_is_typed():
    ref = _references("svg")[0]
    assert rewrite("svg", ref.source, "group_transform", 1) == rewrite("svg", ref.source, "group_transform", 1)
    with pytest.raises(NotApplicable):
        rewrite("table", "<table><tr><td>a</td></tr></table>", "markdown_spacing")
    with pytest.raises(NotApplicable):
        rewrite("chart", "this is not python(", "rename")
    assert {r.kind for r in rewrites_of("svg", ref.source)} <= set(rewrites_for("svg"))


def test_equivalence_measurement_counts_and_drops(renderer):
    """The benchmark's function on a few references: verified pairs counted per kind, a rewrite
    that changes pixels dropped (not counted as a false positive)."""

    async def render(task, source, **options):
        return await asyncio.to_thread(renderer.render, task, source, **options)

    refs = [_references("svg")[0], _references("table")[0]]
    results = asyncio.run(measure_equivalence(refs, render, seed=SEED,
                                              kinds={"svg": ["style_attribute", "use"], "table": None}))
    table = equivalence_summary(results)
    assert table["svg"]["all"]["verified"] == 2 and table["svg"]["all"]["fp_rate"] == 0.0
    assert table["table"]["all"]["verified"] >= 1 and table["table"]["all"]["false_positives"] == 0


def test_multi_error_pairs_are_recovered_by_category_and_location(renderer):
    """2–4 errors of different categories at once, scored by matched (category, location)."""
    from verm_rl.data.inject import inject_multi
    from verm_rl.eval.agreement import score_errors

    seen = 0
    for task in ("svg", "table"):
        for ref in _references(task)[:6]:
            ref_res = _render(renderer, task, ref.source)
            for p in inject_multi(task, ref.source, n=2, seed=SEED):
                assert 2 <= len(p.errors) <= 4 and len({e.category for e in p.errors}) == len(p.errors)
                res = _render(renderer, task, p.source)
                scores = score_errors(_compare(task, ref.source, ref_res, p.source, res), p.errors, task)
                assert scores["precision"] == 1.0 and scores["recall"] == 1.0, (p.kind, p.errors)
                seen += 1
    assert seen >= 6
    assert inject("svg", _references("svg")[0].source, k=2, seed=SEED)  # the single-error injector still works
