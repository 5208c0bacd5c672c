"""SVG perturbations on the element tree (parsed with defusedxml, written back with ElementTree)."""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET

from verm_rl.data.inject.base import COLOR_MARGIN, COLOR_POOL, WORD_SWAPS, Injector, NotApplicable, Perturbation, error
from verm_rl.judge.schema import JudgedError
from verm_rl.judge.structural import rules
from verm_rl.judge.structural.svg import (
    _NUM,
    DRAWABLE,
    GEOMETRY,
    _color,
    _local,
    _num,
    element_shape_severity,
    parse_svg,
)

SVG_NS = "http://www.w3.org/2000/svg"
ET.register_namespace("", SVG_NS)


def _load(source: str):
    import defusedxml.ElementTree as DET

    return DET.fromstring(source.encode(), forbid_dtd=True, forbid_entities=True, forbid_external=True)


def _dump(root) -> str:
    return ET.tostring(root, encoding="unicode")


def _drawables(root) -> list:
    return [el for el in root.iter() if _local(el.tag) in DRAWABLE]


def _index(root, el) -> int:
    return _drawables(root).index(el) + 1


def _user_size(root) -> float:
    """The larger side of the drawing in user units (viewBox, else width/height, else 100)."""
    vb = [float(v) for v in _NUM.findall(root.get("viewBox") or "")]
    if len(vb) == 4 and max(vb[2:]) > 0:
        return max(vb[2:])
    return max(_num(root.get("width")), _num(root.get("height"))) or 100.0


def svg_move_shape(source: str, rng: random.Random) -> Perturbation:
    root = _load(source)
    size = _user_size(root)
    before = parse_svg(source).elements
    options = [el for el in _drawables(root) if _local(el.tag) in GEOMETRY and _local(el.tag) != "text"
               and any(el.get(a) for a in GEOMETRY[_local(el.tag)])]
    if not options:
        raise NotApplicable("no simple shape")
    el = rng.choice(options)
    tag = _local(el.tag)
    attrs = [a for a in GEOMETRY[tag] if el.get(a) is not None and a != "rx"]
    attr = rng.choice(attrs)
    delta = size * rng.uniform(0.12, 0.3) * rng.choice([-1, 1])
    value = float(el.get(attr))
    new_value = value + delta if value + delta > 0 else value - delta
    el.set(attr, f"{new_value:g}")
    out = _dump(root)
    # the label comes from the resolved outlines (what the critic compares), not the raw attribute
    after = parse_svg(out).elements
    index = _index(root, el)
    if len(before) != len(after) or len(before) != len(_drawables(root)):
        raise NotApplicable("drawn elements do not map one to one onto the markup")
    sev = element_shape_severity(before[index - 1], after[index - 1])
    if not sev:
        raise NotApplicable("move too small to see")
    return Perturbation("move_shape", out, [error("shape", sev, f"<{tag}> {index}",
                                                 f"{attr} {value:g} changed to {new_value:g}")])


def svg_recolor(source: str, rng: random.Random) -> Perturbation:
    root = _load(source)
    options = [(el, a) for el in _drawables(root) for a in ("fill", "stroke") if _color(el.get(a))]
    if not options:
        raise NotApplicable("no colour attribute")
    el, attr = rng.choice(options)
    old = _color(el.get(attr))
    choices = [c for c in COLOR_POOL if rules.delta_e(c, old) > rules.COLOR_THRESHOLDS[0][0] + COLOR_MARGIN]
    new = rng.choice(choices)
    el.set(attr, new)
    where = f"<{_local(el.tag)}> {_index(root, el)}"
    return Perturbation("recolor", _dump(root), [error("style", rules.color_severity(old, new), where,
                                                      f"{attr} {old} -> {new}")])


def _parent_map(root) -> dict:
    return {child: parent for parent in root.iter() for child in parent}


def svg_remove_element(source: str, rng: random.Random) -> Perturbation:
    root = _load(source)
    elements = _drawables(root)
    if len(elements) < 3:
        raise NotApplicable("too few elements")
    el = rng.choice(elements[1:])  # keep the first (often the background)
    where = f"<{_local(el.tag)}> {_index(root, el)}"
    _parent_map(root)[el].remove(el)
    return Perturbation("remove_element", _dump(root), [error("structure", rules.SVG_STRUCTURE_SEVERITY, where,
                                                                     "element missing")])


def svg_edit_text(source: str, rng: random.Random) -> Perturbation:
    root = _load(source)
    texts = [el for el in _drawables(root) if _local(el.tag) == "text" and (el.text or "").strip()]
    if not texts:
        raise NotApplicable("no text")
    el = rng.choice(texts)
    old = el.text.strip()
    el.text = next(w for w in rng.sample(WORD_SWAPS, len(WORD_SWAPS)) if w != old)
    return Perturbation("edit_text", _dump(root), [error("text_symbol", rules.text_severity("text", old, el.text),
                                                        f"<text> {_index(root, el)}", f"'{old}' reads '{el.text}'")])


SVG_PERTURBATIONS = {"move_shape": svg_move_shape, "recolor": svg_recolor, "remove_element": svg_remove_element,
                     "edit_text": svg_edit_text}


def conflict(keys: list[str], errors: list[JudgedError]) -> str | None:
    """Two errors on one element: the later edit would hide or re-attribute the earlier."""
    return "two errors on one element" if len(set(keys)) != len(keys) else None


CATEGORY = {"move_shape": "shape", "recolor": "style", "remove_element": "structure", "edit_text": "text_symbol"}
FIRST: set[str] = set()
LAST = {"remove_element"}  # removing re-indexes the elements: last, so earlier labels stay true
PERTURBATIONS = SVG_PERTURBATIONS  # kind -> perturbation, the name every injector module shares

INJECTOR = Injector(PERTURBATIONS, CATEGORY, conflict=conflict, first=frozenset(FIRST), last=frozenset(LAST))
