"""SVG renderer: cairosvg at a fixed size on white, with no external resources of any kind."""

from __future__ import annotations

import re

from verm_rl.render.result import RenderFailure

_DOCTYPE = re.compile(rb"<!DOCTYPE|<!ENTITY", re.IGNORECASE)


def check_svg_safe(source: str) -> bytes:
    """Parse with defusedxml (no DTDs, entities or external references) and return the bytes."""
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
    return data


def render_svg(source: str, width: int = 336, height: int = 336) -> bytes:
    """Render SVG markup to a ``width``×``height`` PNG on a white background."""
    import cairosvg

    data = check_svg_safe(source)
    try:
        return cairosvg.svg2png(
            bytestring=data, output_width=width, output_height=height,
            background_color="white", unsafe=False,  # unsafe=False: only data: URLs load
        )
    except MemoryError:
        raise RenderFailure("memory", "SVG rendering ran out of memory") from None
    except Exception as e:
        raise RenderFailure("runtime", f"cairosvg: {type(e).__name__}: {e}") from None
