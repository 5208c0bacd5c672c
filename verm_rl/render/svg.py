"""SVG renderer: cairosvg at a fixed size on white, with no external resources of any kind."""

from __future__ import annotations

import base64
import re
import zlib
from collections.abc import Callable
from urllib.parse import unquote_to_bytes

from verm_rl.render.images import PNG_SIGNATURE, png_problem
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


_EMPTY_SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"></svg>'
_MAX_EMBEDDED_BYTES = 16 * 2**20
_MAX_EMBEDDED_PIXELS = 40_000_000  # a PNG header can claim a decompression bomb


def data_url_fetcher(caps: dict | None = None) -> Callable[[str, str], bytes]:
    """cairosvg's ``url_fetcher``: the contents of ``data:`` URLs (images embedded in the SVG),
    decoded here (cairosvg's own reads them through urllib, which the sandbox refuses as network),
    an embedded SVG checked like the document (``check_svg_safe``: no entities, the same caps);
    an empty SVG for any other URL (files, http): nothing outside the markup is read."""

    def fetch(url: str, resource_type: str) -> bytes:
        if not url.startswith("data:") or "," not in url:
            return _EMPTY_SVG
        mediatype, _, body = url[5:].partition(",")
        data = unquote_to_bytes(body)
        try:
            data = base64.decodebytes(data) if mediatype.endswith(";base64") else data
        except ValueError:
            return _EMPTY_SVG
        if data.startswith(b"\x1f\x8b"):  # gzip (svgz): bounded, not a bomb
            inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
            try:
                data = inflate.decompress(data, _MAX_EMBEDDED_BYTES)
            except zlib.error:
                return _EMPTY_SVG
            if inflate.unconsumed_tail:
                raise RenderFailure("too_large", f"embedded image over {_MAX_EMBEDDED_BYTES} bytes")
        if data.startswith(PNG_SIGNATURE) and (problem := png_problem(data, _MAX_EMBEDDED_PIXELS)):
            raise RenderFailure(problem[0], f"embedded image: {problem[1]}")  # type: ignore[arg-type]
        if data.lstrip().startswith((b"<", b"\xef\xbb\xbf<")) or b"<svg" in data[:4096]:
            return check_svg_safe(data.decode("utf-8", errors="replace"), caps)
        return data

    return fetch


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
        tree = Tree(bytestring=data, unsafe=False, url_fetcher=data_url_fetcher(caps))  # only data: URLs load
        out = io.BytesIO()
        surface = PNGSurface(tree, out, 96, output_width=width, output_height=height, background_color="white")
        surface.cairo.flush()
        blank = bool((np.frombuffer(surface.cairo.get_data(), dtype=np.uint8) == 255).all())
        surface.finish()
        return out.getvalue(), blank
    except RenderFailure:
        raise
    except MemoryError:
        raise RenderFailure("memory", "SVG rendering ran out of memory") from None
    except Exception as e:
        raise RenderFailure("runtime", f"cairosvg: {type(e).__name__}: {e}") from None
