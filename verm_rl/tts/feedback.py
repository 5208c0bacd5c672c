"""Revision prompts: the judge's feedback on a draft, turned into the policy's next request.

The paper revises y(t+1) ~ π(· | x, y(t), f(t)) but does not publish its revision prompt; ours
gives the policy the original request (image + instruction), its last draft as the assistant turn
(only the program, so long reasoning does not pile up), and one user turn with the feedback: the
render failure, or the judge's error list (category, severity, location, description).
"""

from __future__ import annotations

from pathlib import Path

from verm_rl.judge.schema import JudgedError
from verm_rl.policy import PolicyRequest, task_request
from verm_rl.tasks import get_task

ERRORS_TEMPLATE = """A reviewer rendered your {what} and compared it with the original image. These visual \
differences remain (severity 1 = minor, 2 = medium, 3 = severe):
{errors}

Revise your {what} so that every listed difference is fixed, and keep everything that is already \
correct. Return the complete revised code in a single ```{lang} code block."""

RENDER_FAILED_TEMPLATE = """Your {what} could not be rendered ({kind}):
{message}

Fix the problem and return the complete corrected code in a single ```{lang} code block."""

NO_CODE_TEMPLATE = """Your answer did not contain a {what}. Return the complete code that reproduces the \
image in a single ```{lang} code block."""


def format_errors(errors: list[JudgedError], max_errors: int = 30) -> str:
    lines = []
    for i, e in enumerate(errors[:max_errors], 1):
        where = f" at {e.location}" if e.location else ""
        lines.append(f"{i}. [{e.category}, severity {e.severity}]{where}: {e.description}")
    if len(errors) > max_errors:
        lines.append(f"… and {len(errors) - max_errors} more.")
    return "\n".join(lines)


def feedback_text(task: str, render_ok: bool, error_kind: str | None, message: str,
                  errors: list[JudgedError], template: str | None = None) -> str:
    """The feedback turn for one draft. ``template`` (a file's text) replaces the error-list template;
    it may use {what}, {lang} and {errors}."""
    spec = get_task(task)
    what, lang = spec.noun, spec.fence
    if error_kind == "no_code":
        return NO_CODE_TEMPLATE.format(what=what, lang=lang)
    if not render_ok:
        return RENDER_FAILED_TEMPLATE.format(what=what, lang=lang, kind=error_kind or "failed",
                                             message=(message or "no message").strip()[:1500])
    return (template or ERRORS_TEMPLATE).format(what=what, lang=lang, errors=format_errors(errors))


def draft_turn(task: str, response: str, code: str | None, max_chars: int = 20000) -> str:
    """What the assistant turn shows of the last draft: its program in a fence, else the raw answer."""
    if code:
        return fenced(task, code[:max_chars])
    return (response or "")[:max_chars]


def fenced(task: str, code: str) -> str:
    """``code`` in a fence of the task's language, as a model would answer."""
    return f"```{get_task(task).fence}\n{code}\n```"


def revision_request(task: str, image: bytes, prompt: str | None, response: str, code: str | None,
                     feedback: str, **sampling) -> PolicyRequest:
    """[user: image + instruction] [assistant: last draft] [user: feedback]."""
    first = task_request(task, image, prompt, **sampling)
    first.messages += [{"role": "assistant", "content": draft_turn(task, response, code)},
                       {"role": "user", "content": feedback}]
    return first


def load_template(path: str | None) -> str | None:
    return Path(path).read_text() if path else None
