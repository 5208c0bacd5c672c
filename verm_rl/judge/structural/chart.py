"""Compare two chart traces (``render(..., trace=True)``) and list the differences as judge errors.

Attribution rules keep one cause from being reported many times: when a subplot's data, series or
chart type differ, the autoscaled axis ranges and numeric tick labels that follow are not reported
again; a legend whose entries changed because a series was added or dropped is not reported again.
"""

from __future__ import annotations

from typing import Any

from verm_rl.judge.schema import JudgedError
from verm_rl.judge.structural import rules

SERIES_KINDS = ("lines", "bars", "scatters", "fills")


def _err(category: str, severity: int, location: str, description: str) -> JudgedError:
    return JudgedError(category=f"{category}_error", severity=severity, location=location, description=description)


def _series_values(kind: str, s: dict[str, Any]) -> list[float]:
    if kind == "lines" or kind == "scatters":
        return list(s.get("y", [])) + list(s.get("x", []))
    if kind == "bars":
        return list(s.get("values", [])) + list(s.get("bottoms", []))
    return list(s.get("y", []))


def _series_colors(kind: str, s: dict[str, Any]) -> list[str]:
    """The distinct colours a series shows (bars and scatters may colour each item)."""
    if kind in ("bars", "scatters") and s.get("colors"):
        return list(dict.fromkeys(c for c in s["colors"] if c))
    return [s["color"]] if s.get("color") else []


def _pair_cost(kind: str, a: dict[str, Any], b: dict[str, Any]) -> float:
    change = rules.relative_change(_series_values(kind, a), _series_values(kind, b))
    return (float(a.get("label", "") != b.get("label", "")) + float(_series_colors(kind, a) != _series_colors(kind, b))
            + min(change, 10.0) / 10.0 + float(kind == "lines" and (a["linestyle"], a["marker"])
                                                 != (b["linestyle"], b["marker"])))


def _pair_series(kind: str, ref: list[dict], cand: list[dict]) -> list[tuple[dict, dict]]:
    """Series to compare. Equal counts: the assignment of least total difference (label, colour,
    values, style), so drawing the same series in another order changes nothing. Otherwise those
    with the same label (a missing series is a structure error, not a data error of its neighbours)."""
    if len(ref) == len(cand):
        if len(ref) <= 1:
            return list(zip(ref, cand))
        from scipy.optimize import linear_sum_assignment

        rows, cols = linear_sum_assignment([[_pair_cost(kind, a, b) for b in cand] for a in ref])
        return [(ref[r], cand[c]) for r, c in sorted(zip(rows, cols))]
    by_label = {s.get("label"): s for s in cand if s.get("label")}
    return [(s, by_label[s["label"]]) for s in ref if s.get("label") in by_label]


def _compare_axes(i: int, a: dict[str, Any], b: dict[str, Any], layout_changed: bool) -> list[JudgedError]:
    errs: list[JudgedError] = []
    loc = f"subplot {i + 1}" + (f" ('{a['title']}')" if a.get("title") else "")
    kinds_a, kinds_b = set(a.get("kinds", {})), set(b.get("kinds", {}))
    # a kind only added or only removed (bar+line -> bar) is a series missing; a kind replaced by
    # another (bar -> scatter) is a different chart type
    type_changed = bool(kinds_a - kinds_b) and bool(kinds_b - kinds_a) or (not kinds_a) != (not kinds_b)
    if type_changed:
        errs.append(_err("structure", rules.STRUCTURE_SEVERITY["chart_type"], loc,
                         f"chart type {'+'.join(sorted(kinds_a)) or 'none'} vs {'+'.join(sorted(kinds_b)) or 'none'}"))
    series_changed = not type_changed and (kinds_a != kinds_b or any(len(a[k]) != len(b[k]) for k in SERIES_KINDS)
                                           or bool(a.get("pie")) != bool(b.get("pie")))
    if series_changed:
        counts = ", ".join(f"{k} {len(a[k])} vs {len(b[k])}" for k in SERIES_KINDS if len(a[k]) != len(b[k]))
        errs.append(_err("structure", rules.STRUCTURE_SEVERITY["series"], loc, f"number of series differs ({counts})"))
    data_changed = type_changed or series_changed
    if not type_changed:
        for kind in SERIES_KINDS:
            for j, (sa, sb) in enumerate(_pair_series(kind, a[kind], b[kind])):
                sev = rules.data_severity(_series_values(kind, sa), _series_values(kind, sb))
                if sev:
                    data_changed = True
                    name = sa.get("label") or f"{kind[:-1]} {j + 1}"
                    errs.append(_err("data", sev, f"{loc}, {name}", f"{kind[:-1]} values differ"))
        if a.get("pie") and b.get("pie"):
            sev = rules.pie_severity(a["pie"]["fractions"], b["pie"]["fractions"])
            if sev:
                data_changed = True
                errs.append(_err("data", sev, f"{loc}, pie", "slice sizes differ"))
        if a.get("images") != b.get("images") and a.get("images") and b.get("images"):
            data_changed = True
            errs.append(_err("data", rules.DATA_SEVERITY["image"], loc, "image data shape differs"))
    range_changed = set()
    if not data_changed:
        for axis in ("x", "y"):
            if a[f"{axis}scale"] != b[f"{axis}scale"]:
                range_changed.add(axis)
                scales = f"{a[f'{axis}scale']} vs {b[f'{axis}scale']}"
                errs.append(_err("data", rules.DATA_SEVERITY["axis_scale"], loc, f"{axis}-axis scale {scales}"))
            elif a[f"{axis}lim"] and b[f"{axis}lim"] and not layout_changed:
                tolerance = rules.AXIS_RANGE_TOLERANCE * (abs(a[f"{axis}lim"][1] - a[f"{axis}lim"][0]) or 1.0)
                if max(abs(p - q) for p, q in zip(a[f"{axis}lim"], b[f"{axis}lim"])) > tolerance:
                    range_changed.add(axis)
                    errs.append(_err("data", rules.DATA_SEVERITY["axis_range"], loc, f"{axis}-axis range differs"))
    # text
    for field in ("title", "xlabel", "ylabel"):
        sev = rules.text_severity(field, a.get(field, ""), b.get(field, ""))
        if sev:
            errs.append(_err("text", sev, loc, f"{field} '{a.get(field, '')}' vs '{b.get(field, '')}'"))
    for axis in ("x", "y"):
        ta, tb = a.get(f"{axis}ticklabels", []), b.get(f"{axis}ticklabels", [])
        numeric = all(rules.is_numeric(t) for t in ta + tb)
        if numeric and (data_changed or layout_changed or axis in range_changed):
            continue  # numeric ticks follow the data range: already reported
        if [rules.normalise_text(t) for t in ta] != [rules.normalise_text(t) for t in tb]:
            errs.append(_err("text", rules.TEXT_SEVERITY["ticks"], loc, f"{axis} tick labels differ"))
    la, lb = a.get("legend"), b.get("legend")
    if (la is None) != (lb is None):
        errs.append(_err("structure", rules.STRUCTURE_SEVERITY["legend"], loc,
                         "legend missing" if lb is None else "extra legend"))
    elif la and lb:
        if not (series_changed or type_changed) and la["labels"] != lb["labels"]:
            sev = max(rules.text_severity("legend", " / ".join(la["labels"]), " / ".join(lb["labels"])),
                      rules.TEXT_SEVERITY["legend"])
            errs.append(_err("text", sev, f"{loc}, legend", f"legend entries {la['labels']} vs {lb['labels']}"))
        sev = rules.text_severity("legend", la.get("title", ""), lb.get("title", ""))
        if sev:
            errs.append(_err("text", sev, f"{loc}, legend", f"legend title '{la.get('title', '')}' vs "
                                                            f"'{lb.get('title', '')}'"))
        if la.get("loc") != lb.get("loc"):
            errs.append(_err("style", rules.STYLE_DETAIL, f"{loc}, legend", "legend position differs"))
    texts_a = [t for t in a.get("texts", []) if not (data_changed and rules.is_numeric(t))]
    texts_b = [t for t in b.get("texts", []) if not (data_changed and rules.is_numeric(t))]
    if sorted(map(rules.normalise_text, texts_a)) != sorted(map(rules.normalise_text, texts_b)):
        errs.append(_err("text", rules.TEXT_SEVERITY["annotation"], loc, "annotations differ"))
    # style
    if not (type_changed or series_changed):
        colors_a, colors_b, item_pairs = [], [], {}
        for k in SERIES_KINDS:
            for sa, sb in _pair_series(k, a[k], b[k]):
                ia, ib = sa.get("colors") or [], sb.get("colors") or []
                multi = len(set(ia)) > 1 or len(set(ib)) > 1
                if sa.get("cmap") and sb.get("cmap"):
                    # colours mapped from data: one colormap (one cause), and the data is compared already
                    changed = [rules.color_severity(x, y) for x, y in zip(ia, ib) if x != y and x and y]
                    if sa["cmap"] != sb["cmap"] or max(changed, default=0) and not rules.data_severity(
                            _series_values(k, sa), _series_values(k, sb)):
                        errs.append(_err("style", max(changed, default=0) or rules.STYLE_DETAIL, loc,
                                         f"colormap {sa['cmap']} vs {sb['cmap']}" if sa["cmap"] != sb["cmap"]
                                         else "mapped colours differ (norm or limits)"))
                elif k in ("bars", "scatters") and multi and len(ia) == len(ib):
                    # items coloured one by one: compared item by item (position order), each change once
                    item_pairs.update({(x, y): None for x, y in zip(ia, ib) if x != y})
                else:
                    colors_a += _series_colors(k, sa)
                    colors_b += _series_colors(k, sb)
            paired = {id(x) for pair in _pair_series(k, a[k], b[k]) for x in pair}
            colors_a += [c for s in a[k] if id(s) not in paired for c in _series_colors(k, s)]
            colors_b += [c for s in b[k] if id(s) not in paired for c in _series_colors(k, s)]
        for x, y in item_pairs:
            sev = rules.color_severity(x, y)
            if sev or (x is None) != (y is None):
                errs.append(_err("style", sev or rules.STYLE_SEVERITY["presence"], loc, f"colour {x} vs {y}"))
        if a.get("pie") and b.get("pie") and len(a["pie"]["colors"]) == len(b["pie"]["colors"]):
            colors_a += a["pie"]["colors"]
            colors_b += b["pie"]["colors"]
        for ia, ib, de in rules.match_colors(colors_a, colors_b):
            sev = rules.color_severity(colors_a[ia], colors_b[ib])
            if sev:
                errs.append(_err("style", sev, loc, f"colour {colors_a[ia]} vs {colors_b[ib]} (dE {de:.0f})"))
        for j, (sa, sb) in enumerate(_pair_series("lines", a["lines"], b["lines"])):
            look = ("linestyle", "marker", "drawstyle")  # drawstyle: steps-pre/mid/post move every step
            if tuple(sa.get(k) for k in look) != tuple(sb.get(k) for k in look):
                errs.append(_err("style", rules.STYLE_DETAIL, f"{loc}, line {j + 1}", "line style or marker differs"))
    shapes_a, shapes_b = a.get("shapes", []), b.get("shapes", [])
    if len(shapes_a) != len(shapes_b):
        errs.append(_err("structure", rules.STRUCTURE_SEVERITY["series"], loc,
                         f"{len(shapes_a)} other shapes (patches) vs {len(shapes_b)}"))
    if a.get("grid_on") != b.get("grid_on"):
        change = "missing" if a.get("grid_on") else "added"
        errs.append(_err("style", rules.STYLE_DETAIL, loc, f"grid lines {change}"))
    if abs(a.get("title_fontsize", 0) - b.get("title_fontsize", 0)) > rules.FONT_SIZE_TOLERANCE:
        errs.append(_err("style", rules.STYLE_DETAIL, loc, "title font size differs"))
    return errs


def compare_chart_traces(ref: dict[str, Any], cand: dict[str, Any]) -> list[JudgedError]:
    """Every difference between the reference figure and the candidate figure, as judge errors."""
    errs: list[JudgedError] = []
    axes_a, axes_b = ref.get("axes", []), cand.get("axes", [])
    if len(axes_a) != len(axes_b):
        errs.append(_err("structure", rules.STRUCTURE_SEVERITY["subplots"], "figure",
                         f"{len(axes_a)} subplots vs {len(axes_b)}"))
    geometry = lambda axes: sorted({tuple(x["grid"][:2]) for x in axes if x.get("grid")})  # noqa: E731
    layout_changed = geometry(axes_a) != geometry(axes_b)
    if not layout_changed and len(axes_a) == len(axes_b):  # axes placed by hand (add_axes): by position
        layout_changed = any(not x.get("grid") and not y.get("grid") and x.get("position") and y.get("position")
                             and max(abs(p - q) for p, q in zip(x["position"], y["position"])) > rules.LAYOUT_TOLERANCE
                             for x, y in zip(axes_a, axes_b))
    if layout_changed and len(axes_a) == len(axes_b):
        what = (f"subplot grid {geometry(axes_a)} vs {geometry(axes_b)}" if geometry(axes_a) != geometry(axes_b)
                else "axes placed differently")
        errs.append(_err("structure", rules.STRUCTURE_SEVERITY["layout"], "figure", what))
    for i, (a, b) in enumerate(zip(axes_a, axes_b)):
        errs += _compare_axes(i, a, b, layout_changed)
    sev = rules.text_severity("suptitle", ref.get("suptitle", ""), cand.get("suptitle", ""))
    if sev:
        errs.append(_err("text", sev, "figure title", f"'{ref.get('suptitle', '')}' vs '{cand.get('suptitle', '')}'"))
    # the suptitle is one of the figure's texts: compared above, not again
    texts_a = [t for t in ref.get("texts", []) if not (ref.get("suptitle") and t == ref["suptitle"])]
    texts_b = [t for t in cand.get("texts", []) if not (cand.get("suptitle") and t == cand["suptitle"])]
    if sorted(texts_a) != sorted(texts_b):
        errs.append(_err("text", rules.TEXT_SEVERITY["annotation"], "figure", "figure texts differ"))
    legs_a, legs_b = ref.get("legends", []), cand.get("legends", [])
    if len(legs_a) != len(legs_b):
        errs.append(_err("structure", rules.STRUCTURE_SEVERITY["legend"], "figure legend",
                         f"{len(legs_a)} figure legends vs {len(legs_b)}"))
    for la, lb in zip(legs_a, legs_b):
        sev = rules.text_severity("legend", " / ".join(la["labels"] + [la.get("title", "")]),
                                  " / ".join(lb["labels"] + [lb.get("title", "")]))
        if sev:
            errs.append(_err("text", sev, "figure legend", f"figure legend {la['labels']} vs {lb['labels']}"))
        if la.get("loc") != lb.get("loc"):
            errs.append(_err("style", rules.STYLE_DETAIL, "figure legend", "figure legend position differs"))
    if ref.get("colorbars", 0) != cand.get("colorbars", 0):
        errs.append(_err("structure", rules.STRUCTURE_SEVERITY["colorbar"], "figure", "colorbar count differs"))
    elif ref.get("colorbar_labels", []) != cand.get("colorbar_labels", []):
        errs.append(_err("text", rules.TEXT_SEVERITY["ylabel"], "colorbar",
                         f"colorbar label {ref.get('colorbar_labels')} vs {cand.get('colorbar_labels')}"))
    return errs


def compare(reference: str, candidate: str, reference_trace: dict | None, candidate_trace: dict | None
            ) -> list[JudgedError]:
    """The task registry's comparer for charts (``TaskSpec.comparer``): the two programs' traces compared."""
    return compare_chart_traces(reference_trace or {}, candidate_trace or {})
