"""Probes of the plain reward API the way users and a degenerate policy call it: references as files,
arrays and dataset images, responses in TRL's shapes, bare strings by mistake, judges that answer
garbage, and responses a repetition loop produces (extraction must stay linear)."""

from __future__ import annotations

import time

import pytest

from tests.render.programs import GOOD_CHART, GOOD_SVG, GOOD_TABLE_HTML
from verm_rl.tasks import extract_code

# What a policy stuck in a repetition loop writes until max_tokens: 100k characters of one token.
DEGENERATE = {
    "svg_opens": "<svg>" * 20000,
    "fenced_svg_opens": "```svg\n" + "<svg>" * 20000,
    "table_opens": "<table>" * 15000,
    "fences": "```" * 35000,
    "fence_langs": "```x" * 25000,
}


@pytest.mark.parametrize("task", ["chart", "table", "svg"])
@pytest.mark.parametrize("shape", sorted(DEGENERATE))
def test_extraction_is_linear_on_degenerate_responses(task, shape):
    start = time.perf_counter()
    extract_code(task, DEGENERATE[shape])
    assert time.perf_counter() - start < 1.0  # was quadratic: 10-15 s for the svg shapes, ~2 s for the rest


@pytest.mark.parametrize("task, response, expected", [
    ("svg", f"```svg\n{GOOD_SVG}\n```", GOOD_SVG),
    ("svg", f"text <svg><svg a='1'> {GOOD_SVG} tail", f"<svg><svg a='1'> {GOOD_SVG}"),
    ("svg", "```xml\n<svg viewBox='0 0 1 1'><rect/>", "<svg viewBox='0 0 1 1'><rect/>"),  # cut off: kept
    ("svg", "```\n<svgfoo></svg>\n```\n<svg></svg >", "<svg></svg >"),
    ("table", f"```html\n{GOOD_TABLE_HTML}\n```", GOOD_TABLE_HTML),
    ("table", "<table><tr><td>1</td></tr></table> and <table></table>!",
     "<table><tr><td>1</td></tr></table> and <table></table>"),  # greedy: the last closing tag
    ("table", "<table></table><table>", "<table></table>"),
    ("table", "```\n<table>\n```", None),
    ("chart", f"```python  # plot\n{GOOD_CHART}```\n```\nnot code\n```", GOOD_CHART.strip("\n")),
    ("chart", f"``` py\n{GOOD_CHART}", GOOD_CHART.strip("\n")),  # a truncated fence counts to the end
])
def test_extraction_keeps_its_choices(task, response, expected):
    assert extract_code(task, response) == expected


# --- references and responses in the shapes users pass ---------------------------------------------------

@pytest.fixture(scope="module")
def svg_png():
    """A reference image (the judges here do not look at it: any PNG will do)."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (40, 90, 200)).save(buf, format="PNG")
    return buf.getvalue()


def test_references_as_files_arrays_and_dataset_images_become_png(tmp_path, svg_png):
    import io

    import numpy as np
    from PIL import Image

    from verm_rl.reward.scoring import score_item

    path = tmp_path / "ref.png"
    path.write_bytes(svg_png)
    rgb = np.asarray(Image.open(io.BytesIO(svg_png)).convert("RGB"))
    for ref in (path, str(path), {"bytes": svg_png, "path": None}, {"bytes": None, "path": str(path)}):
        item = score_item("svg", "x", ref)
        assert item.reference_png == svg_png and item.reference_source is None, ref
    item = score_item("svg", "x", rgb)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(item.reference_png)).convert("RGB")), rgb)
    assert score_item("svg", "x", GOOD_SVG).reference_source == GOOD_SVG  # a program stays a program
    with pytest.raises(FileNotFoundError, match="missing.png"):
        score_item("svg", "x", str(tmp_path / "missing.png"))
    with pytest.raises(TypeError, match="program"):
        score_item("svg", "x", 3.5)


@pytest.mark.parametrize("response, text", [
    ([], ""),
    ({"role": "assistant", "content": "hi"}, "hi"),
    (({"role": "assistant", "content": "a"},), "a"),
    ([{"role": "assistant", "content": [{"type": "text", "text": "a"}, {"type": "image"}, "b"]}], "ab"),
])
def test_responses_in_chat_shapes(response, text):
    from verm_rl.reward.scoring import response_text

    assert response_text(response) == text


def test_a_bare_string_where_a_list_belongs_is_a_caller_mistake():
    from verm_rl.reward import score

    with pytest.raises(TypeError, match="responses"):
        score("svg", f"```svg\n{GOOD_SVG}\n```", [GOOD_SVG])
    with pytest.raises(TypeError, match="references"):
        score(["svg"], ["x"], GOOD_SVG)
    with pytest.raises(TypeError, match="tasks"):
        score(None, ["x"], [GOOD_SVG])


# --- judges that answer garbage ---------------------------------------------------------------------------

class GarbageJudge:
    """A judge backend that answers each request with ``answer`` (not a ``Judgement``)."""

    reads_sources = False

    def __init__(self, answer):
        self.answer = answer

    async def judge(self, requests):
        from verm_rl.judge import Judgement

        if self.answer == "bad_status":
            return [Judgement(r.task, status="weird") for r in requests]
        return [self.answer for _ in requests]

    async def close(self):
        pass


@pytest.mark.parametrize("answer", ["garbage", {"errors": []}, None, 3, "bad_status"])
def test_a_judge_answering_garbage_fails_those_samples_only(answer, svg_png):
    from verm_rl.reward import score

    rewards, details = score("svg", [f"```svg\n{GOOD_SVG}\n```", "no code"], [svg_png, svg_png],
                             judge=GarbageJudge(answer))
    assert [d["status"] for d in details] == ["judge_failed", "no_code"]
    assert details[0]["judge_status"] == "judge_failed" and rewards == [1.5, 0.0]
    assert all(isinstance(r, float) for r in rewards)


def test_wrong_judge_backend_or_reward_objects_are_type_errors():
    from verm_rl.reward import SeverityRewardConfig, score
    from verm_rl.reward.scoring import ascore

    svg = f"```svg\n{GOOD_SVG}\n```"
    with pytest.raises(TypeError, match="JudgeBackend"):
        score("svg", [svg], [GOOD_SVG], judge="http://127.0.0.1:8000/v1")
    with pytest.raises(TypeError, match="RenderBackend"):
        score("svg", [svg], [GOOD_SVG], backend="local")
    with pytest.raises(TypeError, match="SeverityRewardConfig"):
        score("svg", [svg], [GOOD_SVG], reward=0.5)
    with pytest.raises(TypeError, match="nrom"):
        score("svg", [svg], [GOOD_SVG], reward={"nrom": 10})
    assert callable(ascore) and SeverityRewardConfig  # the async form shares the checks (same code path)


def test_a_reward_config_as_a_dict_and_a_duck_typed_judge(svg_png):
    from verm_rl.judge import JudgedError, Judgement
    from verm_rl.reward import score

    class DuckJudge:  # no JudgeBackend base: no reads_sources, no close
        async def judge(self, requests):
            return [Judgement(r.task, [JudgedError("shape_error", 3)] * 5) for r in requests]

    rewards, details = score("svg", [f"```svg\n{GOOD_SVG}\n```"], [svg_png], judge=DuckJudge(),
                             reward={"norm": 30})
    assert details[0]["status"] == "ok" and rewards == [pytest.approx(1.5)]  # 1 + (1 - 15/30)


def test_lone_surrogates_in_a_response_or_reference_fail_nothing_else():
    from verm_rl.reward import score

    bad = "<svg xmlns='http://www.w3.org/2000/svg'><text x='5' y='20'>\udcff</text></svg>"
    rewards, details = score("svg", [f"```svg\n{bad}\n```", f"```svg\n{GOOD_SVG}\n```", f"```svg\n{GOOD_SVG}\n```"],
                             [GOOD_SVG, bad, GOOD_SVG])
    assert len(rewards) == 3 and all(isinstance(r, float) for r in rewards)
    assert details[2]["status"] == "ok" and rewards[2] == pytest.approx(2.0)


@pytest.mark.parametrize("errors", [
    [{"category": "shape_error", "severity": 3}], ["shape_error"], None,
    "shape_error", [("shape_error", 3)],
])
def test_a_judgement_with_malformed_errors_fails_that_sample_only(errors, svg_png):
    from verm_rl.judge import JudgedError, Judgement
    from verm_rl.reward import score

    def bad(severity):
        return [JudgedError("shape_error", severity)]

    answers = [errors, bad("3"), bad(float("nan")), bad(-50), [JudgedError("shape_error", 2)]]

    class MalformedJudge:
        async def judge(self, requests):
            return [Judgement(r.task, e) for r, e in zip(requests, answers, strict=True)]

    responses = [f"```svg\n{GOOD_SVG.replace('orange', c)}\n```" for c in ("red", "blue", "green", "black", "gray")]
    rewards, details = score("svg", responses, [svg_png] * 5, judge=MalformedJudge())
    assert [d["status"] for d in details] == ["judge_failed"] * 4 + ["ok"]
    assert all(d["judge_status"] == "judge_failed" for d in details[:4])
    assert rewards[4] == pytest.approx(2.0 - 2 / 50) and all(isinstance(r, float) for r in rewards)


OLD_FORMAT = __import__("re").compile(r"```[ \t]*[A-Za-z0-9_+-]+[^\n]*\n")  # the format check's regex before


@pytest.mark.parametrize("text", ["```python\nx\n```", "```\nx\n```", "``` py  # c\n", "```py", "a\n```py",
                                  "```py\n", "\n```py", "```\tc++ x\ny", "````x\n", "``` \n py\n", ""])
def test_the_format_check_finds_what_the_regex_found(text):
    from verm_rl.tasks.fences import has_language_fence

    assert has_language_fence(text) == bool(OLD_FORMAT.search(text))


def test_the_format_check_agrees_with_the_regex_on_random_text():
    import random

    from verm_rl.tasks.fences import has_language_fence

    rng = random.Random(3)
    for _ in range(20000):
        text = "".join(rng.choice("```` \t\nab+-#") for _ in range(rng.randint(0, 24)))
        assert has_language_fence(text) == bool(OLD_FORMAT.search(text)), repr(text)


@pytest.mark.parametrize("shape", sorted(DEGENERATE))
def test_the_format_check_is_linear_on_degenerate_responses(shape):
    from verm_rl.tasks.fences import has_language_fence

    text = DEGENERATE[shape] * 4
    start = time.perf_counter()
    found = has_language_fence("\n" + text), has_language_fence("```x\n" + text)
    assert time.perf_counter() - start < 0.5  # the regex: 0.9 s on 100k characters of ```x, no newline after
    assert found == ("\n" in text, True)
