"""A small judge dataset on disk in the formats ``make-judge-data`` writes: images, SFT rows, VC-RewardBench rows.

Two kinds of pairs the tiny model can tell apart from the pixels: a candidate tinted red is labelled
``data_error``, one tinted blue ``text_error`` (short labels: the tiny model has 32 hidden units).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from verm_rl.judge.schema import JudgedError, Judgement

SHORT_PROMPT = "List every visual difference as JSON."  # the judge.prompts.<task> option at inference
KINDS = {"red": ("data_error", 2, (220, 40, 40)), "blue": ("text_error", 1, (40, 40, 220))}


def write_pair_dataset(root: Path, n: int = 20, size: int = 32) -> Path:
    (root / "images").mkdir(parents=True, exist_ok=True)
    sft, bench = [], []
    for i in range(n):
        kind = "red" if i % 2 == 0 else "blue"
        category, severity, color = KINDS[kind]
        ref = Image.new("RGB", (size, size), "white")
        ImageDraw.Draw(ref).rectangle([4 + i % 5, 4, 20, 20 + i % 7], fill=(90, 90, 90))
        cand = ref.copy()
        ImageDraw.Draw(cand).rectangle([0, 0, size, size // 2], fill=color)
        ref_rel, pred_rel = f"images/p{i}_ref.png", f"images/p{i}_pred.png"
        ref.save(root / ref_rel)
        cand.save(root / pred_rel)
        answer = Judgement("chart", [JudgedError(category, severity, "top", "")]).to_json_answer()
        sft.append({"messages": [{"role": "user", "content": "<image><image>" + SHORT_PROMPT},
                                 {"role": "assistant", "content": json.dumps(answer)}],
                    "images": [ref_rel, pred_rel]})
        bench.append({"id": f"p{i}", "category": "chart", "gt_img_path": ref_rel, "pred_img_path": pred_rel,
                      "human_errors": answer["errors"]})
    (root / "prompt_chart.txt").write_text(SHORT_PROMPT)
    (root / "sft_train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in sft))
    (root / "vc_rewardbench_validation.jsonl").write_text("".join(json.dumps(r) + "\n" for r in bench[:4]))
    return root


@pytest.fixture(scope="module")
def pair_data(tmp_path_factory):
    return write_pair_dataset(tmp_path_factory.mktemp("judge_pairs"))
