"""SVG trees compared element by element: structure (which elements), shape (geometry normalised
to the viewBox), style (fill/stroke colours by CIEDE2000, stroke width), text and symbols."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from verm_rl.judge.schema import JudgedError
from verm_rl.judge.structural import rules

DRAWABLE = ("rect", "circle", "ellipse", "line", "polyline", "polygon", "path", "text", "image", "use")
GEOMETRY = {"rect": ("x", "y", "width", "height", "rx"), "circle": ("cx", "cy", "r"),
            "ellipse": ("cx", "cy", "rx", "ry"), "line": ("x1", "y1", "x2", "y2"), "text": ("x", "y", "font-size"),
            "image": ("x", "y", "width", "height"), "use": ("x", "y")}
SHAPE_THRESHOLDS = ((0.10, 3), (0.03, 2), (0.005, 1))
_NUM = re.compile(r"-?\d*\.?\d+(?:e-?\d+)?", re.IGNORECASE)


@dataclass
class SvgElement:
    tag: str
    geometry: list[float]
    fill: str | None
    stroke: str | None
    stroke_width: float | None
    text: str = ""


@dataclass
class SvgTree:
    size: float  # the larger viewBox dimension
    elements: list[SvgElement] = field(default_factory=list)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].lower()


def _color(value: str | None) -> str | None:
    if not value or value.strip().lower() in ("none", "transparent", "inherit", "currentcolor") or "url(" in value:
        return None
    from matplotlib.colors import to_hex

    try:
        return to_hex(value.strip())
    except ValueError:
        return None


def _style_attr(el, name: str) -> str | None:
    style = el.get("style") or ""
    m = re.search(rf"(?:^|;)\s*{name}\s*:\s*([^;]+)", style)
    return m.group(1).strip() if m else el.get(name)


def _num(value: str | None) -> float:
    m = _NUM.search(value or "")
    return float(m.group(0)) if m else 0.0


def parse_svg(source: str) -> SvgTree:
    import defusedxml.ElementTree as DET

    root = DET.fromstring(source.encode(), forbid_dtd=True, forbid_entities=True, forbid_external=True)
    vb = [float(v) for v in _NUM.findall(root.get("viewBox") or "")]
    size = max(vb[2:4]) if len(vb) == 4 else max(_num(root.get("width")) or 100.0, _num(root.get("height")) or 100.0)
    tree = SvgTree(size=size or 100.0)
    for el in root.iter():
        tag = _local(el.tag)
        if tag not in DRAWABLE:
            continue
        if tag in GEOMETRY:
            geometry = [_num(el.get(a)) for a in GEOMETRY[tag]]
        elif tag in ("polyline", "polygon"):
            geometry = [float(v) for v in _NUM.findall(el.get("points") or "")]
        else:  # path
            geometry = [float(v) for v in _NUM.findall(el.get("d") or "")]
        width = _style_attr(el, "stroke-width")
        tree.elements.append(SvgElement(
            tag, geometry, _color(_style_attr(el, "fill") or ("#000000" if tag != "line" else None)),
            _color(_style_attr(el, "stroke")), _num(width) if width else None,
            " ".join("".join(el.itertext()).split()) if tag == "text" else "",
        ))
    return tree


def shape_severity(old: list[float], new: list[float], size: float) -> int:
    if len(old) != len(new):
        return 2
    if not old:
        return 0
    change = max(abs(a - b) for a, b in zip(old, new)) / max(size, 1e-9)
    for limit, severity in SHAPE_THRESHOLDS:
        if change >= limit:
            return severity
    return 0


def _err(category: str, severity: int, location: str, description: str) -> JudgedError:
    return JudgedError(f"{category}_error", severity, location, description)


def _signature(e: SvgElement) -> str:
    return f"{e.tag}|{[round(v, 2) for v in e.geometry]}|{e.fill}|{e.stroke}|{e.stroke_width}|{e.text}"


def _distance(a: SvgElement, b: SvgElement, size: float) -> float:
    if a.tag != b.tag:
        return 100.0
    geo = (max((abs(x - y) for x, y in zip(a.geometry, b.geometry)), default=0.0) / max(size, 1e-9)
           if len(a.geometry) == len(b.geometry) else 1.0)
    col = sum(rules.delta_e(x, y) / 100 if x and y else float(x != y)
              for x, y in ((a.fill, b.fill), (a.stroke, b.stroke)))
    return geo + col + float(a.text != b.text)


def _align_elements(ref: SvgTree, cand: SvgTree) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """(matched pairs, unmatched reference indices, unmatched candidate indices): identical elements
    align in order (difflib); the rest of each differing block by least total difference (scipy)."""
    from scipy.optimize import linear_sum_assignment

    sig_a, sig_b = [_signature(e) for e in ref.elements], [_signature(e) for e in cand.elements]
    pairs, missing, extra = [], [], []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, sig_a, sig_b, autojunk=False).get_opcodes():
        if op == "equal":
            pairs += list(zip(range(i1, i2), range(j1, j2)))
            continue
        block_a, block_b = list(range(i1, i2)), list(range(j1, j2))
        if block_a and block_b:
            cost = [[_distance(ref.elements[i], cand.elements[j], ref.size) for j in block_b] for i in block_a]
            rows, cols = linear_sum_assignment(cost)
            matched = [(block_a[r], block_b[c]) for r, c in zip(rows, cols)]
        else:
            matched = []
        pairs += matched
        missing += [i for i in block_a if i not in {m[0] for m in matched}]
        extra += [j for j in block_b if j not in {m[1] for m in matched}]
    return sorted(pairs), missing, extra


def compare_svgs(ref: SvgTree, cand: SvgTree) -> list[JudgedError]:
    errs: list[JudgedError] = []
    pairs, missing, extra = _align_elements(ref, cand)
    for i in missing:
        errs.append(_err("structure", 2, f"element {i + 1}", f"<{ref.elements[i].tag}> missing"))
    for j in extra:
        errs.append(_err("structure", 2, f"element {j + 1} of the candidate", f"extra <{cand.elements[j].tag}>"))
    for i, j in list(pairs):
        if ref.elements[i].tag != cand.elements[j].tag:
            errs.append(_err("structure", 2, f"element {i + 1}",
                             f"<{ref.elements[i].tag}> drawn as <{cand.elements[j].tag}>"))
    pairs = [(i, j) for i, j in pairs if ref.elements[i].tag == cand.elements[j].tag]
    for i, j in pairs:
        a, b = ref.elements[i], cand.elements[j]
        loc = f"<{a.tag}> {i + 1}"
        sev = shape_severity(a.geometry, b.geometry, ref.size)
        if sev:
            errs.append(_err("shape", sev, loc, "position, size or outline differs"))
        for attr in ("fill", "stroke"):
            ca, cb = getattr(a, attr), getattr(b, attr)
            if (ca is None) != (cb is None):
                errs.append(_err("style", 2, loc, f"{attr} {ca} vs {cb}"))
            else:
                sev = rules.color_severity(ca, cb)
                if sev:
                    errs.append(_err("style", sev, loc, f"{attr} {ca} vs {cb}"))
        if a.stroke_width is not None and b.stroke_width is not None and abs(a.stroke_width - b.stroke_width) > 0.25:
            errs.append(_err("style", 1, loc, f"stroke width {a.stroke_width:g} vs {b.stroke_width:g}"))
        sev = rules.text_severity("text", a.text, b.text)
        if sev:
            errs.append(_err("text_symbol", sev, loc, f"'{a.text}' vs '{b.text}'"))
    return errs
