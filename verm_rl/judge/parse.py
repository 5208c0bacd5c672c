"""Turn whatever a judge model wrote into a ``Judgement``. Never raises.

Accepts: ```json fences, prose around the object, <think> blocks, trailing commas, single quotes,
the category under the task's ``category_key`` or the usual ``category``/``type``/``error_type``,
severities as strings, words or out of range (clamped to 1–3), counts that disagree with the list
(the list wins), unknown categories (kept as ``other``), and truncated output (complete errors are
recovered, the cut-off one is dropped). JSON repair is done by the ``json_repair`` library on
bounded input: the whole parse is linear in the answer's length (``benchmarks/parse_judgement.py``),
whatever its shape.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from verm_rl.judge.schema import JudgedError, Judgement
from verm_rl.tasks import CATEGORIES, OTHER_CATEGORY, check_task, get_task

log = logging.getLogger(__name__)

_THINK = re.compile(r"<(think|thinking|reasoning)>.*?(</\1>|\Z)", re.DOTALL | re.IGNORECASE)
_THINK_END = re.compile(r"</(?:think|thinking|reasoning)>", re.IGNORECASE)
_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)(?:```|\Z)", re.DOTALL)
_SEVERITY_WORDS = {"minor": 1, "low": 1, "small": 1, "medium": 2, "moderate": 2, "major": 3, "high": 3,
                   "severe": 3, "critical": 3}
_ALIASES = {"text_symbol": "text_symbol_error", "textsymbol": "text_symbol_error", "symbol": "text_symbol_error",
            "numerical": "numeric_error", "number": "numeric_error", "numbers": "numeric_error",
            "value": "data_error", "values": "data_error", "color": "style_error", "colour": "style_error",
            "geometry": "shape_error", "structural": "structure_error",
            # the chart/table word on an SVG (one judge model serves all tasks): text is its text_symbol_error
            "text": "text_symbol_error", "text_and_symbol": "text_symbol_error"}
MAX_ERRORS = 200


def _normalise_category(task: str, value: Any) -> tuple[str, bool]:
    """(category, known) for a category string the judge wrote."""
    if not isinstance(value, str):
        return OTHER_CATEGORY, False
    name = re.sub(r"[^a-z_]+", "_", value.strip().lower()).strip("_")
    allowed = CATEGORIES[task]
    for candidate in (name, f"{name}_error", _ALIASES.get(name, ""), _ALIASES.get(name.removesuffix("_error"), "")):
        if candidate in allowed:
            return candidate, True
    return OTHER_CATEGORY, False


def _severity(value: Any) -> tuple[int, bool]:
    """(severity in 1..3, whether it had to be clamped or defaulted)."""
    if isinstance(value, bool):
        return 2, True
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        if text in _SEVERITY_WORDS:
            return _SEVERITY_WORDS[text], False
        m = re.search(r"-?\d+(\.\d+)?", text)
        if not m:
            return 2, True
        number = float(m.group(0))
    else:
        return 2, True
    if number != number:  # NaN
        return 2, True
    clamped = int(round(min(3.0, max(1.0, number))))
    return clamped, clamped != number


def _candidate_text(raw: str) -> tuple[str, list[str]]:
    notes = []
    text = _THINK.sub("", raw)
    ends = [m.end() for m in _THINK_END.finditer(text)]  # the template opened <think> in the prompt: its end is here
    if ends:
        text = text[ends[-1]:]
    fences = [m.group(1) for m in _FENCE.finditer(text) if "{" in m.group(1) or "[" in m.group(1)]
    if fences:
        notes.append("fenced")
        text = max(fences, key=len)
    starts = [i for i in (text.find("{"), text.find("[")) if i >= 0]
    if not starts:
        return "", notes
    start = min(starts)
    if text[:start].strip():
        notes.append("prose_around")
    return text[start:], notes


REPAIR_BUDGET = 4096  # answers up to this long go to json_repair whole (pure Python, ~1-5 µs a character)
BOUNDED_REPAIR = 2048  # longer ones: the most json_repair sees of them (a cut-off last item, or a prefix)
MAX_DEPTH = 64  # a judge answer nests 3-4 levels; deeper is not a judgement (and json_repair's worst case)
OFF_LOOP_CHARS = 4096  # async callers parse longer answers in a worker thread
# one token of the structure scan: a string (closed, or running to the end: never rescanned) or a bracket
_SCAN = re.compile(r'"(?:[^"\\]++|\\.)*+(?:"|\\?\Z)|[{}\[\]]', re.DOTALL)
_CLOSE = {"{": "}", "[": "]"}
# a string (kept as is) or a comma right before a closing bracket (dropped): trailing commas, linearly
_TRAILING_COMMA = re.compile(r'("(?:[^"\\]++|\\.)*+(?:"|\\?\Z))|,(?=\s*[}\]])', re.DOTALL)


def _without_trailing_commas(text: str) -> str:
    return _TRAILING_COMMA.sub(lambda m: m.group(1) or "", text)


def _structure(text: str) -> tuple[int, int, str, int]:
    """One linear pass over ``text`` (a JSON-ish value from its first bracket): (end of the first
    top-level value, -1 when it never closes; the deepest nesting seen, stopping past ``MAX_DEPTH``;
    for a value that never closes, the brackets still open just after the last value that completed
    inside it, and that offset, 0 when none did)."""
    stack: list[str] = []
    depth = last_complete = open_at_complete = 0
    for m in _SCAN.finditer(text):
        token = m.group(0)
        if token[0] == '"':
            continue
        if token in _CLOSE:
            stack.append(token)
            depth = max(depth, len(stack))
            if depth > MAX_DEPTH:
                return -1, depth, "", 0
        elif stack:
            stack.pop()
            if not stack:
                return m.end(), depth, "", m.end()
            last_complete, open_at_complete = m.end(), len(stack)
    return -1, depth, "".join(stack[:open_at_complete]), last_complete


_TAIL = "\u0000verm:truncated-tail\u0000"


def _close_truncated(text: str, open_brackets: str, last_complete: int) -> Any:
    """A truncated value cut back to the last value that completed inside it and closed
    (``json.loads``, C speed); the cut-off piece after it, when it is an item of a list and at most
    ``BOUNDED_REPAIR`` characters, is repaired alone and appended there, as a whole repair would.
    ``ValueError`` when the cut-back text is no JSON either (single quotes, …)."""
    import json_repair

    closers = "".join(_CLOSE[b] for b in reversed(open_brackets))
    body = _without_trailing_commas(text[:last_complete])
    tail = text[last_complete:].lstrip().removeprefix(",").strip()
    if not tail or not open_brackets.endswith("[") or len(tail) > BOUNDED_REPAIR:
        return json.loads(body + closers)
    obj = json.loads(body + ", " + json.dumps(_TAIL) + closers)
    piece = json_repair.loads(tail)
    _replace_tail(obj, piece)
    return obj


def _replace_tail(obj: Any, piece: Any) -> bool:
    """Put ``piece`` where the ``_TAIL`` marker is (dropped when the repair found nothing)."""
    if isinstance(obj, dict):
        return any(_replace_tail(v, piece) for v in reversed(list(obj.values())))
    if isinstance(obj, list) and obj:
        if obj[-1] == _TAIL:
            obj.pop()
            if piece not in ("", None, {}, []):
                obj.append(piece)
            return True
        return _replace_tail(obj[-1], piece)
    return False


def _load(text: str) -> tuple[Any, list[str]]:
    """The JSON value at the start of ``text``, repaired when needed. Linear in ``len(text)``: valid
    JSON is decoded by the C decoder; broken JSON is scanned once, refused when nested deeper than
    ``MAX_DEPTH``, handed whole to ``json_repair`` up to ``REPAIR_BUDGET`` characters; above that,
    freed of trailing commas, a truncated one cut back to its last complete value (or, when that is
    no JSON either, repaired on its first ``BOUNDED_REPAIR`` characters, noted ``repair_bounded``)."""
    try:
        return json.loads(text), []
    except (ValueError, RecursionError):
        pass
    # A valid object followed by prose: decode just the first value.
    try:
        obj, end = json.JSONDecoder().raw_decode(text)
        return obj, (["prose_around"] if text[end:].strip() else [])
    except (ValueError, RecursionError):
        pass
    end, depth, stack, last_complete = _structure(text)
    if depth > MAX_DEPTH:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
    stripped = text.rstrip()
    notes = ["repaired_json"] + ([] if stripped.endswith(("}", "]")) else ["truncated"])
    import json_repair

    if len(text) <= REPAIR_BUDGET:
        return json_repair.loads(text), notes
    span = text[:end] if end > 0 else text
    if end > 0:  # complete but broken: trailing commas are the usual fault
        try:
            return json.loads(_without_trailing_commas(span)), notes
        except (ValueError, RecursionError):
            pass
    elif last_complete:
        try:
            return _close_truncated(text, stack, last_complete), notes
        except (ValueError, RecursionError):
            pass
    return json_repair.loads(span[:BOUNDED_REPAIR]), notes + ["repair_bounded"]


_ERROR_LIST_KEYS = ("errors", "error_list", "issues", "discrepancies")
WRAPPER_DEPTH = 3  # {"result": {"output": {"errors": ...}}}: how deep a judgement may be wrapped


def _lower_keys(obj: dict[Any, Any]) -> dict[Any, Any]:
    return {k.strip().lower() if isinstance(k, str) else k: v for k, v in obj.items()}


def _error_items(value: dict[str, Any]) -> list[Any]:
    """Errors the judge gave as an object: one error, errors keyed by number, or lists keyed by category."""
    if {"severity", "description", *_CATEGORY_KEYS} & _lower_keys(value).keys():
        return [value]
    items: list[Any] = []
    for key, item in value.items():
        group = item if isinstance(item, list) else [item]
        items += [{"category": key, **i} if isinstance(i, dict) and isinstance(key, str) and not key.isdigit()
                   and not {*_CATEGORY_KEYS} & _lower_keys(i).keys() else i for i in group]
    return items


def _find_errors(obj: Any, depth: int = 0) -> tuple[list[Any] | None, dict[str, Any]]:
    if isinstance(obj, list):
        # a bare list of errors, or [ {object with errors} ]
        if len(obj) == 1 and isinstance(obj[0], dict) and "errors" in _lower_keys(obj[0]):
            return _find_errors(obj[0], depth)
        return obj, {}
    if isinstance(obj, dict):
        obj = _lower_keys(obj)
        for key in _ERROR_LIST_KEYS:
            if isinstance(obj.get(key), list):
                return obj[key], obj
            if isinstance(obj.get(key), dict) and obj[key]:
                return _error_items(obj[key]), obj
        if depth < WRAPPER_DEPTH and not any(isinstance(k, str) and k.endswith("_count") for k in obj):
            for value in obj.values():  # a wrapper: {"result": {...}}
                if isinstance(value, dict):
                    items, container = _find_errors(value, depth + 1)
                    if items is not None or any(isinstance(k, str) and k.endswith("_count") for k in container):
                        return items, container
        return None, obj
    return None, {}


_CATEGORY_KEYS = ("category", "type", "error_type")  # what judges write besides the task's own key


def _category_keys(task: str) -> tuple[str, ...]:
    """Where an error's category may be: the task's ``category_key`` first, then the usual keys."""
    own = get_task(task).category_key.lower()  # item keys are read lower-cased
    return (own, *(k for k in _CATEGORY_KEYS if k != own))


def _category_label(item: dict[str, Any], keys: tuple[str, ...]) -> Any:
    return next((item[k] for k in keys if k in item), None)


def _is_complete(item: dict[str, Any], task: str) -> bool:
    needed = ["severity", "description"] + (["location"] if get_task(task).error_location else [])
    has_category = any(k in item for k in _category_keys(task))
    return has_category and all(k in item for k in needed)


def parse_judgement(task: str, text: Any) -> Judgement:
    """Parse a judge's answer for ``task``. Garbage gives ``status='parse_failed'``, never an exception."""
    check_task(task)
    raw = text if isinstance(text, str) else ("" if text is None else str(text))
    try:
        return _parse(task, raw)
    except Exception as e:  # noqa: BLE001 - the contract is: never raise
        log.debug("judge output unparseable: %s", e)
        return Judgement(task=task, status="parse_failed", raw=raw, notes=[f"exception:{type(e).__name__}"])


def parse_timed(task: str, text: Any, start: float) -> Judgement:
    """``parse_judgement`` with ``seconds`` measured from ``start`` (time.monotonic())."""
    import time

    judgement = parse_judgement(task, text)
    judgement.seconds = time.monotonic() - start
    return judgement


async def parse_timed_async(task: str, text: Any, start: float) -> Judgement:
    """``parse_timed`` for the async judges: answers longer than ``OFF_LOOP_CHARS`` are parsed in a
    worker thread, so one long answer does not stall the event loop the other requests share."""
    if isinstance(text, str) and len(text) > OFF_LOOP_CHARS:
        import asyncio

        return await asyncio.to_thread(parse_timed, task, text, start)
    return parse_timed(task, text, start)


def _parse(task: str, raw: str) -> Judgement:
    candidate, notes = _candidate_text(raw)
    if not candidate:
        return Judgement(task=task, status="parse_failed", raw=raw, notes=notes + ["no_json"])
    obj, load_notes = _load(candidate)
    notes += load_notes
    items, container = _find_errors(obj)
    if items is not None:
        items = [_lower_keys(i) if isinstance(i, dict) else i for i in items[:MAX_ERRORS + 1]]
    counts = {k: v for k, v in container.items() if isinstance(k, str) and k.endswith("_count")}
    if items is None:
        # No list at all: fine only when the judge said "no errors" through its counts.
        if counts and all(_as_int(v) == 0 for v in counts.values()):
            return Judgement(task=task, raw=raw, notes=notes + ["counts_only"])
        return Judgement(task=task, status="parse_failed", raw=raw, notes=notes + ["no_error_list"])
    if items and not any(isinstance(i, dict) for i in items):
        return Judgement(task=task, status="parse_failed", raw=raw, notes=notes + ["no_error_objects"])
    if "truncated" in notes and items and isinstance(items[-1], dict) and not _is_complete(items[-1], task):
        items = items[:-1]
        notes.append("dropped_incomplete_error")
    errors = []
    category_keys = _category_keys(task)
    for item in items[:MAX_ERRORS]:
        if not isinstance(item, dict):
            notes.append("non_object_error")
            continue
        label = _category_label(item, category_keys)
        category, known = _normalise_category(task, label)
        if not known:
            notes.append("unknown_category")
        severity, adjusted = _severity(item.get("severity"))
        if adjusted:
            notes.append("severity_clamped")
        errors.append(JudgedError(
            category=category, severity=severity,
            location=_text(item.get("location", item.get("position", ""))),
            description=_text(item.get("description", item.get("detail", ""))),
        ))
    if counts:
        by_cat: dict[str, int] = {}
        for e in errors:
            by_cat[e.category] = by_cat.get(e.category, 0) + 1
        for key, value in counts.items():
            cat = key.removesuffix("_count")
            if _as_int(value) != by_cat.get(cat, 0):
                notes.append("count_mismatch")
                break
    return Judgement(task=task, errors=errors, raw=raw, notes=notes)


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ("" if value is None else json.dumps(value)[:500])
