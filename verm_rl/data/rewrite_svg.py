"""SVG rewrites that draw the same picture: presentation attributes as CSS (``style`` attribute,
``<style>`` classes), group transforms (``translate``, nested ``translate``+``scale``, ``matrix``),
``<use>``, inherited attributes, colour spellings, rects and polygons as paths. See ``rewrite``."""

from __future__ import annotations

import random
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable

from verm_rl.data.inject import NotApplicable
from verm_rl.data.rewrite_base import edit_rewrite

SVG_NS = "http://www.w3.org/2000/svg"
PRESENTATION = ("fill", "stroke", "stroke-width", "stroke-linecap", "stroke-linejoin", "opacity", "fill-opacity",
                "stroke-opacity", "font-size", "font-family", "font-weight")
SHAPES = ("rect", "circle", "ellipse", "line", "polygon", "polyline", "path", "text")


def _svg_root(source: str):
    import defusedxml.ElementTree as DET

    ET.register_namespace("", SVG_NS)
    try:
        return DET.fromstring(source.encode(), forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except Exception as e:  # noqa: BLE001 - not XML
        raise NotApplicable(f"not SVG: {e}") from None


def _svg_dump(root) -> str:
    return ET.tostring(root, encoding="unicode")


svg_edit = edit_rewrite(_svg_root, _svg_dump)  # @svg_edit(why_not): edit(root, rng) -> changed


def _tag(el) -> str:
    return el.tag.rsplit("}", 1)[-1]


def _shapes(root) -> list:
    return [el for el in root.iter() if _tag(el) in SHAPES]


def _parent_map(root) -> dict:
    return {child: parent for parent in root.iter() for child in parent}


@svg_edit("no presentation attribute")
def svg_style_attribute(root: ET.Element, rng: random.Random) -> bool:
    """Presentation attributes → one CSS ``style`` attribute (with px units on lengths)."""
    changed = False
    for el in _shapes(root):
        decls = []
        for name in PRESENTATION:
            value = el.attrib.pop(name, None)
            if value is not None:
                if name in ("stroke-width", "font-size") and re.fullmatch(r"[\d.]+", value):
                    value += "px"
                decls.append(f"{name}:{value}")
        if decls:
            el.set("style", ";".join(decls))
            changed = True
    return changed


@svg_edit("no presentation attribute")
def svg_style_block(root: ET.Element, rng: random.Random) -> bool:
    """Presentation attributes → classes in a ``<style>`` block."""
    rules: dict[str, str] = {}
    for el in _shapes(root):
        decls = ";".join(f"{n}:{el.attrib.pop(n)}" for n in PRESENTATION if n in el.attrib)
        if decls:
            name = rules.setdefault(decls, f"s{len(rules)}")
            el.set("class", name)
    if not rules:
        return False
    style = ET.Element(f"{{{SVG_NS}}}style")
    style.text = "\n".join(f".{name} {{ {decls} }}" for decls, name in rules.items())
    root.insert(0, style)
    return True


def _shift(el, dx: float, dy: float, k: float = 1.0) -> bool:
    """Express ``el``'s geometry in a frame translated by (dx, dy) and scaled by 1/k: x' = (x − dx)·k.
    Returns False when the element cannot be re-expressed exactly (relative path commands)."""
    def fx(v: str) -> str:
        return f"{(float(v) - dx) * k:g}"

    def fy(v: str) -> str:
        return f"{(float(v) - dy) * k:g}"

    tag = _tag(el)
    pairs = {"rect": (("x", "y"),), "circle": (("cx", "cy"),), "ellipse": (("cx", "cy"),), "text": (("x", "y"),),
             "line": (("x1", "y1"), ("x2", "y2"))}
    lengths = {"rect": ("width", "height", "rx", "ry"), "circle": ("r",), "ellipse": ("rx", "ry")}
    if tag in pairs:
        for ax, ay in pairs[tag]:
            el.set(ax, fx(el.get(ax, "0")))
            el.set(ay, fy(el.get(ay, "0")))
        for name in lengths.get(tag, ()):
            if el.get(name) is not None:
                el.set(name, f"{float(el.get(name)) * k:g}")
    elif tag in ("polygon", "polyline"):
        nums = re.findall(r"-?\d*\.?\d+", el.get("points", ""))
        el.set("points", " ".join(f"{fx(nums[i])},{fy(nums[i + 1])}" for i in range(0, len(nums) - 1, 2)))
    elif tag == "path":
        d = el.get("d", "")
        if re.search(r"[a-z]", d.replace("e", "")) or re.search(r"[AHV]", d):
            return False
        tokens = re.findall(r"[A-Za-z]|-?\d*\.?\d+", d)
        out, coord = [], 0
        for t in tokens:
            if t.isalpha():
                out.append(t)
                coord = 0
            else:
                out.append(fx(t) if coord % 2 == 0 else fy(t))
                coord += 1
        el.set("d", " ".join(out))
    else:
        return False
    for name in ("stroke-width", "font-size"):
        if el.get(name) is not None and k != 1.0:
            el.set(name, f"{float(el.get(name)) * k:g}")
    return True


def _wrap(root, el, **attrs: str):
    parent = _parent_map(root)[el]
    group = ET.Element(f"{{{SVG_NS}}}g", attrs)
    i = list(parent).index(el)
    parent.remove(el)
    group.append(el)
    parent.insert(i, group)
    return group


@svg_edit("no shape to move into a group")
def svg_group_transform(root: ET.Element, rng: random.Random) -> bool:
    """Shapes placed by a ``translate`` on a wrapping group, their own coordinates shifted back."""
    changed = False
    for el in _shapes(root)[1:]:
        dx, dy = rng.randint(5, 40), rng.randint(5, 40)
        if _shift(el, dx, dy):
            _wrap(root, el, transform=f"translate({dx},{dy})")
            changed = True
    return changed


@svg_edit("no shape to transform")
def svg_nested_transform(root: ET.Element, rng: random.Random) -> bool:
    """Shapes drawn at double size inside ``translate(..) `` + ``scale(0.5)`` groups, or one ``matrix``."""
    changed = False
    for el in _shapes(root)[1:]:
        dx, dy = rng.randint(2, 20), rng.randint(2, 20)
        if not _shift(el, dx, dy, k=2.0):
            continue
        if rng.random() < 0.5:
            inner = _wrap(root, el, transform="scale(0.5)")
            _wrap(root, inner, transform=f"translate({dx} {dy})")
        else:
            _wrap(root, el, transform=f"matrix(0.5 0 0 0.5 {dx} {dy})")
        changed = True
    return changed


@svg_edit("no shape to reuse")
def svg_use(root: ET.Element, rng: random.Random) -> bool:
    """Shapes defined once in ``<defs>`` and drawn by ``<use>`` (some with an x/y offset)."""
    defs = ET.Element(f"{{{SVG_NS}}}defs")
    changed = False
    for n, el in enumerate(_shapes(root)[1:]):
        parent = _parent_map(root)[el]
        i = list(parent).index(el)
        attrs = {"href": f"#shape{n}"}
        if rng.random() < 0.5:
            dx, dy = rng.randint(1, 20), rng.randint(1, 20)
            if not _shift(el, dx, dy):
                continue
            attrs.update(x=str(dx), y=str(dy))
        el.set("id", f"shape{n}")
        parent.remove(el)
        defs.append(el)
        parent.insert(i, ET.Element(f"{{{SVG_NS}}}use", attrs))
        changed = True
    if not changed:
        return False
    root.insert(0, defs)
    return True


@svg_edit("no inheritable attribute")
def svg_inherited(root: ET.Element, rng: random.Random) -> bool:
    """Fill and stroke given on a wrapping group and inherited, not on the shape."""
    changed = False
    for el in _shapes(root)[1:]:
        attrs = {n: el.attrib.pop(n) for n in ("fill", "stroke", "stroke-width", "font-family") if n in el.attrib}
        if attrs:
            _wrap(root, el, **attrs)
            changed = True
    return changed


def _css_spellings(value: str) -> list[str]:
    from matplotlib.colors import CSS4_COLORS  # the CSS colour keywords

    low = value.lower()
    if not re.fullmatch(r"#[0-9a-f]{6}", low):
        return []
    r, g, b = (int(low[i:i + 2], 16) for i in (1, 3, 5))
    out = [value.upper(), f"rgb({r}, {g}, {b})", f"rgb({r},{g},{b})"]
    if low[1] == low[2] and low[3] == low[4] and low[5] == low[6]:
        out.append("#" + low[1] + low[3] + low[5])
    out += [name for name, hexv in CSS4_COLORS.items() if hexv.lower() == low]
    return out


@svg_edit("no hex colour")
def svg_color_spelling(root: ET.Element, rng: random.Random) -> bool:
    """Hex colours spelled as names, ``rgb()`` or short/upper-case hex."""
    changed = False
    for el in root.iter():
        for name in ("fill", "stroke"):
            options = _css_spellings(el.get(name) or "")
            if options:
                el.set(name, rng.choice(options))
                changed = True
    return changed


@svg_edit("no square rect or polygon")
def svg_rect_as_path(root: ET.Element, rng: random.Random) -> bool:
    """Square-cornered rects and polygons written as ``<path>`` outlines."""
    changed = False
    for el in _shapes(root):
        tag = _tag(el)
        if tag == "rect" and float(el.get("rx") or 0) == 0 and float(el.get("ry") or 0) == 0:
            x, y, w, h = (float(el.get(a) or 0) for a in ("x", "y", "width", "height"))
            d = f"M{x:g} {y:g} H{x + w:g} V{y + h:g} H{x:g} Z"
            for a in ("x", "y", "width", "height", "rx", "ry"):
                el.attrib.pop(a, None)
        elif tag == "polygon":
            nums = re.findall(r"-?\d*\.?\d+", el.attrib.pop("points", ""))
            d = "M" + " L".join(f"{nums[i]} {nums[i + 1]}" for i in range(0, len(nums) - 1, 2)) + " Z"
        else:
            continue
        el.tag = f"{{{SVG_NS}}}path"
        el.set("d", d)
        changed = True
    return changed


SVG_REWRITES: dict[str, Callable[[str, random.Random], str]] = {
    "style_attribute": svg_style_attribute, "style_block": svg_style_block, "group_transform": svg_group_transform,
    "nested_transform": svg_nested_transform, "use": svg_use, "inherited": svg_inherited,
    "color_spelling": svg_color_spelling, "rect_as_path": svg_rect_as_path,
}
