"""Describe a finished matplotlib Figure as plain JSON: layout, chart elements, data, text, style.

Runs inside the render sandbox right after the program (``render(..., trace=True)``); the
structural critic compares two such traces. Bounded in size: long series are capped.
"""

from __future__ import annotations

from typing import Any

MAX_POINTS = 2000


def _hex(color: Any) -> str | None:
    from matplotlib.colors import to_hex

    try:
        return to_hex(color, keep_alpha=False)
    except (ValueError, TypeError):
        return None


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
    leg = ax.get_legend()
    if leg is None or not leg.get_visible():
        return None
    return {"labels": [t.get_text() for t in leg.get_texts()], "loc": int(getattr(leg, "_loc", 0) or 0),
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


def _axes(ax: Any) -> dict[str, Any]:
    from matplotlib.collections import PathCollection, PolyCollection, QuadMesh
    from matplotlib.container import BarContainer
    from matplotlib.image import AxesImage
    from matplotlib.patches import Wedge

    bar_patches = set()
    bars = []
    for container in ax.containers:
        if isinstance(container, BarContainer):
            horizontal = getattr(container, "orientation", "vertical") == "horizontal"
            rects = list(container.patches)
            bar_patches.update(id(r) for r in rects)
            bars.append({
                "orientation": "horizontal" if horizontal else "vertical",
                "label": container.get_label() or "",
                "values": _floats([r.get_width() if horizontal else r.get_height() for r in rects]),
                "positions": _floats([r.get_y() + r.get_height() / 2 if horizontal else r.get_x() + r.get_width() / 2
                                      for r in rects]),
                "colors": [_hex(r.get_facecolor()) for r in rects],
            })
    lines = []
    for ln in ax.get_lines():
        if not ln.get_visible() or ln.get_label().startswith("_child") and len(ln.get_xdata()) <= 2 and ln.get_gid():
            continue
        lines.append({
            "label": ln.get_label() if not ln.get_label().startswith("_") else "",
            "x": _floats(ln.get_xdata()), "y": _floats(ln.get_ydata()), "color": _hex(ln.get_color()),
            "linestyle": str(ln.get_linestyle()), "marker": str(ln.get_marker()),
            "linewidth": round(float(ln.get_linewidth()), 2),
        })
    scatters, fills, meshes = [], [], []
    for coll in ax.collections:
        if not coll.get_visible():
            continue
        if isinstance(coll, PathCollection):
            offsets = coll.get_offsets()
            faces = coll.get_facecolors()
            scatters.append({
                "label": coll.get_label() if not coll.get_label().startswith("_") else "",
                "x": _floats(offsets[:, 0]) if len(offsets) else [],
                "y": _floats(offsets[:, 1]) if len(offsets) else [],
                "color": _hex(faces[0]) if len(faces) else None, "n": int(len(offsets)),
            })
        elif isinstance(coll, QuadMesh):
            meshes.append({"shape": list(coll.get_array().shape) if coll.get_array() is not None else []})
        elif isinstance(coll, PolyCollection):
            faces = coll.get_facecolors()
            paths = coll.get_paths()
            ys = [float(v) for p in paths for v in p.vertices[:, 1]][:MAX_POINTS]
            fills.append({"label": coll.get_label() if not coll.get_label().startswith("_") else "",
                          "color": _hex(faces[0]) if len(faces) else None, "y": _floats(ys)})
    wedges = [p for p in ax.patches if isinstance(p, Wedge)]
    pie = None
    if wedges:
        spans = [(w.theta2 - w.theta1) % 360 or 360.0 for w in wedges]
        total = sum(spans) or 1.0
        pie = {"fractions": _floats([s / total for s in spans]), "colors": [_hex(w.get_facecolor()) for w in wedges]}
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
        "pie": pie, "images": images, "texts": texts, "kinds": kinds,
        "title_fontsize": round(float(ax.title.get_fontsize()), 1),
    }


def trace_figure(fig: Any) -> dict[str, Any]:
    """The JSON description of ``fig`` (axes in reading order; colorbar axes counted separately)."""
    axes, colorbars = [], 0
    for ax in fig.get_axes():
        if not ax.get_visible():
            continue
        if getattr(ax, "_colorbar", None) is not None or ax.get_label() == "<colorbar>":
            colorbars += 1
            continue
        axes.append(_axes(ax))
    axes.sort(key=lambda a: (a["grid"][2], a["grid"][4]) if a["grid"] else (99, 99))
    w, h = fig.get_size_inches()
    return {
        "size_inches": [round(float(w), 3), round(float(h), 3)],
        "suptitle": fig._suptitle.get_text() if getattr(fig, "_suptitle", None) is not None else "",
        "axes": axes, "colorbars": colorbars,
        "texts": [t.get_text() for t in fig.texts if t.get_visible() and t.get_text()],
    }
