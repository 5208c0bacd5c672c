"""Table → HTML or markdown, drawn by Chromium."""

from __future__ import annotations

import re

from verm_rl.tasks.fences import fenced_blocks, first_element
from verm_rl.tasks.spec import TaskSpec

LANGS = ("html", "markdown", "md", "htm")
_PIPE_ROW = re.compile(r"^\s*\|.*\|\s*$")
_PIPE_SEP = re.compile(r"^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")


def pipe_table(text: str) -> str | None:
    """The first markdown pipe table (header row, separator row, body rows) in ``text``."""
    lines = text.splitlines()
    for i in range(len(lines) - 1):
        if _PIPE_ROW.match(lines[i]) and _PIPE_SEP.match(lines[i + 1]):
            end = i + 2
            while end < len(lines) and _PIPE_ROW.match(lines[end]):
                end += 1
            return "\n".join(lines[i:end])
    return None


def extract(response: str) -> str | None:
    """A ``<table …</table>`` or a pipe table in the last html/markdown fence that has one, else bare."""
    for lang, body in reversed(fenced_blocks(response)):
        if lang in LANGS or lang == "":
            m = first_element(body, "table", last_close=True)
            if m:
                return m.group(0).strip()
            pipe = pipe_table(body)
            if pipe:
                return pipe
    m = first_element(response, "table", last_close=True)
    if m:
        return m.group(0).strip()
    return pipe_table(response)


SPEC = TaskSpec(
    name="table",
    extract=extract,
    categories=("layout_error", "text_error", "numeric_error"),
    category_key="type",  # the released table judge names the category "type" and gives no location
    error_location=False,
    noun="table markup",
    fence="html",
    fence_langs=LANGS,
    source_suffixes=(".html", ".htm", ".md"),
    data_source="table2md",
    policy_prompt="policy_table.txt",
    judge_prompt="table.txt",
    judge_settings="verm_rl.judge.profiles:RELEASED_TABLE",
    released_prompts=(("rl_scripts/reward_func/table_parse_rm_v2.py", "function", "build_error_prompt_for_images"),
                      ("evaluation/api_judge.py", "function", "build_prompt_for_table")),
    renderer="verm_rl.render.renderers:render_table_task",
    worker_family="browser",
    render_timeout_s=15.0,
    render_check_blank=False,  # cropped to content: an empty table is blank there
    comparer="verm_rl.judge.structural.table:compare",
    injector="verm_rl.data.inject.table:INJECTOR",
    rewrites="verm_rl.data.rewrite_table:TABLE_REWRITES",
    converter="verm_rl.data.dataset:collect_tables",
    synthetic="verm_rl.data.synthetic:table_markup",
    item_metrics="verm_rl.eval.benchmarks.validation:table_item_metrics",
    extra_metrics=("teds",),
    broken_program="no table here",
)
