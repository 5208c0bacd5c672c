"""`verm-rl eval-judge` end to end on synthetic VC-RewardBench records: the structural critic and a
served (scripted, OpenAI-compatible) judge over the same items."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.tts.pool import SharedRendererPool
from verm_rl.cli import main
from verm_rl.judge_data.synth import synthesize


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory, renderer):
    out = tmp_path_factory.mktemp("synth")
    asyncio.run(synthesize(out, 6, SharedRendererPool(renderer).render, seed=3, k=2, tasks=("table", "svg"),
                           progress=False))
    return out


def test_eval_judge_structural_vs_served_judge(synth_dir, tmp_path, scripted_server, capsys):
    data = synth_dir / "vc_rewardbench.jsonl"
    n = len(data.read_text().splitlines())
    assert main(["eval-judge", "--data", str(data), "--judge", "structural", "--workers", "1",
                 "--out", str(tmp_path / "s")]) == 0
    structural = json.loads((tmp_path / "s" / "metrics.json").read_text())  # strict JSON (NaN → null)
    assert structural["scored"] == n and structural["judge_status"] == {"ok": n}
    assert structural["avg"]["f1_soft"] > 90  # labels and critic share one rule book
    # a served judge that always answers "no errors": every GT error is a false negative
    server = scripted_server(lambda body: (200, json.dumps({"errors": [], "layout_error_count": 0})))
    assert main(["eval-judge", "--data", str(data), "--judge", server.url, "--out", str(tmp_path / "h")]) == 0
    served = json.loads((tmp_path / "h" / "metrics.json").read_text())
    assert served["judge_status"] == {"ok": n} and served["avg"]["hard_tp"] == 0
    assert served["avg"]["fn"] == sum(len(json.loads(x)["human_errors"]) for x in data.read_text().splitlines())
    assert served["avg"]["sc"] is None  # constant predicted severity: Pearson undefined
    assert len(server.requests) == n and "Paper" not in capsys.readouterr().out
    lines = [json.loads(x) for x in (tmp_path / "h" / "items.jsonl").read_text().splitlines()]
    assert len(lines) == n and all(x["status"] == "scored" for x in lines)
    # images only: the structural judge is refused with a clear message
    stripped = tmp_path / "images_only.jsonl"
    stripped.write_text("\n".join(json.dumps({k: v for k, v in json.loads(x).items() if k not in ("gt_source",
                                  "pred_source")}) for x in data.read_text().splitlines()))
    assert main(["eval-judge", "--data", str(stripped), "--image-root", str(synth_dir), "--judge", "structural",
                 "--out", str(tmp_path / "x")]) == 2
    assert "image judge" in capsys.readouterr().err
