"""SVGs compared by what they draw, after resolution, element by element.

Parsing resolves everything that changes how an SVG is *written* but not what it *shows*
(``svgelements``, a maintained SVG library): transforms (translate/scale/rotate/skew/matrix, nested
groups, ``viewBox`` and ``preserveAspectRatio``), CSS ``style`` attributes, ``<style>`` blocks with
simple selectors, inherited presentation attributes, ``<use>`` expanded, units converted,
``display:none`` dropped. Each drawn element then becomes one ``SvgElement`` in a common
representation: its outline as points in canvas percent (0–100 on the larger side), so a ``<rect>``
and the equivalent ``<path>``/``<polygon>`` are the same element, and a ``<circle>`` is an
``<ellipse>`` with equal radii. Colours are the ones seen: fill/stroke opacity and ``opacity`` laid
over white; a gradient as the mean of its stops; a text's ``<tspan>`` pieces keep their own fills.
Comparison: structure (which elements, which kind of outline), shape (how far the
outline moved), style (colours by CIEDE2000, stroke width), text and symbols.
"""

from __future__ import annotations

import difflib
import io
import math
import re
from dataclasses import dataclass, field

import numpy as np

from verm_rl.judge.schema import JudgedError
from verm_rl.judge.structural import rules

DRAWABLE = ("rect", "circle", "ellipse", "line", "polyline", "polygon", "path", "text", "image", "use")
# the attributes the injector edits, per tag (the critic itself compares resolved outlines)
GEOMETRY = {"rect": ("x", "y", "width", "height", "rx"), "circle": ("cx", "cy", "r"),
            "ellipse": ("cx", "cy", "rx", "ry"), "line": ("x1", "y1", "x2", "y2"), "text": ("x", "y", "font-size"),
            "image": ("x", "y", "width", "height"), "use": ("x", "y")}
CANVAS = 100.0  # resolved coordinates are percent of the larger canvas side
SAMPLES = 64
MAX_ASSIGNMENT = 40_000  # elements² above which differing blocks are paired in order
_NUM = re.compile(r"-?\d*\.?\d+(?:e-?\d+)?", re.IGNORECASE)
_URL = re.compile(r"url\(\s*['\"]?#([^'\")\s]+)")
# tags end at the first '<' or '>' (XML attribute values hold no '<'): each scan stops at the next tag,
# so the passes stay linear on hostile input (thousands of '<text' in comments)
_TSPAN = re.compile(r"</?(?:\w+:)?tspan\b[^<>]*>", re.IGNORECASE)
_TSPAN_OPEN = re.compile(r"<(?:\w+:)?tspan\b([^<>]*)>", re.IGNORECASE)
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_TEXT_TAG = re.compile(r"<(/?)((?:\w+:)?text\b)([^<>]*)>", re.IGNORECASE)
_FILL = re.compile(r"""(?:\bfill\s*=\s*["']([^"']*)["']|[;"'\s]fill\s*:\s*([^;"']+))""", re.IGNORECASE)
PIECES = "data-verm-tspan-fills"  # the attribute that carries the tspans' own fills past flattening


@dataclass
class SvgElement:
    """One drawn element. ``tag`` is the source tag (for locations); ``kind`` what the outline is:
    ``polygon`` (closed, straight), ``polyline`` (open, straight), ``curve`` (arcs or Béziers),
    ``text`` or ``image``. ``geometry``: outline points (x, y, … in canvas percent); text: x, y,
    font size. ``samples``: points along the outline, for outlines written with different vertices."""

    tag: str
    geometry: list[float]
    fill: str | None
    stroke: str | None
    stroke_width: float | None
    text: str = ""
    kind: str = ""
    pieces: tuple[str, ...] = ()  # text: the fill seen on each <tspan> piece, in order
    path: object = field(default=None, repr=False, compare=False)  # resolved svgelements Path, for sampling
    scale: float = field(default=1.0, repr=False, compare=False)
    _samples: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def samples(self) -> np.ndarray | None:
        """Points along the outline (canvas percent), computed on first use: only outlines written
        with different vertices need them."""
        if self._samples is None and self.path is not None:
            try:
                pts = np.asarray(self.path.npoint(np.linspace(0.0, 1.0, SAMPLES)), dtype=float).reshape(-1, 2)
            except (ValueError, ZeroDivisionError, IndexError):
                pts = np.asarray(self.geometry, dtype=float).reshape(-1, 2) / self.scale
            self._samples = pts * self.scale
        return self._samples


@dataclass
class SvgTree:
    size: float  # coordinates are in percent of the larger canvas side: always CANVAS
    elements: list[SvgElement] = field(default_factory=list)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].lower()


def _color(value: str | None) -> str | None:
    """A colour string (CSS names, #rgb, rgb(), hsl()) as '#rrggbb'; None for none/paint servers."""
    if not value or value.strip().lower() in ("none", "transparent", "inherit", "currentcolor") or "url(" in value:
        return None
    from tinycss2.color3 import parse_color

    parsed = parse_color(value.strip())
    if parsed is None or isinstance(parsed, str):
        return None
    return "#" + "".join(f"{round(min(max(c, 0.0), 1.0) * 255):02x}" for c in parsed[:3])


def _num(value: str | None) -> float:
    m = _NUM.search(value or "")
    return float(m.group(0)) if m else 0.0


def _over_white(rgb: list[float], alpha: float) -> str:
    return "#" + "".join(f"{round(c * alpha + 255 * (1 - alpha)):02x}" for c in rgb)


def _seen(color, raw: str | None, opacity: float, paints: dict[str, list[float]] | None = None) -> str | None:
    """The colour as seen: a gradient as the mean of its stops, None for none/other paint servers,
    else the colour with its alpha over white."""
    ref = _URL.search(str(raw)) if raw and "url(" in str(raw) else None
    if ref is not None:
        mean = (paints or {}).get(ref.group(1))
        return _over_white(mean, opacity) if mean is not None and opacity > 0.0 else None
    if color is None or color.value is None or (raw and "url(" in str(raw)):
        return None
    alpha = (color.alpha / 255.0) * opacity
    if alpha <= 0.0:
        return None
    return _over_white([color.red, color.green, color.blue], alpha)


def _gradients(root) -> dict[str, list[float]]:
    """Each gradient's stops averaged (RGB, stop-opacity over white), by id; ``href`` inherits stops.
    A gradient then reads as one colour: the same stops are the same colour, other stops another."""
    found: dict[str, tuple[list[float] | None, str | None]] = {}
    for el in root.iter():
        if not isinstance(el.tag, str) or not _local(el.tag).endswith("gradient") or not el.get("id"):
            continue
        colours = []
        for stop in el:
            if not isinstance(stop.tag, str) or _local(stop.tag) != "stop":
                continue
            style = dict(kv.split(":", 1) for kv in (stop.get("style") or "").split(";") if ":" in kv)
            style = {k.strip(): v.strip() for k, v in style.items()}
            hexa = _color(style.get("stop-color", stop.get("stop-color", "black")))
            try:
                alpha = max(0.0, min(1.0, float(style.get("stop-opacity", stop.get("stop-opacity", 1)))))
            except ValueError:
                alpha = 1.0
            if hexa is not None:
                colours.append([int(hexa[i:i + 2], 16) * alpha + 255 * (1 - alpha) for i in (1, 3, 5)])
        href = next((v for k, v in el.attrib.items() if _local(k) == "href"), None)
        found[el.get("id")] = (list(np.mean(colours, axis=0)) if colours else None,
                               href[1:] if href and href.startswith("#") else None)
    paints = {}
    for key, (mean, href) in found.items():
        seen = {key}
        while mean is None and href in found and href not in seen:  # stops inherited along href chains
            seen.add(href)
            mean, href = found[href]
        if mean is not None:
            paints[key] = mean
    return paints


def _outline(path) -> tuple[str, list[float]]:
    """(kind, vertices incl. Bézier control points) of a resolved path."""
    from svgelements import Arc, Close, CubicBezier, Line, Move, QuadraticBezier

    points: list[float] = []
    curved, closed = False, False
    for seg in path:
        if isinstance(seg, Move):
            pts = [seg.end]
        elif isinstance(seg, Close):
            closed = True
            continue
        elif isinstance(seg, Line):
            pts = [seg.end]
        elif isinstance(seg, QuadraticBezier):
            curved, pts = True, [seg.control, seg.end]
        elif isinstance(seg, CubicBezier):
            curved, pts = True, [seg.control1, seg.control2, seg.end]
        elif isinstance(seg, Arc):
            curved, pts = True, [seg.end]
        else:
            continue
        for p in pts:
            points += [float(p.x), float(p.y)]
    if closed and len(points) >= 4 and points[-2:] == points[:2]:
        points = points[:-2]  # an explicit return to the start is the same outline as Z
    kind = "curve" if curved else ("polygon" if closed else "polyline")
    return kind, points


def _tspan_fills(inner: str) -> list[str]:
    """The fills ('' = inherited, '?' = set by a class or id rule) of the ``<tspan>`` pieces in ``inner``."""
    fills = []
    for attrs in _TSPAN_OPEN.findall(inner):
        found = _FILL.search(" " + attrs)
        # a piece styled by class or id (a <style> rule this pass does not resolve) is unknown: "?"
        unknown = re.search(r"\b(?:class|id)\s*=", attrs) is not None
        fills.append((found.group(1) or found.group(2) or "").strip() if found else "?" if unknown else "")
    return fills


def _flatten_tspans(source: str) -> str:
    """Text split into ``<tspan>`` pieces reads as one string (positions of the pieces are dropped);
    the pieces' own fills are kept on the text (``PIECES``), a coloured word being visible."""
    source = _COMMENT.sub("", source)  # a '<tspan' in a comment is no piece (and its '-->' no tag end)
    out, last, open_tag = [], 0, None
    for m in _TEXT_TAG.finditer(source):
        if not m.group(1):
            open_tag = None if m.group(3).rstrip().endswith("/") else m  # <text/> holds no pieces
        elif open_tag is not None:  # a text's close: its open tag gets the pieces' fills
            fills = _tspan_fills(source[open_tag.end():m.start()])
            if any(fills):
                out += [source[last:open_tag.start()], f'<{open_tag.group(2)} {PIECES}="{"|".join(fills)}"',
                        open_tag.group(3), ">"]
                last = open_tag.end()
            open_tag = None
    return _TSPAN.sub("", "".join(out) + source[last:])


def parse_svg(source: str) -> SvgTree:
    """The drawn elements of ``source``, resolved (see the module docstring). Unsafe XML raises."""
    import defusedxml.ElementTree as DET
    from svgelements import SVG, Image, Path, Shape, Text

    root = DET.fromstring(source.encode(), forbid_dtd=True, forbid_entities=True, forbid_external=True)  # safety gate
    paints = _gradients(root)
    svg = SVG.parse(io.StringIO(_flatten_tspans(source)), reify=True, width=CANVAS, height=CANVAS)
    width = float(svg.width or CANVAS) if not isinstance(svg.width, str) else CANVAS
    height = float(svg.height or CANVAS) if not isinstance(svg.height, str) else CANVAS
    scale = CANVAS / max(width, height, 1e-9)
    tree = SvgTree(size=CANVAS)
    for el in svg.elements():
        tag = str(el.values.get("tag", "")) if hasattr(el, "values") else ""
        opacity = _opacity(el)
        if isinstance(el, Text):
            if not (el.text or "").strip():
                continue
            m = el.transform
            x, y = m.point_in_matrix_space((el.x, el.y)) if m is not None else (el.x, el.y)
            size = float(el.font_size or 16) * (math.sqrt(abs(m.determinant)) if m is not None else 1.0)
            fill = _seen(el.fill, el.values.get("fill"), opacity, paints)
            pieces = tuple(p if p == "?" else (_color(p) if p else fill) or ""
                           for p in str(el.values.get(PIECES) or "").split("|"))
            tree.elements.append(SvgElement("text", [float(x) * scale, float(y) * scale, size * scale], fill,
                                            _seen(el.stroke, el.values.get("stroke"), opacity, paints), None,
                                            " ".join(el.text.split()), kind="text",
                                            pieces=pieces if el.values.get(PIECES) else ()))
        elif isinstance(el, Image):
            # placed by its own frame (svgelements' bbox needs the image data loaded, which we never do)
            w, h = float(el.width or 0), float(el.height or 0)
            corners = [el.transform.point_in_matrix_space((el.x + dx, el.y + dy)) for dx in (0, w) for dy in (0, h)]
            x0, y0 = min(c[0] for c in corners), min(c[1] for c in corners)
            x1, y1 = max(c[0] for c in corners), max(c[1] for c in corners)
            tree.elements.append(SvgElement("image", [v * scale for v in (x0, y0, x1, y1)], None, None, None,
                                            kind="image"))
        elif isinstance(el, Shape):
            path = Path(el)
            if not len(path):
                continue
            kind, points = _outline(path)
            fill = None if tag == "line" or kind == "polyline" and len(points) <= 4 else \
                _seen(el.fill, el.values.get("fill"), opacity, paints)
            stroke = _seen(el.stroke, el.values.get("stroke"), opacity, paints)
            if fill is None and stroke is None:
                continue  # nothing is painted
            width = float(el.stroke_width) * scale if stroke is not None and el.stroke_width is not None else None
            tree.elements.append(SvgElement(tag or kind, [v * scale for v in points], fill, stroke, width,
                                            kind=kind, path=path, scale=scale))
    return tree


def _opacity(el) -> float:
    try:
        return max(0.0, min(1.0, float(el.values.get("opacity", 1.0))))
    except (TypeError, ValueError, AttributeError):
        return 1.0


def _closed_alignments(points: list[float]) -> list[list[float]]:
    """Every starting vertex and both directions of a closed outline (one polygon, many spellings)."""
    pts = [points[i:i + 2] for i in range(0, len(points), 2)]
    out = []
    for seq in (pts, pts[::-1]):
        for k in range(len(seq)):
            out.append([v for p in seq[k:] + seq[:k] for v in p])
    return out


def _hausdorff(a: np.ndarray | None, b: np.ndarray | None) -> float:
    if a is None or b is None or not len(a) or not len(b):
        return math.inf
    d = np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))
    return float(max(d.min(axis=1).max(), d.min(axis=0).max()))


def outline_change(a: SvgElement, b: SvgElement) -> list[float]:
    """``b``'s geometry in the vertex order that best matches ``a`` — or, when the two outlines are
    written with different vertices (a circle as four arcs or two), ``a``'s own geometry when they
    trace the same curve, else ``b``'s samples' displacement as a one-number geometry pair."""
    if a.kind == "text" or a.kind == "image":
        return b.geometry
    if len(a.geometry) == len(b.geometry):
        candidates = _closed_alignments(b.geometry) if a.kind == "polygon" else [b.geometry, _reversed(b.geometry)]
        return min(candidates, key=lambda g: max((abs(x - y) for x, y in zip(a.geometry, g)), default=0.0))
    return a.geometry if _hausdorff(a.samples, b.samples) < rules.SAME_OUTLINE else []


def _reversed(points: list[float]) -> list[float]:
    return [v for i in range(len(points) - 2, -2, -2) for v in points[i:i + 2]]


def element_shape_severity(a: SvgElement, b: SvgElement, size: float = CANVAS) -> int:
    """Shape severity between two resolved elements (the injector labels with this too)."""
    if a.kind not in ("text", "image") and len(a.geometry) != len(b.geometry):
        dist = _hausdorff(a.samples, b.samples)
        if dist < rules.SAME_OUTLINE:
            return 0
        return rules.shape_severity([0.0], [dist], size) or rules.REDRAWN_OUTLINE_MIN_SEVERITY
    return rules.shape_severity(a.geometry, outline_change(a, b), size)


def _err(category: str, severity: int, location: str, description: str) -> JudgedError:
    return JudgedError(f"{category}_error", severity, location, description)


def _extent(e: SvgElement) -> tuple[float, float, float, float]:
    pts = e.samples if e.samples is not None and len(e.samples) else np.asarray(e.geometry[:2] or [0, 0]).reshape(-1, 2)
    return (*pts.min(axis=0), *pts.max(axis=0))


def _signature(e: SvgElement) -> str:
    geometry = [round(v, 1) for v in e.geometry]
    if e.kind == "polygon" and geometry:
        geometry = min(([round(v, 1) for v in g] for g in _closed_alignments(e.geometry)), key=lambda g: g)
    return f"{e.kind}|{geometry}|{e.fill}|{e.stroke}|{e.stroke_width and round(e.stroke_width, 2)}|{e.text}|{e.pieces}"


def _distance(a: SvgElement, b: SvgElement, size: float) -> float:
    if (a.kind == "text") != (b.kind == "text") or (a.kind == "image") != (b.kind == "image"):
        return 100.0
    if len(a.geometry) == len(b.geometry):
        g = outline_change(a, b)
        geo = max((abs(x - y) for x, y in zip(a.geometry, g)), default=0.0) / max(size, 1e-9)
    else:  # outlines written with different vertices: compare their extents (cheap; pairs only)
        geo = min(max(abs(x - y) for x, y in zip(_extent(a), _extent(b))) / max(size, 1e-9), 1.0)
    geo += 0.5 * float(a.kind != b.kind)
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
        if len(block_a) * len(block_b) > MAX_ASSIGNMENT:  # a huge rewrite: pair in order, stay fast
            n = min(len(block_a), len(block_b))
            pairs += list(zip(block_a[:n], block_b[:n]))
            missing += block_a[n:]
            extra += block_b[n:]
            continue
        if block_a and block_b:
            cost = [[_distance(ref.elements[i], cand.elements[j], ref.size) for j in block_b] for i in block_a]
            rows, cols = linear_sum_assignment(cost)
            matched = [(block_a[r], block_b[c]) for r, c in zip(rows, cols) if cost[r][c] < 100.0]
        else:
            matched = []
        pairs += matched
        missing += [i for i in block_a if i not in {m[0] for m in matched}]
        extra += [j for j in block_b if j not in {m[1] for m in matched}]
    return sorted(pairs), missing, extra


def compare_svgs(ref: SvgTree, cand: SvgTree) -> list[JudgedError]:
    errs: list[JudgedError] = []
    pairs, missing, extra = _align_elements(ref, cand)
    structure = rules.SVG_STRUCTURE_SEVERITY
    for i in missing:
        tag = ref.elements[i].tag
        errs.append(_err("structure", structure, f"<{tag}> {i + 1}", f"<{tag}> missing"))
    for j in extra:
        tag = cand.elements[j].tag
        errs.append(_err("structure", structure, f"element {j + 1} of the candidate", f"extra <{tag}>"))
    for i, j in pairs:
        a, b = ref.elements[i], cand.elements[j]
        loc = f"<{a.tag}> {i + 1}"
        if a.kind != b.kind and _hausdorff(a.samples, b.samples) >= rules.SAME_OUTLINE:
            errs.append(_err("structure", structure, loc, f"<{a.tag}> drawn as <{b.tag}>"))
        else:
            sev = element_shape_severity(a, b, ref.size)
            if sev:
                errs.append(_err("shape", sev, loc, "position, size or outline differs"))
        for attr in ("fill", "stroke"):
            ca, cb = getattr(a, attr), getattr(b, attr)
            if (ca is None) != (cb is None):
                errs.append(_err("style", rules.STYLE_SEVERITY["presence"], loc, f"{attr} {ca} vs {cb}"))
            else:
                sev = rules.color_severity(ca, cb)
                if sev:
                    errs.append(_err("style", sev, loc, f"{attr} {ca} vs {cb}"))
        wa, wb = a.stroke_width, b.stroke_width
        if wa is not None and wb is not None and abs(wa - wb) > rules.STROKE_WIDTH_TOLERANCE:
            errs.append(_err("style", rules.STYLE_DETAIL, loc, f"stroke width {wa:.3g} vs {wb:.3g}"))
        if a.pieces != b.pieces:  # a text without coloured pieces is one piece of its own fill, as long as needed
            n = max(len(a.pieces), len(b.pieces))
            fill_a, fill_b = a.pieces or (a.fill or "",) * n, b.pieces or (b.fill or "",) * n
            sev = max((rules.color_severity(x, y) if x and y else rules.STYLE_SEVERITY["presence"] * (x != y)
                       for x, y in zip(fill_a, fill_b) if "?" not in (x, y)), default=0)
            if sev or len(fill_a) != len(fill_b):
                errs.append(_err("style", sev or rules.STYLE_DETAIL, loc, f"text piece colours {fill_a} vs {fill_b}"))
        sev = rules.text_severity("text", a.text, b.text)
        if sev:
            errs.append(_err("text_symbol", sev, loc, f"'{a.text}' vs '{b.text}'"))
    return errs


def compare(reference: str, candidate: str, reference_trace: dict | None = None, candidate_trace: dict | None = None
            ) -> list[JudgedError]:
    """The task registry's comparer for SVG (``TaskSpec.comparer``): the two element trees compared."""
    return compare_svgs(parse_svg(reference), parse_svg(candidate))
