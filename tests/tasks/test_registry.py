"""The task registry: built-in specs resolve, unknown names fail clearly, and a fourth task defined
here alone ("ascii": text in a ```text fence, drawn with PIL, judged under its own category key
"kind") runs through extract → render → the structural judge → reward with the library's own
functions, and brings its own error injector.

The toy task renders through the real sandboxed path (``Renderer.render`` → the warm worker → a
sandboxed child): the render layer reads the renderer from the spec registered here, and the worker
imports ``render_ascii`` by its path (``tests.tasks.test_registry:render_ascii``) before it forks.
"""

from __future__ import annotations

import asyncio
import io
import random
import subprocess
import sys
from collections.abc import Mapping
from importlib import resources
from typing import Any

import pytest
from PIL import Image, ImageDraw

from verm_rl.data.dataset import make_row, task_of
from verm_rl.data.inject import inject, inject_multi
from verm_rl.data.inject.base import Injector, NotApplicable, Perturbation
from verm_rl.data.synthetic import generate_references
from verm_rl.judge import JudgeRequest
from verm_rl.judge.parse import parse_judgement
from verm_rl.judge.profiles import TaskJudgeSettings, judge_inputs
from verm_rl.judge.prompts import load_prompt
from verm_rl.judge.schema import JudgedError, Judgement
from verm_rl.judge.structural import StructuralJudge
from verm_rl.render import RenderOptions
from verm_rl.render.result import RenderFailure, RenderResult
from verm_rl.reward import ROW_KEYS, ScoredSample, sample_row, score_batch
from verm_rl.tasks import (
    CATEGORIES,
    CATEGORY_KEY,
    TASKS,
    TaskSpec,
    TaskSpecError,
    UnknownTaskError,
    extract_code,
    get_task,
    register_task,
    task_names,
    unregister_task,
)
from verm_rl.tasks.fences import blocks_in
from verm_rl.tts.feedback import feedback_text

# ------------------------------------------------------------------------------------- the toy task


def extract_ascii(response: str) -> str | None:
    blocks = [b.strip("\n") for b in blocks_in(response, ("text", "txt")) if b.strip()]
    return blocks[-1] if blocks else None


def render_ascii(source: str, options: Any, meta: dict[str, Any]) -> bytes:
    """Each line drawn in PIL's default font on a white canvas (run in the sandboxed child; ``options``:
    the render layer's ``RenderOptions``)."""
    lines = source.splitlines()
    if not any(line.strip() for line in lines):
        raise RenderFailure("blank", "nothing to draw")
    if "RAISE" in source:
        raise ValueError("asked to fail")
    img = Image.new("RGB", (240, 16 * len(lines) + 8), "white")
    draw = ImageDraw.Draw(img)
    for i, line in enumerate(lines):
        draw.text((4, 4 + 16 * i), line, fill="black")
    out = io.BytesIO()
    img.save(out, format="PNG")
    meta["lines"] = len(lines)
    return out.getvalue()


def compare_ascii(reference: str, candidate: str, reference_trace: Any, candidate_trace: Any) -> list[JudgedError]:
    """One glyph error per differing line (severity: 1 for one character, else 2), one layout error
    (severity 3) for a different number of lines."""
    ref, cand = reference.splitlines(), candidate.splitlines()
    errors = []
    for i, (a, b) in enumerate(zip(ref, cand), 1):
        if a != b:
            wrong = sum(x != y for x, y in zip(a, b)) + abs(len(a) - len(b))
            errors.append(JudgedError("glyph_error", 1 if wrong == 1 else 2, f"line {i}", f"{b!r} instead of {a!r}"))
    if len(ref) != len(cand):
        errors.append(JudgedError("layout_error", 3, "text", f"{len(cand)} lines instead of {len(ref)}"))
    return errors


def _swap_line(source: str, rng: random.Random) -> Perturbation:
    lines = source.splitlines()
    if len(lines) < 2:
        raise NotApplicable("one line")
    i = rng.randrange(len(lines) - 1)
    lines[i], lines[i + 1] = lines[i + 1], lines[i]
    return Perturbation("swap_lines", "\n".join(lines), [JudgedError("glyph_error", 2, f"line {i + 1}", "swapped"),
                                                         JudgedError("glyph_error", 2, f"line {i + 2}", "swapped")])


def _add_line(source: str, rng: random.Random) -> Perturbation:
    return Perturbation("add_line", source + "\nEXTRA", [JudgedError("layout_error", 3, "text", "one line too many")])


ASCII_PERTURBATIONS = {"swap_lines": _swap_line, "add_line": _add_line}
ASCII_INJECTOR = Injector(ASCII_PERTURBATIONS, {"swap_lines": "glyph", "add_line": "layout"},
                          last=frozenset({"add_line"}))


ASCII = TaskSpec(
    name="ascii",
    extract=extract_ascii,
    categories=("glyph_error", "layout_error"),
    category_key="kind",  # neither category, type nor error_type: the answer parser must read the spec's key
    location_pattern=r"line \d+",
    noun="text art",
    fence="text",
    fence_langs=("text", "txt"),
    source_suffixes=(".txt",),
    renderer=render_ascii,
    comparer=compare_ascii,
    injector=ASCII_INJECTOR,
    broken_program="",
)


@pytest.fixture
def ascii_task():
    register_task(ASCII)
    yield ASCII
    unregister_task("ascii")


def render(task: str, source: str | None) -> RenderResult:
    """The render layer's own path: the warm worker, a sandboxed child per render."""
    from verm_rl.render import render as sandboxed_render

    return sandboxed_render(task, source)


def judge(task: str, reference: str, ref_png: bytes, candidate: str, cand_png: bytes) -> Judgement:
    """The structural judge (the reward path's critic) on the pair; its JSON answer is parsed back as
    any judge's answer is, and must say the same."""
    request = JudgeRequest(task, ref_png, cand_png, reference_source=reference, candidate_source=candidate)
    judged = asyncio.run(StructuralJudge().judge([request]))[0]
    assert judged.status == "ok", judged.notes
    parsed = parse_judgement(task, judged.raw)
    assert parsed.status == "ok" and "unknown_category" not in parsed.notes
    assert [(e.category, e.severity, e.location) for e in parsed.errors] == [
        (e.category, e.severity, e.location) for e in judged.errors]
    return parsed


# ------------------------------------------------------------------------------------------ the tests

def test_a_fourth_task_runs_from_response_to_reward(ascii_task):
    reference = "HELLO\nWORLD"
    responses = {
        "right": "Here it is:\n```text\nHELLO\nWORLD\n```",
        "one_glyph": "```text\nHELLO\nW0RLD\n```",
        "two_lines_wrong": "```txt\nJELLO\nWORD\nEXTRA\n```",
        "no_code": "I cannot read that image.",
    }
    ref_render = render("ascii", reference)
    assert ref_render.ok, ref_render.message
    assert ref_render.meta["lines"] == 2 and "audit_hook" in ref_render.meta["layers"]  # drawn in the sandbox
    in_process = get_task("ascii").render(reference, RenderOptions().resolved("ascii"))
    assert ref_render.png == in_process  # the spec's renderer is the function the worker ran
    crash = render("ascii", "RAISE")
    assert (crash.error_kind, crash.message) == ("runtime", "ValueError: asked to fail")
    samples = []
    judgements = {}
    for name, response in responses.items():
        code = extract_code("ascii", response)
        result = render("ascii", code)
        judgement = judge("ascii", reference, ref_render.png, code, result.png) if result.ok else None
        judgements[name] = judgement
        samples.append(("ascii", result, judgement))
    rewards = dict(zip(responses, score_batch(samples)))

    assert rewards["right"].total == pytest.approx(2.0) and rewards["right"].status == "ok"
    assert judgements["right"].errors == []
    assert [(e.category, e.severity, e.location) for e in judgements["one_glyph"].errors] == [
        ("glyph_error", 1, "line 2")]
    assert 1.0 < rewards["one_glyph"].total < rewards["right"].total
    assert rewards["two_lines_wrong"].total < rewards["one_glyph"].total
    assert {e.category for e in judgements["two_lines_wrong"].errors} == {"glyph_error", "layout_error"}
    assert rewards["no_code"].total == 0.0 and rewards["no_code"].status == "no_code"
    wrong = rewards["two_lines_wrong"]  # the reward counts the task's own categories
    assert wrong.count_by_category == {"glyph_error": 2, "layout_error": 1}
    assert wrong.severity_by_category == {"glyph_error": 1 + 2, "layout_error": 3}  # JELLO: 1 glyph; WORD: 2
    # ... and so does the one flattener every logger reads (the task was registered after it was imported)
    row = sample_row(ScoredSample(wrong, samples[2][1], judgements["two_lines_wrong"]))
    assert row["n_glyph_error"] == 2 and row["sev_layout_error"] == 3 and row["n_other"] == 0
    assert set(ROW_KEYS) == set(row) and row["task"] == "ascii"


def test_the_toy_task_is_visible_through_every_view(ascii_task):
    assert "ascii" in TASKS and "ascii" in task_names() and TASKS[-1] == "ascii"
    assert CATEGORIES["ascii"] == ("glyph_error", "layout_error") and CATEGORY_KEY["ascii"] == "kind"
    answer = Judgement("ascii", [JudgedError("glyph_error", 2, "line 1", "x")]).to_json_answer()
    assert answer == {"glyph_error_count": 1, "layout_error_count": 0,
                      "errors": [{"kind": "glyph_error", "severity": 2, "location": "line 1", "description": "x"}]}
    nudge = feedback_text("ascii", False, "no_code", "", [])
    assert "did not contain a text art" in nudge and "```text code block" in nudge
    row = make_row("ascii", b"png", "HI", 0, prompt="Draw <image> as text.")
    assert row["data_source"] == "ascii2code" and task_of(row["data_source"]) == "ascii"
    assert judge_inputs().for_task("ascii") == TaskJudgeSettings()  # no released settings: the defaults
    with pytest.raises(FileNotFoundError, match="no bundled judge prompt"):
        load_prompt("ascii")
    assert {r.task for r in generate_references(6)} == {"chart", "table", "svg"}  # no generator: left out


def test_unknown_task_names_the_registered_ones():
    with pytest.raises(UnknownTaskError, match=r"unknown task 'latex'; registered tasks: chart, table, svg"):
        get_task("latex")
    with pytest.raises(ValueError):
        extract_code("latex", "```latex\nx\n```")
    with pytest.raises(KeyError):
        CATEGORIES["latex"]
    assert "latex" not in TASKS


def test_registering_twice_needs_replace(ascii_task):
    with pytest.raises(TaskSpecError, match="already registered"):
        register_task(TaskSpec(name="ascii", extract=extract_ascii, categories=("x_error",)))
    other = TaskSpec(name="ascii", extract=extract_ascii, categories=("x_error",))
    assert register_task(other, replace=True) is other and get_task("ascii") is other
    with pytest.raises(TypeError):
        register_task({"name": "dict"})  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [dict(name="Bad Name"), dict(categories=()), dict(categories=("other",)),
                                 dict(categories=("a", "a")), dict(category_key=""), dict(worker_family="gpu"),
                                 dict(render_timeout_s=0)])
def test_malformed_specs_are_refused(bad):
    with pytest.raises(TaskSpecError):
        TaskSpec(**{"name": "toy", "extract": extract_ascii, "categories": ("a_error",), **bad})


def test_a_reference_that_does_not_import_is_a_clear_error():
    spec = TaskSpec(name="toy", extract=extract_ascii, categories=("a_error",), comparer="verm_rl.nowhere:compare",
                    rewrites="no_colon")
    with pytest.raises(TaskSpecError, match="task 'toy' comparer: cannot import 'verm_rl.nowhere:compare'"):
        spec.resolve("comparer")
    with pytest.raises(TaskSpecError, match="not of the form"):
        spec.resolve("rewrites")
    with pytest.raises(TaskSpecError, match="has no injector"):
        spec.resolve("injector")


@pytest.mark.parametrize("task", ["chart", "table", "svg"])
def test_every_reference_of_a_builtin_task_resolves(task):
    spec = get_task(task)
    refs = spec.references()
    assert {"extract", "renderer", "comparer", "injector", "rewrites", "converter", "synthetic", "item_metrics",
            "judge_settings"} <= set(refs)
    for name in refs:
        obj = spec.resolve(name)
        if name == "injector":
            assert isinstance(obj, Injector) and set(obj.category) == set(obj.perturbations)
            assert obj.perturbations and all(callable(f) for f in obj.perturbations.values())
        elif name == "rewrites":
            assert isinstance(obj, Mapping) and obj and all(callable(f) for f in obj.values())
        elif name == "judge_settings":
            assert isinstance(obj, TaskJudgeSettings)
        else:
            assert callable(obj), name
    prompts = resources.files("verm_rl") / "prompts"
    assert (prompts / spec.policy_prompt).is_file() and (prompts / spec.judge_prompt).is_file()
    assert spec.source_suffixes and spec.fence in spec.fence_langs and spec.noun and spec.broken_program


def test_builtin_specs_keep_the_released_schema():
    assert get_task("table").category_key == "type" and not get_task("table").error_location
    assert get_task("chart").structural_trace and not get_task("svg").structural_trace
    assert [get_task(t).data_source for t in ("chart", "table", "svg")] == ["chart2code", "table2md", "svg2code"]
    assert get_task("svg").location_key("the fill of <rect> 3") == "<rect> 3"
    assert get_task("table").location_key("row 2") == ""


def test_svg_renders_in_process_through_its_spec():
    from verm_rl.render import RenderOptions

    png = get_task("svg").render('<svg xmlns="http://www.w3.org/2000/svg" width="20" height="20">'
                                 '<rect width="10" height="10" fill="red"/></svg>',
                                 RenderOptions(svg_width=32, svg_height=32).resolved("svg"))
    assert Image.open(io.BytesIO(png)).size == (32, 32)
    with pytest.raises(TaskSpecError, match="browser"):
        get_task("table").render("<table></table>")


def test_the_registry_imports_nothing_heavy():
    code = ("import sys, verm_rl.tasks as t; t.get_task('chart').extract_code('x');"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('numpy', 'PIL', 'matplotlib', 'ray', 'verl',"
            " 'torch') or (m.startswith('verm_rl.') and not m.startswith('verm_rl.tasks'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_svg_spec_renderer_draws_what_the_sandboxed_worker_draws():
    """The spec's renderer is the function the render worker runs: same bytes in-process and sandboxed."""
    from verm_rl.render import Renderer, RenderOptions

    source = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 40"><circle cx="20" cy="20" r="12" '
              'fill="#3366cc"/><text x="4" y="38" font-size="8">A1</text></svg>')
    options = RenderOptions().resolved("svg")
    with Renderer() as renderer:
        sandboxed = renderer.render("svg", source)
    assert sandboxed.ok and get_task("svg").render(source, options) == sandboxed.png


def test_each_task_converts_its_own_local_files(tmp_path):
    from verm_rl.data.dataset import collect_sources

    (tmp_path / "a.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"><rect width="3" height="3"/></svg>')
    (tmp_path / "b.md").write_text("Intro\n\n| x | y |\n|---|---|\n| 1 | 2 |\n")
    (tmp_path / "c.py").write_text("import matplotlib.pyplot as plt\nplt.plot([1, 2])\n")
    found = {task: collect_sources(task, tmp_path)[0] for task in ("chart", "table", "svg")}
    assert [(i, t) for i, t, _, _ in found["svg"]] == [("a", "svg")]
    assert found["table"][0][1:3] == ("table", "| x | y |\n|---|---|\n| 1 | 2 |")
    assert [(i, t) for i, t, _, _ in found["chart"]] == [("c", "chart")]


def test_a_task_without_a_converter_says_so(ascii_task, tmp_path):
    from verm_rl.data.dataset import collect_sources

    with pytest.raises(TaskSpecError, match="task 'ascii' has no converter"):
        collect_sources("ascii", tmp_path)


def test_the_toy_task_brings_its_own_injector_and_its_labels_match_its_critic(ascii_task):
    reference = "AB\nCD\nEF"
    singles = inject("ascii", reference, k=2, seed=3)
    assert sorted(p.kind for p in singles) == ["add_line", "swap_lines"]
    for p in singles:  # what the injector says it changed is what the toy critic finds
        found = compare_ascii(reference, p.source, None, None)
        assert sorted((e.category, e.location) for e in found) == sorted((e.category, e.location) for e in p.errors)
    multi = inject_multi("ascii", reference, n=1, seed=0)
    assert multi and multi[0].kind == "swap_lines+add_line"  # add_line is one of the injector's "last" kinds
    assert {e.category for e in multi[0].errors} == {"glyph_error", "layout_error"}


def test_tasks_without_a_comparer_or_injector_fail_clearly(tmp_path):
    register_task(TaskSpec(name="bare", extract=extract_ascii, categories=("a_error",)))
    try:
        with pytest.raises(ValueError, match="no error injector for task 'bare'; tasks with one: chart, table, svg"):
            inject("bare", "x")
        request = JudgeRequest("bare", b"a", b"b", reference_source="x", candidate_source="y")
        judged = asyncio.run(StructuralJudge().judge([request]))[0]
        assert judged.status == "judge_failed" and "no structural comparer" in judged.raw
    finally:
        unregister_task("bare")
