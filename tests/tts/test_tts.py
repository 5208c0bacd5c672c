"""Test-time scaling end to end on CPU: real renders, the structural judge, an oracle policy behind a
real HTTP server, and the tiny local Qwen3-VL (random weights)."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.conftest import run_app_in_thread
from tests.tts.pool import SharedRendererPool
from verm_rl.data.dataset import make_row, write_parquet
from verm_rl.data.synthetic import generate_references
from verm_rl.judge.structural import StructuralJudge
from verm_rl.policy import build_policy
from verm_rl.tts import RoundScorer, TTSConfig, TTSInput, TTSRunner, read_inputs
from verm_rl.tts.oracle import Oracle, create_app, error_chain
from verm_rl.tts.report import summarize, write_reports


@pytest.fixture(scope="module")
def pool(renderer):
    return SharedRendererPool(renderer)


@pytest.fixture(scope="module")
def inputs(pool):
    refs = [r for r in generate_references(12, seed=5, tasks=("table", "svg")) if r.task in ("table", "svg")][:4]
    out = []
    for r in refs:
        res = pool.render_blocking(r.task, r.source)
        assert res.ok
        out.append(TTSInput(r.id, r.task, res.png, r.source))
    return out


def oracle_server(items, n_errors, mode="fix"):
    oracle = Oracle(items, n_errors=n_errors, mode=mode)
    url, stop = run_app_in_thread(create_app(oracle))
    return oracle, url, stop


async def run(items, policy, pool, out, **cfg):
    runner = TTSRunner(policy, RoundScorer(pool.render, StructuralJudge(render=pool.render)), out, TTSConfig(**cfg))
    results = await runner.run(items, needs_reference_source=True, progress=False)
    return runner, results


async def test_oracle_fixing_one_error_per_round_raises_rewards_and_stops_early(pool, inputs, tmp_path):
    items = inputs[:3]
    oracle, url, stop = oracle_server(items, n_errors=2)
    policy = build_policy(url)
    try:
        runner, results = await run(items, policy, pool, tmp_path / "fix", max_revisions=4)
    finally:
        await policy.close()
        stop()
    for res in results:
        sev = [r.severity for r in res.rounds]
        rewards = [r.reward for r in res.rounds]
        assert res.stop_reason == "no_errors" and len(res.rounds) == 3 < 4 + 1  # stopped before the budget
        assert sev[0] > sev[1] > sev[2] == 0 and rewards[0] < rewards[1] < rewards[2] == 2.0
        assert res.best_round == 2 and res.rounds[-1].clean()
        assert "differences remain" in res.rounds[1].feedback and res.rounds[0].feedback == ""
    assert runner.generated == oracle.requests == 9
    summary = summarize(results)
    rows = {r["round"]: r for r in summary["rounds"]}
    assert rows["1"]["improved"] == 1.0 and rows["1"]["worsened"] == 0.0
    assert rows["0"]["mean_reward"] < rows["1"]["mean_reward"] < rows["2"]["mean_reward"]
    assert rows["best"]["mean_reward"] == rows["last"]["mean_reward"] == 2.0


async def test_worsening_policy_keeps_the_best_round(pool, inputs, tmp_path):
    items = inputs[:2]
    _, url, stop = oracle_server(items, n_errors=2, mode="worsen")
    policy = build_policy(url, model="oracle")
    try:
        _, results = await run(items, policy, pool, tmp_path / "worse", max_revisions=2)
    finally:
        await policy.close()
        stop()
    for res in results:
        assert res.stop_reason == "max_revisions" and len(res.rounds) == 3
        assert res.best_round == 0 and res.best.reward > res.rounds[1].reward > res.last.reward == 0.0
        assert not res.last.render_ok or res.last.reward_status in ("no_code", "render_failed")
        assert "could not be rendered" in res.last.feedback or "did not contain" in res.last.feedback \
            or res.last.feedback.startswith("A reviewer")
    summary, text = write_reports(results, tmp_path / "worse")
    rows = {r["round"]: r for r in summary["rounds"]}
    assert rows["last"]["worsened"] == 1.0 and rows["best"]["worsened"] == 0.0
    page = (tmp_path / "worse" / "index.html").read_text()
    assert page.count('class="best"') == len(items) and "round_0/render.png" in page


@pytest.mark.slow
async def test_tiny_local_policy_structural_judge_and_resume(pool, inputs, tmp_path, tiny_vlm_path):
    policy = build_policy(tiny_vlm_path, engine="transformers", device="cpu")
    out = tmp_path / "tiny"
    no_source = TTSInput("image-only", "svg", inputs[0].image, None)
    runner, results = await run(inputs[:2] + [no_source], policy, pool, out, max_revisions=1, max_tokens=8)
    assert runner.generated == 4  # 2 inputs × (draft + 1 revision); the image-only input is skipped
    skipped = [r for r in results if r.id == "image-only"][0]
    assert skipped.stop_reason == "skipped" and "reference program" in skipped.skipped
    for res in results[:2]:
        assert len(res.rounds) == 2 and res.best_round == 0  # random weights: no code, reward 0, ties → draft
        assert all(not r.render_ok and r.reward == 0.0 for r in res.rounds)
        assert "did not contain" in res.rounds[1].feedback or "could not be rendered" in res.rounds[1].feedback
    # resume: finished inputs are not redone; an unfinished one continues from its last saved round
    first = out / "inputs" / inputs[0].id
    (first / "result.json").unlink()
    shutil.rmtree(first / "round_1")
    runner2, results2 = await run(inputs[:3], policy, pool, out, max_revisions=1, max_tokens=8)
    assert runner2.generated == 1 + 2  # round 1 of input 0, then input 2 from scratch; input 1 untouched
    assert [len(r.rounds) for r in results2] == [2, 2, 2]
    assert json.loads((first / "round_0" / "record.json").read_text())["index"] == 0
    with pytest.raises(ValueError, match="other settings"):
        await run(inputs[:1], policy, pool, out, max_revisions=3)


def test_read_inputs_folder_jsonl_parquet(tmp_path, inputs):
    item = inputs[0]
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / f"{item.task}_a.png").write_bytes(item.image)
    (folder / f"{item.task}_a{'.svg' if item.task == 'svg' else '.html'}").write_text(item.reference_source)
    (folder / "mystery.png").write_bytes(item.image)
    (folder / "chart_broken.png").write_bytes(b"not an image")
    got, report = read_inputs(folder)
    assert [(g.id, g.task, g.reference_source == item.reference_source) for g in got] == [(f"{item.task}_a", item.task,
                                                                                           True)]
    assert len(report.skipped) == 2
    (tmp_path / "img.png").write_bytes(item.image)
    lines = [{"id": "x/1", "category": item.task, "gt_img_path": "img.png", "gt_source": "S"},
             {"id": "x/2", "category": item.task, "gt_img_path": "img.png"},
             {"task": "video", "image": "img.png"}]
    (tmp_path / "in.jsonl").write_text("\n".join(json.dumps(x) for x in lines))
    got, report = read_inputs(tmp_path / "in.jsonl")
    assert len(got) == 1 and got[0].reference_source == "S" and report.duplicates == 1 and len(report.skipped) == 1
    path = write_parquet([make_row(item.task, item.image, item.reference_source, 0, sample_id="p0")],
                         tmp_path / "d.parquet")
    got, _ = read_inputs(path)
    assert got[0].id == "p0" and got[0].image == item.image and "<image>" in got[0].prompt


def test_error_chain_undoes_one_injection_per_step(inputs):
    chain = error_chain(inputs[0].task, inputs[0].reference_source, 3)
    assert chain[-1] == inputs[0].reference_source and len(set(chain)) == len(chain) >= 3


class ExplodingPolicy:
    """Breaks the backend contract (raises) on its second call."""

    name = "exploding"

    def __init__(self, inner):
        self.inner, self.calls = inner, 0
        self.stats = inner.stats

    async def generate(self, requests):
        self.calls += 1
        if self.calls == 2:
            raise RuntimeError("boom")
        return await self.inner.generate(requests)

    async def close(self):
        await self.inner.close()


async def test_a_failing_input_is_reported_and_retried_on_resume(pool, inputs, tmp_path):
    items = inputs[:1]
    _, url, stop = oracle_server(items, n_errors=2)
    policy = ExplodingPolicy(build_policy(url, model="oracle"))
    try:
        _, results = await run(items, policy, pool, tmp_path / "boom", max_revisions=3, concurrency=1)
        assert results[0].stop_reason == "error" and "boom" in results[0].skipped and len(results[0].rounds) == 1
        assert not (tmp_path / "boom" / "inputs" / items[0].id / "result.json").exists()
        runner, results = await run(items, policy, pool, tmp_path / "boom", max_revisions=3, concurrency=1)
    finally:
        await policy.close()
        stop()
    assert results[0].stop_reason == "no_errors" and len(results[0].rounds) == 3 and runner.generated == 2


def test_cli_tts_folder_inputs(inputs, tmp_path, capsys):
    from verm_rl.cli import main

    svg = [i for i in inputs if i.task == "svg"][:2]
    folder = tmp_path / "in"
    folder.mkdir()
    for n, item in enumerate(svg):
        (folder / f"svg_{n}.png").write_bytes(item.image)
        (folder / f"svg_{n}.svg").write_text(item.reference_source)
    oracle, url, stop = oracle_server(read_inputs(folder)[0], n_errors=1)
    out = tmp_path / "out"
    args = ["tts", "--inputs", str(folder), "--policy", url + "/v1", "--judge", "structural", "--workers", "1",
            "--out", str(out)]
    try:
        assert main(args) == 0
        first = capsys.readouterr().out
    finally:
        stop()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["ran"] == 2 and summary["stop_reasons"] == {"no_errors": 2}
    assert summary["rounds"][-1]["round"] == "last" and summary["rounds"][-1]["mean_reward"] == 2.0
    # one call per round; an injected error whose render is pixel-identical to the reference is no error
    # for the critic (visual equivalence first), so that input stops after its draft
    rounds = [len(json.loads(line)["rounds"]) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(rounds) == 2 and all(n in (1, 2) for n in rounds)
    assert f"policy calls {sum(rounds)} " in first and oracle.requests == sum(rounds) and "| last |" in first
    assert (out / "index.html").exists()
