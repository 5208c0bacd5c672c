"""The trainer's metric hook logic, called directly."""

from __future__ import annotations

import json

import pytest

from recipes.visual_erm.metrics import collect_extra_infos, sample_dirs
from recipes.visual_erm.trainer import VisualERMTrainer, sample_table_rows
from verm_rl.reward.metrics import reward_metrics


def info(task, status, render_ok, verm, severity, judge_status="ok", judge_seconds=0.5, **sev):
    row = {"task": task, "status": status, "render_ok": render_ok, "render_reward": float(render_ok),
           "verm_reward": verm, "severity": severity, "judge_status": judge_status, "judge_seconds": judge_seconds,
           "render_error": "" if render_ok else "syntax", "fallback_used": int(status == "parse_failed"),
           "dedup_hit": 0, "render_seconds": 0.1, "sample_dir": ""}
    row.update(sev)  # sev_<category>=value
    return {"reward_extra_info": row}


def test_step_metrics_from_extra_fields():
    fields = [info("chart", "ok", 1, 0.8, 10, sev_data_error=10), info("chart", "render_failed", 0, 0.0, 0,
              judge_status="not_judged"), info("table", "parse_failed", 1, 0.5, 0, judge_status="parse_failed"),
              info("table", "ok", 1, 1.0, 0), None]
    infos = collect_extra_infos(fields)
    m = reward_metrics(infos, scores=[1.8, 0.0, 1.5, 2.0, 0.0])
    assert m["verm/chart/render_rate"] == 0.5 and m["verm/chart/severity/data_error"] == 10
    assert m["verm/chart/render_error/syntax"] == 0.5 and m["verm/chart/reward/total"] == pytest.approx(0.9)
    assert m["verm/table/parse_failure_rate"] == 0.5 and m["verm/table/reward/verm"] == 1.0
    assert m["verm/all/samples"] == 5 and m["verm/all/judge_latency/mean"] == pytest.approx(0.5)
    assert reward_metrics({}) == {}


def test_sample_rows_read_what_the_manager_wrote(tmp_path):
    d = tmp_path / "uid1"
    d.mkdir()
    (d / "reference.png").write_bytes(b"png")
    (d / "sample.json").write_text(json.dumps({"reward": {"total": 1.7, "status": "ok", "task": "chart"},
                                               "errors": [{"category": "data_error", "severity": 3,
                                                           "location": "bar 2", "description": "too tall"}]}))
    rows = sample_table_rows(sample_dirs({"sample_dir": [str(d), "", str(tmp_path / "missing")]}, 5))
    assert len(rows) == 1 and rows[0]["render"] is None and "[data_error s3] bar 2: too tall" in rows[0]["errors"]


def test_trainer_subclasses_the_sync_trainer():
    from verl.trainer.ppo.v1.trainer_sync import PPOTrainerSync

    assert issubclass(VisualERMTrainer, PPOTrainerSync)
    assert VisualERMTrainer._compute_metrics is not PPOTrainerSync._compute_metrics
