"""Describe a finished matplotlib Figure as plain JSON: layout, chart elements, data, text, style.

Runs inside the render sandbox right after the program (``render(..., trace=True)``); the
structural critic compares two such traces. Bounded in size: long series are capped.
"""

from __future__ import annotations

from typing import Any

MAX_POINTS = 2000


def _seen(color: Any, alpha: float | None = None) -> str | None:
    """The colour as seen: names, cycle references ('C0') and hex resolved, alpha laid over white.
    ``alpha`` is the artist's own alpha, which overrides the colour's (matplotlib's rule)."""
    from matplotlib.colors import to_rgba

    try:
        r, g, b, a = to_rgba(color)
    except (ValueError, TypeError):
        return None
    a = a if alpha is None else float(alpha)
    if a <= 0.0:
        return None
    return "#" + "".join(f"{round((c * a + (1 - a)) * 255):02x}" for c in (r, g, b))


def _public(label: Any) -> str:
    label = str(label or "")
    return "" if label.startswith("_") else label


def _floats(values: Any) -> list[float]:
    import numpy as np

    try:
        arr = np.asarray(values, dtype=float).ravel()[:MAX_POINTS]
    except (TypeError, ValueError):
        return []
    return [round(float(v), 6) if np.isfinite(v) else 0.0 for v in arr]


def _text(t: Any) -> str:
    try:
        return t.get_text() if t is not None and t.get_visible() else ""
    except Exception:
        return ""


def _legend(ax: Any) -> dict[str, Any] | None:
    return _legend_of(ax.get_legend())


def _legend_of(leg: Any) -> dict[str, Any] | None:
    if leg is None or not leg.get_visible():
        return None
    return {"labels": [t.get_text() for t in leg.get_texts()], "loc": int(getattr(leg, "_loc", 0) or 0),
            "title": _text(leg.get_title()),
            "fontsize": round(float(leg.get_texts()[0].get_fontsize()), 1) if leg.get_texts() else None}


def _grid(ax: Any) -> list[int] | None:
    try:
        spec = ax.get_subplotspec()
    except Exception:
        spec = None
    if spec is None:
        return None
    rows, cols = spec.get_gridspec().get_geometry()
    return [rows, cols, spec.rowspan.start, spec.rowspan.stop, spec.colspan.start, spec.colspan.stop]


def _compatible(group: dict[str, Any], item: dict[str, Any]) -> bool:
    """May ``item`` (one call's bars or points) continue ``group`` as the same visible series? Only
    when nothing visible tells them apart: no two different legend labels, the same orientation,
    bar width or marker, and no overlapping positions (stacked bars stay separate series)."""
    if group["label"] and item["label"] and group["label"] != item["label"]:
        return False
    if group["key"] != item["key"]:
        return False
    return group["_slots"].isdisjoint(item["_slots"])


def _merge(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Group calls into visible series, first fit, preferring a group with the same label and colour:
    ten one-bar calls and one ten-bar call are the same series."""
    groups: list[dict[str, Any]] = []
    for item in items:
        fits = [g for g in groups if _compatible(g, item)]
        if fits:
            best = max(fits, key=lambda g: (g["label"] == item["label"], g["colors"][:1] == item["colors"][:1]))
            best["label"] = best["label"] or item["label"]
            best["_slots"].update(item["_slots"])
            best["_points"] += item["_points"]
        else:
            groups.append({**item, "_slots": set(item["_slots"]), "_points": list(item["_points"])})
    return groups


def _bar_series(ax: Any) -> tuple[list[dict[str, Any]], set[int]]:
    """Bars grouped by what is drawn, whatever calls or containers made them; each series sorted by
    position: values (lengths), positions (centres), bottoms and per-bar colours."""
    from matplotlib.container import BarContainer

    items, ids = [], set()
    for container in ax.containers:
        if not isinstance(container, BarContainer):
            continue
        horizontal = getattr(container, "orientation", "vertical") == "horizontal"
        rects = [r for r in container.patches if r.get_visible()][:MAX_POINTS]
        ids.update(id(r) for r in container.patches)
        if not rects:
            continue
        points = []
        for r in rects:
            x, y, w, h = r.get_x(), r.get_y(), r.get_width(), r.get_height()
            if horizontal:
                points.append((round(y + h / 2, 6), w, x, abs(h), _seen(r.get_facecolor(), r.get_alpha())))
            else:
                points.append((round(x + w / 2, 6), h, y, abs(w), _seen(r.get_facecolor(), r.get_alpha())))
        items.append({"label": _public(container.get_label()), "colors": [p[4] for p in points],
                      "key": ("h" if horizontal else "v", round(points[0][3], 6)),
                      "_slots": [p[0] for p in points], "_points": points})
    series = []
    for g in _merge(items):
        pts = sorted(g["_points"], key=lambda p: p[0])
        bottoms = _floats([p[2] for p in pts])
        series.append({
            "orientation": "horizontal" if g["key"][0] == "h" else "vertical", "label": g["label"],
            "values": _floats([p[1] for p in pts]), "positions": _floats([p[0] for p in pts]),
            "bottoms": bottoms if any(bottoms) else [], "width": round(float(g["key"][1]), 6),
            "colors": [p[4] for p in pts],
        })
    return series, ids


def _scatter_series(ax: Any) -> list[dict[str, Any]]:
    """Scatter points grouped by what is drawn (same marker and size, no clashing labels), sorted."""
    import numpy as np
    from matplotlib.collections import PathCollection

    items = []
    for coll in ax.collections:
        if not coll.get_visible() or not isinstance(coll, PathCollection):
            continue
        offsets = np.asarray(coll.get_offsets())[:MAX_POINTS]  # bounded: the trace goes back over a pipe
        if not len(offsets):
            continue
        faces = coll.get_facecolors()
        colors = [_seen(faces[i % len(faces)], coll.get_alpha()) if len(faces) else None for i in range(len(offsets))]
        paths = coll.get_paths()
        marker = round(float(np.abs(paths[0].vertices).sum()), 3) if paths else 0.0
        sizes = coll.get_sizes()
        key = (marker, round(float(sizes[0]), 3) if len(sizes) else 0.0)
        points = [(round(float(x), 6), round(float(y), 6), c) for (x, y), c in zip(offsets, colors)]
        cmap = coll.get_cmap().name if coll.get_array() is not None and coll.get_cmap() is not None else None
        items.append({"label": _public(coll.get_label()), "colors": colors, "key": key, "cmap": cmap,
                      "_slots": [(p[0], p[1], len(items)) for p in points], "_points": points})
    series = []
    for g in _merge(items):
        pts = sorted(g["_points"], key=lambda p: (p[0], p[1]))[:MAX_POINTS]
        colors = [p[2] for p in pts]
        series.append({"label": g["label"], "x": _floats([p[0] for p in pts]), "y": _floats([p[1] for p in pts]),
                       "color": colors[0] if colors else None, "colors": colors, "n": len(pts),
                       "cmap": g.get("cmap")})
    return series


def _other_patches(ax: Any, skip: set[int]) -> list[dict[str, Any]]:
    """Patches that are neither bars nor pie wedges (``add_patch``, ``fill``, spans): extent and colour."""
    from matplotlib.patches import Wedge

    out = []
    for p in ax.patches:
        if id(p) in skip or isinstance(p, Wedge) or not p.get_visible():
            continue
        try:
            ext = p.get_extents()
        except Exception:
            continue
        out.append({"type": type(p).__name__, "color": _seen(p.get_facecolor(), p.get_alpha()) if p.get_fill()
                    else None, "extent": _floats([ext.x0, ext.y0, ext.x1, ext.y1])})
    return out


def _axes(ax: Any) -> dict[str, Any]:
    from matplotlib.collections import PathCollection, PolyCollection, QuadMesh
    from matplotlib.image import AxesImage
    from matplotlib.patches import Wedge

    bars, bar_patches = _bar_series(ax)
    lines = []
    for ln in ax.get_lines():
        if not ln.get_visible() or ln.get_label().startswith("_child") and len(ln.get_xdata()) <= 2 and ln.get_gid():
            continue
        lines.append({
            "label": _public(ln.get_label()),
            "x": _floats(ln.get_xdata()), "y": _floats(ln.get_ydata()), "color": _seen(ln.get_color(), ln.get_alpha()),
            "linestyle": str(ln.get_linestyle()), "marker": str(ln.get_marker()), "drawstyle": str(ln.get_drawstyle()),
            "linewidth": round(float(ln.get_linewidth()), 2),
        })
    scatters, fills, meshes = _scatter_series(ax), [], []
    for coll in ax.collections:
        if not coll.get_visible() or isinstance(coll, PathCollection):
            continue
        if isinstance(coll, QuadMesh):
            meshes.append({"shape": list(coll.get_array().shape) if coll.get_array() is not None else []})
        elif isinstance(coll, PolyCollection):
            faces = coll.get_facecolors()
            paths = coll.get_paths()
            ys = [float(v) for p in paths for v in p.vertices[:, 1]][:MAX_POINTS]
            fills.append({"label": _public(coll.get_label()),
                          "color": _seen(faces[0], coll.get_alpha()) if len(faces) else None, "y": _floats(ys)})
    shapes = _other_patches(ax, bar_patches)
    wedges = [p for p in ax.patches if isinstance(p, Wedge)]
    pie = None
    if wedges:
        spans = [(w.theta2 - w.theta1) % 360 or 360.0 for w in wedges]
        total = sum(spans) or 1.0
        pie = {"fractions": _floats([s / total for s in spans]),
               "colors": [_seen(w.get_facecolor(), w.get_alpha()) for w in wedges]}
    images = [{"shape": list(im.get_array().shape)[:2], "cmap": im.get_cmap().name}
              for im in ax.get_images() if isinstance(im, AxesImage)]
    kinds = {}
    if lines:
        kinds["line"] = len(lines)
    for b in bars:
        key = "barh" if b["orientation"] == "horizontal" else "bar"
        kinds[key] = kinds.get(key, 0) + 1
    if scatters:
        kinds["scatter"] = len(scatters)
    if fills:
        kinds["area"] = len(fills)
    if pie:
        kinds["pie"] = 1
    if images or meshes:
        kinds["image"] = len(images) + len(meshes)
    texts = [t.get_text() for t in ax.texts if t.get_visible() and t.get_text()]
    return {
        "grid": _grid(ax),
        "title": " | ".join(filter(None, (_text(ax.title), _text(ax._left_title), _text(ax._right_title)))),
        "xlabel": ax.get_xlabel(), "ylabel": ax.get_ylabel(),
        "xticklabels": [t.get_text() for t in ax.get_xticklabels() if t.get_text()],
        "yticklabels": [t.get_text() for t in ax.get_yticklabels() if t.get_text()],
        "xlim": _floats(ax.get_xlim()), "ylim": _floats(ax.get_ylim()),
        "xscale": ax.get_xscale(), "yscale": ax.get_yscale(), "axis_on": bool(ax.axison),
        "grid_on": any(gl.get_visible() for gl in ax.get_xgridlines() + ax.get_ygridlines()),
        "legend": _legend(ax), "lines": lines, "bars": bars, "scatters": scatters, "fills": fills,
        "pie": pie, "images": images, "texts": texts, "kinds": kinds, "shapes": shapes,
        "position": _floats([round(v, 3) for v in ax.get_position().bounds]),
        "title_fontsize": round(float(ax.title.get_fontsize()), 1),
    }


def trace_figure(fig: Any) -> dict[str, Any]:
    """The JSON description of ``fig`` (axes in reading order; colorbar axes counted separately)."""
    axes, colorbars, colorbar_labels = [], 0, []
    for ax in fig.get_axes():
        if not ax.get_visible():
            continue
        if getattr(ax, "_colorbar", None) is not None or ax.get_label() == "<colorbar>":
            colorbars += 1
            colorbar_labels.append(ax.get_ylabel() or ax.get_xlabel())  # vertical or horizontal bar
            continue
        axes.append(_axes(ax))
    # reading order: grid cell when the axes sit in a grid, else top-to-bottom, left-to-right position
    axes.sort(key=lambda a: (0, a["grid"][2], a["grid"][4]) if a["grid"] else
              (1, -round(a["position"][1] + a["position"][3], 2), round(a["position"][0], 2)))
    w, h = fig.get_size_inches()
    return {
        "size_inches": [round(float(w), 3), round(float(h), 3)],
        "suptitle": fig._suptitle.get_text() if getattr(fig, "_suptitle", None) is not None else "",
        "axes": axes, "colorbars": colorbars, "colorbar_labels": sorted(filter(None, colorbar_labels)),
        "texts": [t.get_text() for t in fig.texts if t.get_visible() and t.get_text()],
        "legends": [x for x in map(_legend_of, getattr(fig, "legends", [])) if x is not None],  # fig.legend()
    }
