"""``verm-rl import-prompts`` on fake checkouts shaped like the released code (made-up prompt text),
then the imported prompts reaching a real OpenAI-compatible server byte for byte."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import textwrap

import pytest
from PIL import Image

from verm_rl.cli import main
from verm_rl.judge import JudgeRequest
from verm_rl.judge.http import HttpJudge
from verm_rl.judge.import_prompts import PromptImportError, import_prompts

CHART = "FAKE CHART JUDGE\n  keep  trailing spaces   \nschema: {\"errors\": []}\n"
SVG_OLD, SVG = "OLD SVG PROMPT (replaced below)\n", "FAKE SVG JUDGE ünïcode ✓\n\tTabbed line\n"
TABLE = "\nFAKE TABLE AUDITOR\nImage 1 / Image 2\n"
SENTINEL = "EXECUTED.flag"

REWARD_UTILS = f'''\
import os
open({SENTINEL!r}, "w").write("imported!")  # must never run
# PROMPT_CHART2CODE_JUDGEMENT = "a commented-out older prompt"
PROMPT_CHART2CODE_JUDGEMENT = {CHART!r}
PROMPT_IMG2SVG_JUDGEMENT = {SVG_OLD!r}
PROMPT_IMG2SVG_JUDGEMENT = (
    {SVG[:10]!r}
    {SVG[10:]!r}
)
MAX_IMG_SIDE = os.getenv("MAX_IMG_SIDE", 1024)
'''
TABLE_REWARD = f'''\
raise SystemExit("must never run")

def build_error_prompt_for_images() -> str:
    prompt = "an older draft"
    return prompt

def build_error_prompt_for_images() -> str:
    prompt = {TABLE!r}
    return prompt

def compute_score(predict_str, ground_truth, extra_info):
    prompt = build_error_prompt_for_images()
    prompt = "<image>\\n<image>\\n" + prompt
    return 0.0
'''
API_JUDGE = f'''\
def build_prompt_for_table() -> str:
    prompt = {TABLE!r}
    return prompt

def build_prompt_for_chart() -> str:
    return {CHART!r}

def build_prompt_for_svg() -> str:
    prompt = "an evaluation-only SVG prompt that differs"
    return prompt
'''


def make_checkout(root, files: dict[str, str]):
    root.mkdir(parents=True, exist_ok=True)
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.fixture
def checkout(tmp_path):
    return make_checkout(tmp_path / "Visual-ERM", {
        "rl_scripts/reward_func/reward_utils.py": REWARD_UTILS,
        "rl_scripts/reward_func/table_parse_rm_v2.py": TABLE_REWARD,
        "evaluation/api_judge.py": API_JUDGE,
        ".git/HEAD": "ref: refs/heads/main\n", ".git/refs/heads/main": "c3855aa" + "0" * 33 + "\n",
    })


def test_cli_writes_exact_prompts_manifest_and_override(checkout, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "prompts"
    assert main(["import-prompts", "--from", str(checkout), "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    assert stdout.strip() == f"verm.judge.prompts={out.resolve()}"
    assert not (tmp_path / SENTINEL).exists() and not (checkout / SENTINEL).exists()  # parsed, never run
    assert (out / "chart.txt").read_bytes() == CHART.encode()
    assert (out / "svg.txt").read_bytes() == SVG.encode()  # the last assignment, literals joined
    assert (out / "table.txt").read_bytes() == TABLE.encode()  # the last def, leading newline kept
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["git_commit"].startswith("c3855aa") and manifest["table_text_prefix"] == "<image>\n<image>\n"
    chart = manifest["prompts"]["chart"]
    assert chart["source_file"] == "rl_scripts/reward_func/reward_utils.py"
    assert chart["symbol"] == "PROMPT_CHART2CODE_JUDGEMENT"
    assert chart["sha256"] == hashlib.sha256(CHART.encode()).hexdigest()
    assert chart["source_sha256"] == hashlib.sha256(REWARD_UTILS.encode()).hexdigest()
    assert chart["cross_check"] == [{"source_file": "evaluation/api_judge.py", "identical": True}]
    assert manifest["prompts"]["svg"]["cross_check"][0]["identical"] is False
    assert manifest["prompts"]["table"]["symbol"] == "build_error_prompt_for_images"


def test_imported_prompts_reach_the_judge_byte_for_byte(checkout, tmp_path, scripted_server):
    out = tmp_path / "prompts"
    import_prompts(checkout, out)
    server = scripted_server(lambda body: (200, '{"errors": []}'))
    judge = HttpJudge(endpoints=[server.url], prompts=str(out))
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), "white").save(buf, format="PNG")
    png = buf.getvalue()

    async def go():
        try:
            return await judge.judge([JudgeRequest(t, png, png) for t in ("chart", "svg", "table")])
        finally:
            await judge.close()

    assert all(j.parse_ok for j in asyncio.run(go()))
    got = sorted(b["messages"][-1]["content"][-1]["text"] for b in server.requests)
    assert got == sorted([CHART, SVG, "<image>\n<image>\n" + TABLE])  # table: the released text prefix


def test_fallback_to_the_evaluation_script_when_the_reward_file_is_missing(tmp_path):
    root = make_checkout(tmp_path / "ck", {
        "rl_scripts/reward_func/reward_utils.py": REWARD_UTILS, "evaluation/api_judge.py": API_JUDGE})
    manifest = import_prompts(root, tmp_path / "out")
    assert manifest["prompts"]["table"]["source_file"] == "evaluation/api_judge.py"
    assert "missing" in manifest["prompts"]["table"]["note"]
    assert (tmp_path / "out" / "table.txt").read_text() == TABLE
    assert manifest["table_text_prefix"] is None


@pytest.mark.parametrize("files, message", [
    ({}, "does not look like a checkout"),
    ({"rl_scripts/reward_func/reward_utils.py": "PROMPT_CHART2CODE_JUDGEMENT = load('chart.txt')\n"},
     "PROMPT_CHART2CODE_JUDGEMENT is not a string literal"),
    ({"rl_scripts/reward_func/reward_utils.py": "CHART_PROMPT = 'renamed'\n"},
     "no module-level assignment to PROMPT_CHART2CODE_JUDGEMENT (prompt-like names there: ['CHART_PROMPT'])"),
    ({"rl_scripts/reward_func/reward_utils.py": "def broken(:\n"}, "not parseable Python"),
    ({"rl_scripts/reward_func/reward_utils.py": REWARD_UTILS,
      "rl_scripts/reward_func/table_parse_rm_v2.py": "def make_prompt():\n    return 'x'\n"},
     "no function build_error_prompt_for_images() (functions there: ['make_prompt'])"),
    ({"rl_scripts/reward_func/reward_utils.py": REWARD_UTILS,
      "rl_scripts/reward_func/table_parse_rm_v2.py": textwrap.dedent('''
          def build_error_prompt_for_images(kind):
              if kind:
                  return "a"
              return "b"
      ''')}, "2 return statements"),
])
def test_malformed_checkouts_fail_clearly(tmp_path, capsys, files, message):
    root = make_checkout(tmp_path / "ck", files)
    with pytest.raises(PromptImportError) as e:
        import_prompts(root, tmp_path / "out")
    assert message in str(e.value)
    assert main(["import-prompts", "--from", str(root), "--out", str(tmp_path / "out")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out" / "chart.txt").exists()  # nothing half-written


def test_prompt_directory_option_errors(tmp_path):
    from verm_rl.judge.prompts import resolve_prompt_files

    with pytest.raises(FileNotFoundError, match="not a directory"):
        resolve_prompt_files(str(tmp_path / "nope"))
    (tmp_path / "chart.txt").write_text("x")
    with pytest.raises(FileNotFoundError, match="svg.txt"):
        resolve_prompt_files(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="no such file"):
        resolve_prompt_files({"svg": str(tmp_path / "missing.txt")})
    assert resolve_prompt_files({"chart": str(tmp_path / "chart.txt"), "svg": None}) == {
        "chart": str((tmp_path / "chart.txt").resolve())}


def test_hydra_override_selects_the_directory(checkout, tmp_path, monkeypatch):
    """`verm.judge.prompts=DIR` (and the profile and per-task keys) compose over the judge presets
    and resolve to the <task>.txt files."""
    from hydra import compose, initialize_config_dir

    from tests.recipes.test_configs import CONFIG_DIR
    from verm_rl.judge.profiles import judge_inputs_from_config

    out = tmp_path / "prompts"
    import_prompts(checkout, out)
    for preset in ("verl_rm", "http", "ray_actor"):
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base=None):
            cfg = compose(config_name="visual_erm", overrides=[
                f"verm/judge={preset}", f"verm.judge.prompts={out}", "+verm.judge.per_task.table.max_tokens=4096"])
        inputs = judge_inputs_from_config(dict(cfg.verm.judge))
        assert cfg.verm.judge.profile == "released" and inputs.prompt("table") == TABLE
        assert inputs.prompt_files["svg"] == str((out / "svg.txt").resolve())
        assert inputs.for_task("table").sampling.max_tokens == 4096
        assert inputs.for_task("chart").sampling.max_tokens == 4096 and inputs.for_task("chart").sampling.top_k == 20
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base=None):
        cfg = compose(config_name="visual_erm", overrides=["verm/judge=verl_rm"])
    assert judge_inputs_from_config(dict(cfg.verm.judge)).prompt_files == {}  # bundled by default
    monkeypatch.setenv("VERM_JUDGE_PROMPTS", str(out))  # or once per cluster user, in the environment
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base=None):
        cfg = compose(config_name="visual_erm", overrides=["verm/judge=verl_rm"])
    assert judge_inputs_from_config(dict(cfg.verm.judge)).prompt("chart") == CHART
