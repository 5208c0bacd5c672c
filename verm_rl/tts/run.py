"""``verm-rl tts`` end to end: inputs → policy + render pool + judge → the loop → reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from verm_rl.reward import SeverityRewardConfig
from verm_rl.tts.inputs import TTSInput, read_inputs
from verm_rl.tts.loop import RoundScorer, TTSConfig, TTSRunner
from verm_rl.tts.report import write_reports


async def run_tts(inputs: str | Path | list[TTSInput], out: str | Path, policy_spec: str, judge_spec: str,
                  cfg: TTSConfig | None = None, task: str | None = None, limit: int | None = None,
                  policy_options: dict[str, Any] | None = None, judge_options: dict[str, Any] | None = None,
                  reward: SeverityRewardConfig | None = None, render_workers: int | None = None,
                  progress: bool = True) -> dict[str, Any]:
    """Run TTS over ``inputs`` (a folder, .jsonl, .parquet, or TTSInput objects) into ``out``;
    returns the summary (also written to ``summary.json``/``summary.md``/``index.html``)."""
    from verm_rl.eval.backends import build_judge_backend, judge_kind
    from verm_rl.policy import build_policy
    from verm_rl.render.local_pool import LocalRenderPool

    if isinstance(inputs, list):
        items, input_report = inputs, None
    else:
        items, input_report = read_inputs(inputs, task)
    if limit:
        items = items[:limit]
    if not items:
        raise ValueError(f"no usable inputs in {inputs}"
                         + (f": {input_report.skipped[:5]}" if input_report and input_report.skipped else ""))
    kind = judge_kind(judge_spec)
    cfg = cfg or TTSConfig()
    cfg.policy, cfg.judge = policy_spec, judge_spec
    out = Path(out)
    pool = LocalRenderPool(render_workers)
    policy = judge = None
    try:
        judge = build_judge_backend(judge_spec, render=pool.render, **(judge_options or {}))
        policy = build_policy(policy_spec, **(policy_options or {}))
        runner = TTSRunner(policy, RoundScorer(pool.render, judge, reward), out, cfg)
        results = await runner.run(items, needs_reference_source=(kind == "structural"), progress=progress)
    finally:
        if policy is not None:
            await policy.close()
        if judge is not None:
            await judge.close()
        pool.close()
    summary, text = write_reports(results, out)
    summary["text"] = text
    summary["generated"] = runner.generated
    summary["policy_failures"] = policy.stats.failures
    if input_report is not None:
        summary["input_skipped"] = input_report.skipped
        summary["input_duplicates"] = input_report.duplicates
    return summary
