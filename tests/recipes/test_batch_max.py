"""Batch-max (paper Eq. 4) over the whole step, per task, applied by the trainer before advantages."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from verm_rl.reward import SeverityRewardConfig
from verm_rl.reward.batch_max import rescore_step

EPS = 1e-6
CFG = SeverityRewardConfig(norm="batch_max", eps=EPS)

# one step: two GRPO groups of chart (uid a, b), one group of table (uid c); the rewards as the
# streaming workers computed them (each on whatever reached it: here a batch of one, norm = S + eps)
ROWS = [  # uid, task, status, severity, severity_judged, fallback_used, render
    ("a", "chart", "ok", 0, 1, 0, 1.0),
    ("a", "chart", "ok", 10, 1, 0, 1.0),
    ("a", "chart", "render_failed", 0, 0, 0, 0.0),
    ("a", "chart", "ok", 40, 1, 0, 1.0),
    ("b", "chart", "ok", 20, 1, 0, 1.0),
    ("b", "chart", "parse_failed", 0, 0, 1, 1.0),
    ("b", "chart", "ok", 30, 1, 0, 1.0),
    ("b", "chart", "no_code", 0, 0, 0, 0.0),
    ("c", "table", "ok", 5, 1, 0, 1.0),
    ("c", "table", "ok", 15, 1, 0, 1.0),
    ("c", "table", "ok", 0, 1, 0, 1.0),
    ("c", "table", "ok", 6, 1, 0, 1.0),
]


def streamed_verm(row):
    """The visual term a reward worker computed for this row alone (batch of one: S/(S+eps))."""
    _, _, status, sev, judged, fallback, _ = row
    if status != "ok":
        return 0.5 if fallback else 0.0
    return 1.0 - sev / (sev + EPS) if sev else 1.0


def eq4_expected():
    """Hand-computed: chart max = 40, table max = 15; a parse failure gets the chart mean."""
    chart = {0: 1.0, 10: 1 - 10 / (40 + EPS), 40: 1 - 40 / (40 + EPS), 20: 1 - 20 / (40 + EPS),
             30: 1 - 30 / (40 + EPS)}
    table = {5: 1 - 5 / (15 + EPS), 15: 1 - 15 / (15 + EPS), 0: 1.0, 6: 1 - 6 / (15 + EPS)}
    chart_mean = float(np.mean([chart[s] for s in (0, 10, 40, 20, 30)]))
    out = []
    for _, task, status, sev, _, fallback, render in ROWS:
        if status in ("render_failed", "no_code"):
            out.append(0.0)
        elif fallback:
            out.append(render + chart_mean)
        else:
            out.append(render + (chart if task == "chart" else table)[sev])
    return out


def columns(rows):
    return {"task": [r[1] for r in rows], "status": [r[2] for r in rows], "severity": [r[3] for r in rows],
            "severity_judged": [r[4] for r in rows], "fallback_used": [r[5] for r in rows],
            "render_reward": [r[6] for r in rows], "verm_reward": [streamed_verm(r) for r in rows],
            "format": [0.0] * len(rows)}


def proto(rows, lengths):
    """verl's DataProto as the trainer builds it: rm_scores with the score on the last response token."""
    from verl import DataProto

    width = max(lengths)
    mask = torch.zeros(len(rows), width, dtype=torch.int64)
    scores = torch.zeros(len(rows), width)
    for i, (row, n) in enumerate(zip(rows, lengths)):
        mask[i, :n] = 1
        scores[i, n - 1] = row[6] + streamed_verm(row)
    return DataProto.from_dict(tensors={"rm_scores": scores, "response_mask": mask},
                               non_tensors={"uid": np.array([r[0] for r in rows], dtype=object)})


def test_library_function_gives_eq4_values():
    c = columns(ROWS)
    out = rescore_step(c["task"], c["render_reward"], c["verm_reward"], c["severity"], c["status"],
                       [bool(x) for x in c["severity_judged"]], [bool(x) for x in c["fallback_used"]], c["format"],
                       CFG)
    assert out.totals == pytest.approx(eq4_expected(), abs=1e-9)
    assert out.norms == pytest.approx({"chart": 40 + EPS, "table": 15 + EPS})


def test_fixed_norm_keeps_the_streamed_terms():
    c = columns(ROWS)
    out = rescore_step(c["task"], c["render_reward"], c["verm_reward"], c["severity"], c["status"],
                       [bool(x) for x in c["severity_judged"]], [bool(x) for x in c["fallback_used"]], c["format"],
                       SeverityRewardConfig())
    assert out.totals == pytest.approx([r[6] + streamed_verm(r) for r in ROWS])


def test_trainer_hook_on_a_dataproto_gives_eq4_and_keeps_groups():
    from verl.trainer.ppo.core_algos import compute_grpo_outcome_advantage

    from recipes.visual_erm.trainer import VisualERMTrainer, renormalise_step

    assert "_compute_advantage" in VisualERMTrainer.__dict__  # the hook the trainer runs before advantages

    lengths = [3, 5, 2, 7, 4, 4, 6, 1, 5, 3, 2, 8]
    data = proto(ROWS, lengths)
    before_uid = data.non_tensor_batch["uid"].copy()
    out, metrics = renormalise_step(data, CFG, columns(ROWS))
    totals = out.batch["rm_scores"].sum(-1)
    assert totals.tolist() == pytest.approx(eq4_expected(), abs=1e-5)
    for i, n in enumerate(lengths):  # the score stays on the last response token, nothing else moves
        nz = torch.nonzero(out.batch["rm_scores"][i]).flatten().tolist()
        assert nz in ([n - 1], [])
    assert list(out.non_tensor_batch["uid"]) == list(before_uid)
    assert metrics["verm/chart/batch_max_norm"] == pytest.approx(40 + EPS)
    adv, _ = compute_grpo_outcome_advantage(out.batch["rm_scores"], out.batch["response_mask"],
                                            out.non_tensor_batch["uid"])
    expected = torch.tensor(eq4_expected())
    for uid in "abc":  # GRPO groups: advantages are the group-standardised Eq. 4 rewards
        idx = [i for i, r in enumerate(ROWS) if r[0] == uid]
        g = expected[idx]
        want = (g - g.mean()) / (g.std() + 1e-6)
        got = torch.stack([adv[i, lengths[i] - 1] for i in idx])
        assert torch.allclose(got, want, atol=1e-4)


def test_streaming_order_does_not_change_the_values():
    from recipes.visual_erm.step_norm import renormalise_step

    lengths = [3, 5, 2, 7, 4, 4, 6, 1, 5, 3, 2, 8]
    expected = eq4_expected()
    for seed in range(3):
        perm = np.random.default_rng(seed).permutation(len(ROWS))
        rows = [ROWS[i] for i in perm]
        out, _ = renormalise_step(proto(rows, [lengths[i] for i in perm]), CFG, columns(rows))
        assert out.batch["rm_scores"].sum(-1).tolist() == pytest.approx([expected[i] for i in perm], abs=1e-5)


def test_padding_rows_do_not_enter_the_max():
    from recipes.visual_erm.step_norm import renormalise_step

    rows = ROWS + [("a", "chart", "ok", 400, 1, 0, 1.0)]  # verl's padding copy with a huge severity
    include = np.array([True] * len(ROWS) + [False])
    out, _ = renormalise_step(proto(rows, [4] * len(rows)), CFG, columns(rows), include)
    assert out.batch["rm_scores"].sum(-1)[:-1].tolist() == pytest.approx(eq4_expected(), abs=1e-5)
    assert float(out.batch["rm_scores"].sum(-1)[-1]) == pytest.approx(1.0)  # clip(1 - 400/40) = 0
