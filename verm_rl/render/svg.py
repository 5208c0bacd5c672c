"""SVG renderer: cairosvg at a fixed size on white, with no external resources of any kind."""

from __future__ import annotations

import re

from verm_rl.render.result import RenderFailure

_DOCTYPE = re.compile(rb"<!DOCTYPE|<!ENTITY", re.IGNORECASE)


SVG_CAPS = {"max_svg_elements": 20_000, "max_svg_depth": 64, "max_text_chars": 200_000}


def check_svg_size(root: object, caps: dict | None = None) -> None:
    """Degenerate output (a repetition loop: thousands of elements, nesting, text) is ``too_large``
    before cairo spends seconds on it."""
    caps = {**SVG_CAPS, **(caps or {})}
    max_elements, max_depth, max_text = (int(caps[k]) for k in ("max_svg_elements", "max_svg_depth",
                                                               "max_text_chars"))
    count, text = 0, 0
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        count += 1
        text += len(node.text or "") + len(node.tail or "")
        if count > max_elements:
            raise RenderFailure("too_large", f"SVG has more than {max_elements} elements (max_svg_elements)")
        if depth > max_depth:
            raise RenderFailure("too_large", f"SVG nested deeper than {max_depth} levels (max_svg_depth)")
        if text > max_text:
            raise RenderFailure("too_large", f"SVG text longer than {max_text} characters (max_text_chars)")
        stack.extend((child, depth + 1) for child in node)


def check_svg_safe(source: str, caps: dict | None = None) -> bytes:
    """Parse with defusedxml (no DTDs, entities or external references), check the size caps and
    return the bytes."""
    import defusedxml.ElementTree as DET
    from defusedxml import DefusedXmlException

    data = source.encode("utf-8", errors="replace")
    if _DOCTYPE.search(data):
        raise RenderFailure("forbidden", "SVG with a DOCTYPE/ENTITY declaration is not rendered")
    try:
        root = DET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as e:
        raise RenderFailure("forbidden", f"unsafe XML: {type(e).__name__}") from None
    except Exception as e:  # ParseError and friends
        raise RenderFailure("syntax", f"invalid SVG XML: {e}") from None
    if not root.tag.lower().endswith("svg"):
        raise RenderFailure("syntax", f"root element is <{root.tag}>, not <svg>")
    check_svg_size(root, caps)
    return data


def render_svg(source: str, width: int = 336, height: int = 336, caps: dict | None = None) -> bytes:
    """Render SVG markup to a ``width``×``height`` PNG on a white background."""
    return render_svg_checked(source, width, height, caps)[0]


def render_svg_checked(source: str, width: int = 336, height: int = 336,
                       caps: dict | None = None) -> tuple[bytes, bool]:
    """(PNG, whether every pixel is white). The blank check reads cairo's pixels before PNG
    encoding (decoding the PNG again would cost almost as much as the render)."""
    import io

    import numpy as np
    from cairosvg.parser import Tree
    from cairosvg.surface import PNGSurface

    data = check_svg_safe(source, caps)
    try:
        tree = Tree(bytestring=data, unsafe=False)  # unsafe=False: only data: URLs load
        out = io.BytesIO()
        surface = PNGSurface(tree, out, 96, output_width=width, output_height=height, background_color="white")
        surface.cairo.flush()
        blank = bool((np.frombuffer(surface.cairo.get_data(), dtype=np.uint8) == 255).all())
        surface.finish()
        return out.getvalue(), blank
    except MemoryError:
        raise RenderFailure("memory", "SVG rendering ran out of memory") from None
    except Exception as e:
        raise RenderFailure("runtime", f"cairosvg: {type(e).__name__}: {e}") from None
