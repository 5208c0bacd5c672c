"""Judging (reference render, candidate render) pairs: prompts, parsing, backends."""

from verm_rl.judge.base import JudgeBackend, JudgeRequest, SamplingParams
from verm_rl.judge.parse import parse_judgement
from verm_rl.judge.profiles import JudgeInputs, TaskJudgeSettings, judge_inputs
from verm_rl.judge.prompts import load_prompt
from verm_rl.judge.schema import JudgedError, Judgement, failed_judgement

__all__ = [
    "JudgeBackend", "JudgeInputs", "JudgeRequest", "JudgedError", "Judgement", "SamplingParams",
    "TaskJudgeSettings", "failed_judgement", "judge_inputs", "load_prompt", "parse_judgement",
]
