"""The plain reward callable: ``verm_rl.reward.score`` over local render workers and the structural critic
(real renders, a real judge, no GPU), and the same pipeline over the Ray render pool."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.render.programs import GOOD_CHART, GOOD_SVG, GOOD_TABLE_HTML
from verm_rl.judge import JudgeBackend
from verm_rl.reward import (
    ROW_KEYS,
    RenderBackend,
    RewardPipeline,
    ScoreItem,
    SeverityRewardConfig,
    reward_function,
    reward_metrics,
    score,
)
from verm_rl.reward.record import columns, empty_row

PERTURBED_CHART = GOOD_CHART.replace("[3, 1, 4, 1, 5]", "[3, 1, 4, 1, 9]")
BROKEN_CHART = "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3]\n"
PERTURBED_SVG = GOOD_SVG.replace('fill="orange"', 'fill="#2ca02c"')


def fence(code: str, lang: str) -> str:
    return f"Here is the code:\n```{lang}\n{code}\n```"


TASKS = ["chart", "chart", "chart", "svg", "table", "svg"]
RESPONSES = [fence(GOOD_CHART, "python"), fence(PERTURBED_CHART, "python"), fence(BROKEN_CHART, "python"),
             fence(PERTURBED_SVG, "svg"), fence(GOOD_TABLE_HTML, "html"), "Sorry, I cannot read the image."]
REFERENCES = [GOOD_CHART, GOOD_CHART, GOOD_CHART, GOOD_SVG, GOOD_TABLE_HTML, GOOD_SVG]


@pytest.fixture(scope="module")
def local_scores():
    return score(TASKS, RESPONSES, REFERENCES)


def test_correct_perturbed_and_broken_programs(local_scores):
    rewards, details = local_scores
    assert len(rewards) == len(details) == len(TASKS)
    assert [d["status"] for d in details] == ["ok", "ok", "render_failed", "ok", "ok", "no_code"]
    assert rewards[0] == pytest.approx(2.0) and rewards[4] == pytest.approx(2.0)
    assert rewards[2] == 0.0 and rewards[5] == 0.0
    for i in (1, 3):  # rendered, with errors found: 1 + (1 - S / 50)
        assert 1.0 < rewards[i] < 2.0 and details[i]["severity"] > 0 and details[i]["errors"]
        assert rewards[i] == pytest.approx(2.0 - details[i]["severity"] / 50)
    assert any(e["category"] == "data_error" for e in details[1]["errors"])  # the bar that changed
    assert details[2]["render_error"] == "syntax" and details[2]["judge_status"] == "not_judged"
    assert all(set(ROW_KEYS) <= d.keys() and d["total"] == r for d, r in zip(details, rewards))


def test_same_rewards_over_the_ray_render_pool(local_scores, ray_cluster):
    from reward_workers import RenderPool

    pool = RenderPool(name=f"score_{uuid.uuid4().hex[:6]}", size=1, num_cpus=0)
    try:
        assert isinstance(pool, RenderBackend)
        rewards, details = score(TASKS, RESPONSES, REFERENCES, backend=pool)
        assert pool.stats.summary()["count"] >= len(TASKS)  # it did render there
    finally:
        pool.shutdown()
    assert rewards == pytest.approx(local_scores[0])
    assert [d["status"] for d in details] == [d["status"] for d in local_scores[1]]
    assert [d["severity"] for d in details] == [d["severity"] for d in local_scores[1]]


def test_reward_config_png_reference_and_a_running_event_loop():
    """A reference given as an image (no program: the structural critic cannot judge it, so the sample is
    counted as judge_failed with the fallback term), and ``score`` called where a loop already runs."""
    from verm_rl.reward.scoring import local_backend

    ref_png = asyncio.run(local_backend().render("svg", GOOD_SVG)).png

    async def notebook_cell():
        return score("svg", [fence(GOOD_SVG, "svg"), "no code"], [ref_png, ref_png],
                     reward=SeverityRewardConfig(w_format=0.1, fallback_default=0.25))

    rewards, details = asyncio.run(notebook_cell())
    assert [d["status"] for d in details] == ["judge_failed", "no_code"]
    assert rewards == [pytest.approx(1.0 + 0.25 + 0.1), 0.0]
    assert details[0]["fallback_used"] == 1 and details[0]["format"] == 1.0


def test_trl_reward_function_reads_dataset_columns():
    fn = reward_function()
    completions = [[{"role": "assistant", "content": fence(GOOD_SVG, "svg")}],
                   [{"role": "assistant", "content": [{"type": "text", "text": "nothing"}]}]]
    assert fn(prompts=["p", "p"], completions=completions, task=["svg", "svg"],
              reference=[GOOD_SVG, GOOD_SVG]) == [pytest.approx(2.0), 0.0]
    with pytest.raises(KeyError, match="reference"):
        fn(prompts=["p"], completions=["x"], task=["svg"])


def test_bad_arguments_fail_before_any_work():
    with pytest.raises(ValueError, match="same length"):
        score(["chart", "svg"], ["a"], ["b"])
    with pytest.raises(ValueError, match="unknown task 'latex'"):
        score(["latex"], ["a"], ["b"])
    with pytest.raises(TypeError, match="reference must be"):
        score(["svg"], ["a"], [42])
    with pytest.raises(TypeError, match="RenderBackend"):
        RewardPipeline(object(), judge=None)


def test_rows_have_one_shape():
    assert list(empty_row("bad_sample")) == list(ROW_KEYS) and empty_row("bad_sample")["status"] == "bad_sample"


def test_judge_latency_counts_each_answered_call_once():
    """Latency is over calls that answered (ok / parse_failed), once per call: de-dup hits reuse a verdict
    and failed calls (timeouts) are left out; both are still counted in their own rates."""
    rows = [{"task": "chart", "status": "ok", "judge_status": "ok", "judge_seconds": 1.0, "dedup_hit": 0},
            {"task": "chart", "status": "ok", "judge_status": "ok", "judge_seconds": 1.0, "dedup_hit": 1},
            {"task": "chart", "status": "ok", "judge_status": "ok", "judge_seconds": 1.0, "dedup_hit": 1},
            {"task": "svg", "status": "parse_failed", "judge_status": "parse_failed", "judge_seconds": 3.0,
             "dedup_hit": 0},
            {"task": "svg", "status": "judge_failed", "judge_status": "judge_failed", "judge_seconds": 300.0,
             "dedup_hit": 0},
            {"task": "svg", "status": "no_code", "judge_status": "not_judged", "judge_seconds": 0.0,
             "dedup_hit": 0}]
    m = reward_metrics(columns(rows))
    assert m["verm/all/judge_latency/mean"] == pytest.approx(2.0)  # (1 + 3) / 2
    assert m["verm/chart/judge_latency/p95"] == pytest.approx(1.0) and m["verm/chart/dedup_rate"] == pytest.approx(2 / 3)
    assert m["verm/svg/judge_failure_rate"] == pytest.approx(1 / 3) and m["verm/svg/judge_latency/mean"] == 3.0
    assert "verm/all/reward/total" not in m and reward_metrics(columns([])) == {}


class BrokenJudge(JudgeBackend):
    """A third-party judge with a bug: it raises instead of returning ``judge_failed`` verdicts."""

    async def judge(self, requests):
        raise RuntimeError("out of memory")


def test_a_raising_backend_or_judge_still_gives_every_sample_a_reward():
    from verm_rl.render.local_pool import LocalRenderPool

    with pytest.raises(TypeError, match="unknown render option"):
        score(["svg"], [GOOD_SVG], [GOOD_SVG], render_options={"dpii": 100})
    with LocalRenderPool(1) as pool:  # the real renderer raises TypeError on an unknown option
        pipe = RewardPipeline(pool, BrokenJudge(), render_options={"dpii": 100})
        out = asyncio.run(pipe.score([ScoreItem("svg", GOOD_SVG, reference_source=GOOD_SVG)]))
        assert out.samples[0].reward.status == "render_failed" and out.samples[0].render.error_kind == "crash"
        assert "unknown render option" in out.samples[0].render.message
        pipe = RewardPipeline(pool, BrokenJudge())
        out = asyncio.run(pipe.score([ScoreItem("svg", GOOD_SVG, reference_source=GOOD_SVG),
                                      ScoreItem("svg", "no code", reference_source=GOOD_SVG)]))
    assert [s.reward.status for s in out.samples] == ["judge_failed", "no_code"]
    assert "RuntimeError: out of memory" in out.samples[0].judgement.raw
    assert out.samples[0].reward.total == pytest.approx(1.5) and out.metrics["verm/all/judge_failure_rate"] == 0.5


class CountingBackend:
    """The real local render pool, counting which sources it was asked to render."""

    def __init__(self, pool):
        self.pool, self.sources = pool, []

    async def render(self, task, source, **options):
        self.sources.append(source)
        return await self.pool.render(task, source, **options)


def test_reference_renders_are_cached_least_recently_used():
    from verm_rl.render.local_pool import LocalRenderPool

    refs = [GOOD_SVG.replace('fill="orange"', f'fill="#{i:02x}8040"') for i in range(3)]
    with LocalRenderPool(1) as pool:
        backend = CountingBackend(pool)
        pipe = RewardPipeline(backend, BrokenJudge(), reference_cache_size=2)

        async def reference(i):
            return await pipe._reference("svg", refs[i])

        async def run():
            for i in (0, 1, 0, 2, 0, 1):  # 2 evicts 1 (0 was used more recently); 1 is rendered again
                assert (await reference(i)).ok
        asyncio.run(run())
    assert backend.sources == [refs[0], refs[1], refs[2], refs[1]]


def test_a_program_several_samples_share_is_rendered_once_per_batch_with_the_same_verdicts():
    """GRPO rollouts converge: identical programs in one batch share one render (renders are seeded), and the
    reference they share is rendered once (it was rendered once per concurrent cache miss: 6 times here)."""
    from verm_rl.judge.structural import StructuralJudge
    from verm_rl.render.local_pool import LocalRenderPool

    responses = [fence(GOOD_SVG, "svg"), GOOD_SVG, fence(PERTURBED_SVG, "svg"), "no code", fence(GOOD_SVG, "xml"),
                 fence(PERTURBED_SVG, "svg")]
    items = [ScoreItem("svg", r, reference_source=GOOD_SVG) for r in responses]
    with LocalRenderPool(1) as pool:
        backend = CountingBackend(pool)
        judge = StructuralJudge(render=pool.render)
        out = asyncio.run(RewardPipeline(backend, judge).score(items))
        one_by_one = [asyncio.run(RewardPipeline(pool, judge).score([i])).samples[0] for i in items]
        asyncio.run(judge.close())
    assert sorted(backend.sources) == sorted([GOOD_SVG, GOOD_SVG, PERTURBED_SVG])  # reference, good, perturbed
    assert [s.reward.status for s in out.samples] == [s.reward.status for s in one_by_one]
    assert [s.reward.total for s in out.samples] == pytest.approx([s.reward.total for s in one_by_one])
    assert [s.render.png for s in out.samples] == [s.render.png for s in one_by_one]
    assert out.samples[0].reward.total == pytest.approx(2.0) and out.samples[2].reward.total < 2.0
