"""Dataset conversion into verl parquet rows: synthetic data, local-copy converters, bad rows."""

from __future__ import annotations

import asyncio
import io
import json

import pytest
from PIL import Image

from verm_rl.data.dataset import (
    collect_code_pairs,
    collect_svgs,
    collect_tables,
    make_row,
    rows_from_sources,
    synthetic_items,
    task_of,
    write_parquet,
)
from verm_rl.render.local_pool import LocalRenderPool


@pytest.fixture(scope="module")
def pool():
    with LocalRenderPool(1) as p:
        yield p


def png_bytes() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), "blue").save(buf, format="PNG")
    return buf.getvalue()


def test_row_schema():
    row = make_row("chart", png_bytes(), "import matplotlib", 3, sample_id="c3")
    assert row["data_source"] == "chart2code" and row["prompt"][0]["content"].count("<image>") == 1
    assert row["images"][0]["bytes"].startswith(b"\x89PNG")
    assert row["reward_model"] == {"style": "rule", "ground_truth": "import matplotlib"}
    assert row["extra_info"]["task"] == "chart" and row["extra_info"]["id"] == "c3"
    assert task_of("svg2code") == "svg" and task_of("whatever", {"task": "table"}) == "table"
    with pytest.raises(ValueError):
        task_of("latex2code")


def test_synthetic_rows_render_their_references(pool):
    rows, report = asyncio.run(rows_from_sources(synthetic_items(6, seed=2), pool.render))
    assert report.kept == 6 and not report.skipped
    assert [r["extra_info"]["task"] for r in rows] == ["chart", "table", "svg"] * 2


def test_code_pair_folder_with_bad_rows(tmp_path, pool):
    (tmp_path / "good.py").write_text("import matplotlib.pyplot as plt\nplt.plot([1, 2])\n")
    (tmp_path / "good.png").write_bytes(png_bytes())
    (tmp_path / "noimage.py").write_text("import matplotlib.pyplot as plt\nplt.bar([1], [2])\n")
    (tmp_path / "broken.py").write_text("import matplotlib.pyplot as plt\nplt.plot(\n")
    (tmp_path / "badimg.py").write_text("import matplotlib.pyplot as plt\nplt.plot([1])\n")
    (tmp_path / "badimg.png").write_bytes(b"not an image")
    (tmp_path / "binary.py").write_bytes(b"\xff\xfe\x00bad")
    items, report = collect_code_pairs(tmp_path)
    rows, report = asyncio.run(rows_from_sources(items, pool.render, report=report))
    assert sorted(r["extra_info"]["id"] for r in rows) == ["good", "noimage"]
    reasons = dict(report.skipped)
    assert "bad image" in reasons["badimg.py"]
    assert "does not render: syntax" in reasons["broken"]
    assert any("unreadable" in r for r in reasons.values())
    assert "skipped 3" in report.summary()


def test_code_pair_jsonl(tmp_path, pool):
    (tmp_path / "a.png").write_bytes(png_bytes())
    lines = [json.dumps({"id": "a", "code": "import matplotlib.pyplot as plt\nplt.plot([1])", "image": "a.png"}),
             "{not json", json.dumps({"image": "a.png"})]
    (tmp_path / "pairs.jsonl").write_text("\n".join(lines))
    items, report = collect_code_pairs(tmp_path / "pairs.jsonl")
    assert [i[0] for i in items] == ["a"] and len(report.skipped) == 2


def test_tables_and_svgs(tmp_path, pool):
    (tmp_path / "t1.html").write_text("<html><body><table><tr><td>1</td></tr></table></body></html>")
    (tmp_path / "t2.md").write_text("| a | b |\n|---|---|\n| 1 | 2 |\n")
    (tmp_path / "t3.md").write_text("no table here")
    tables, report = collect_tables(tmp_path)
    assert [t[0] for t in tables] == ["t1", "t2"] and report.skipped == [("t3.md", "no table in the file")]
    (tmp_path / "s1.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"><rect width="5" height="5"/></svg>')
    (tmp_path / "s2.svg").write_text('<!DOCTYPE svg [<!ENTITY a "b">]><svg>&a;</svg>')
    svgs, report = collect_svgs(tmp_path)
    assert [s[0] for s in svgs] == ["s1"] and "forbidden" in report.skipped[0][1]
    rows, _ = asyncio.run(rows_from_sources(tables + svgs, pool.render))
    assert len(rows) == 3 and all(r["images"][0]["bytes"] for r in rows)


def test_parquet_loads_in_verls_dataset(tmp_path, pool, tiny_vlm_path):
    """verl's RLHFDataset reads our parquet and embeds the image in raw_prompt."""
    from omegaconf import OmegaConf
    from verl.utils import hf_tokenizer
    from verl.utils.dataset.rl_dataset import RLHFDataset

    rows, _ = asyncio.run(rows_from_sources(synthetic_items(3, seed=1), pool.render))
    path = write_parquet(rows, tmp_path / "train.parquet")
    cfg = OmegaConf.create({"prompt_key": "prompt", "image_key": "images", "max_prompt_length": 4096,
                            "filter_overlong_prompts": False, "return_raw_chat": True, "truncation": "error"})
    ds = RLHFDataset(data_files=str(path), tokenizer=hf_tokenizer(tiny_vlm_path), config=cfg, processor=object())
    item = ds[0]
    parts = item["raw_prompt"][0]["content"]
    assert any(p.get("type") == "image" and p.get("bytes") for p in parts)
    assert item["reward_model"]["ground_truth"] and item["data_source"] == "chart2code"
    from recipes.visual_erm.reward_manager import reference_png_from_prompt

    assert reference_png_from_prompt(item["raw_prompt"]) == rows[0]["images"][0]["bytes"]


def test_prepare_local_uses_the_tasks_converter(tmp_path, capsys):
    """``verm-rl prepare --kind local --task svg`` converts with the svg spec's converter; the older
    ``--kind svgs`` spelling (derived from the registry, not a list of names) does the same."""
    import pandas as pd

    from verm_rl.cli import build_parser

    src = tmp_path / "src"
    src.mkdir()
    (src / "dot.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="20" height="20">'
                                 '<circle cx="10" cy="10" r="6" fill="#c33"/></svg>')
    (src / "notes.txt").write_text("not an svg")
    parser = build_parser()
    outs = []
    for kind, extra in (("local", ["--task", "svg"]), ("svgs", [])):
        out = tmp_path / f"{kind}.parquet"
        args = parser.parse_args(["prepare", "--kind", kind, *extra, "--src", str(src), "--out", str(out)])
        assert args.func(args) == 0
        outs.append(pd.read_parquet(out))
    assert [list(df["data_source"]) for df in outs] == [["svg2code"], ["svg2code"]]
    assert outs[0]["reward_model"][0]["ground_truth"] == outs[1]["reward_model"][0]["ground_truth"]
    with pytest.raises(SystemExit):
        parser.parse_args(["prepare", "--kind", "latexs", "--src", str(src), "--out", str(tmp_path / "x.parquet")])
