"""The ChartMimic probe: what ChartMimic's evaluators log about a matplotlib program, gathered in one run.

ChartMimic (evaluation.md §2.3) runs every program four times with an injected prefix (monkey-patches)
and suffix (a log dump): text drawn into the PDF, gridspec layout of each axes, counts of plotting
calls, and colours of the drawn artists. This module is that prefix and suffix. Its *source* is
prepended to the program and ``__verm_cm__.report()`` appended (``probe_program``), and the whole runs
in our render sandbox (``verm_rl.render`` chart worker: fork, seccomp/rlimits, no network); the log
comes back as one marker line on the program's stdout. It is not imported there (the sandboxed child
may not read our source tree), so it must stay self-contained and free of ``from __future__``.

Differences from running four probes: the call-count and colour hooks are installed together but keep
separate re-entrancy guards (as in separate runs); tick labels are left out of the text log by
recognising the x/y axes' major tick labels (and offset texts) at draw time instead of calling
``set_xticks([])``/``set_yticks([])``, so the figure (and our PNG render) keeps its ticks.
"""

import base64
import io
import json
import sys
import zlib

MARKER = "@@VERM_CHARTMIMIC_PROBE@@"


def _hex(color):
    """ChartMimic's colour key: ``#RRGGBB`` upper case (a ``#RRGGBB[AA]`` string is kept as given)."""
    import matplotlib.colors as mcolors

    try:
        if isinstance(color, str):
            if color.startswith("#") and len(color) in (7, 9):
                return color.upper()
            return mcolors.to_hex(mcolors.to_rgba(color)).upper()
        return mcolors.to_hex(color).upper()
    except (ValueError, TypeError):
        return None


def _cmap_name(kwargs):
    cmap = kwargs.get("cmap")
    if cmap is None:
        return None
    return cmap if isinstance(cmap, str) else getattr(cmap, "name", str(cmap))


def _same_identity(wrapper, func, name):
    """A wrapper keeps the wrapped function's name, module and qualname (keys are built from them)."""
    for attr in ("__name__", "__qualname__", "__module__", "__doc__"):
        try:
            setattr(wrapper, attr, getattr(func, attr))
        except (AttributeError, TypeError):
            pass
    wrapper.__wrapped__ = func


class _Probe:
    def __init__(self):
        self.calls = {}
        self.objects = {}  # "key--initial colour" -> (key, object, reader): the last object per key wins
        self.type_guard = False
        self.color_guard = False
        self.real_stdout = None

    # ------------------------------------------------------------------ hooks
    def _wrap_type(self, owner, name, key=None):
        func = getattr(owner, name, None)
        if func is None:
            return
        probe = self
        base_key = key or f"{getattr(func, '__module__', '')}.{getattr(func, '__qualname__', name)}"

        def wrapper(*args, **kwargs):
            if probe.type_guard:
                return func(*args, **kwargs)
            probe.type_guard = True
            try:
                k = base_key
                if name == "plot" and args and type(args[0]).__name__ == "PolarAxes":
                    k += "_polar"
                probe.calls[k] = probe.calls.get(k, 0) + 1
                return func(*args, **kwargs)
            finally:
                probe.type_guard = False

        _same_identity(wrapper, func, name)
        setattr(owner, name, wrapper)

    def _wrap_color(self, owner, name, collect, key=None):
        """``collect(result, args, kwargs) -> [(colour, object, reader)]`` after the outermost call."""
        func = getattr(owner, name, None)
        if func is None:
            return
        probe = self
        base_key = key or f"{getattr(func, '__module__', '')}.{getattr(func, '__qualname__', name)}"

        def wrapper(*args, **kwargs):
            if probe.color_guard:
                return func(*args, **kwargs)
            probe.color_guard = True
            try:
                result = func(*args, **kwargs)
                try:
                    for color, obj, reader in collect(result, args, kwargs):
                        if color is not None:
                            probe.objects[f"{base_key}--{color}"] = (base_key, obj, reader)
                except Exception:
                    pass
                return result
            finally:
                probe.color_guard = False

        _same_identity(wrapper, func, name)
        setattr(owner, name, wrapper)

    def install(self):
        import matplotlib.pyplot  # noqa: F401 - the patched classes must exist
        from matplotlib.axes import Axes
        from matplotlib.axes._base import _process_plot_var_args
        from matplotlib.image import NonUniformImage
        from matplotlib.patches import Circle, Ellipse, PathPatch
        from matplotlib.projections.polar import PolarAxes

        optional = {}
        for mod in ("mpl_toolkits.mplot3d", "squarify", "networkx", "matplotlib_venn._common"):
            try:
                optional[mod] = __import__(mod, fromlist=["_"])
            except Exception:
                pass

        # chart types: the outermost call of each wrapped plotting function is counted
        for name in ("bar", "barh", "plot", "axhline", "axvline", "axvspan", "axhspan", "hlines", "vlines",
                     "errorbar", "boxplot", "violinplot", "violin", "hist", "fill_between", "fill_betweenx",
                     "scatter", "quiver", "pie", "fill", "imshow", "pcolor", "contour", "contourf", "broken_barh",
                     "tripcolor"):
            self._wrap_type(Axes, name)
        for cls, key in ((NonUniformImage, "NonUniformImage"), (Ellipse, "Ellipse"), (Circle, "Circle")):
            self._wrap_type(cls, "__init__", f"matplotlib.{key}.__init__")
        m3d = optional.get("mpl_toolkits.mplot3d")
        if m3d is not None:
            for name in ("scatter", "plot", "plot_surface", "bar3d", "bar", "add_collection3d"):
                self._wrap_type(m3d.Axes3D, name, f"Axes3D.{name}")
        nx = optional.get("networkx")
        if nx is not None:
            import networkx.drawing.nx_pylab as nx_pylab

            for name in ("draw_networkx_nodes", "draw_networkx_edges", "draw_networkx_labels"):
                self._wrap_type(nx_pylab, name, f"networkx.{name}")
                setattr(nx, name, getattr(nx_pylab, name))
        if "squarify" in optional:
            self._wrap_type(optional["squarify"], "plot", "squarify.plot")
        venn = optional.get("matplotlib_venn._common")
        if venn is not None:
            self._wrap_type(venn.VennDiagram, "__init__", "VennDiagram.__init__")

        # colours: what each hook logs, and how the colour is re-read at the end
        def line_color(o):
            return [_hex(o.get_color())]

        def face0(o):
            fc = o.get_facecolors()
            return [_hex(list(fc[0]))] if len(fc) else []

        def face(o):
            return [_hex(list(o.get_facecolor()) if not isinstance(o.get_facecolor(), str) else o.get_facecolor())]

        def faces(o):
            return [_hex(c) for c in o.get_facecolors().tolist()]

        def edges(o):
            return [_hex(list(c)) for c in o.get_edgecolors()]

        def cmap(o):
            return [o.get_cmap().name]

        def const(value):
            return lambda o: [value]

        def one(obj, reader):
            colors = reader(obj)
            return [(colors[-1], obj, reader)] if colors else []

        def each(objs, reader):
            return [x for o in objs for x in one(o, reader)]

        def c_makeline(r, a, k):
            return [(_hex(r[1]["color"]), r[0], line_color)]

        def c_bar(r, a, k):
            return each(list(r), lambda o: [_hex(list(o._original_facecolor))])

        def c_scatter(r, a, k):
            name = _cmap_name(k)
            return [(name, r, const(name))] if name else (one(r, face0) if len(r.get_facecolor()) else [])

        def c_boxplot(r, a, k):
            return each([b for b in r["boxes"] if isinstance(b, PathPatch)], face)

        def c_hist(r, a, k):
            patches = r[2]
            flat = []
            for p in patches:
                flat.extend(p if hasattr(p, "__iter__") and not hasattr(p, "get_facecolor") else [p])
            return each(flat, face)

        # plot lines: ``_makeline`` (``_make_line`` since matplotlib 3.11), one key whatever the version
        for name in ("_makeline", "_make_line"):
            self._wrap_color(_process_plot_var_args, name, c_makeline, "_process_plot_var_args._makeline")
        self._wrap_color(Axes, "bar", c_bar)
        self._wrap_color(Axes, "scatter", c_scatter)
        self._wrap_color(Axes, "axhline", lambda r, a, k: one(r, line_color))
        self._wrap_color(Axes, "axvline", lambda r, a, k: one(r, line_color))
        self._wrap_color(Axes, "_fill_between_x_or_y", lambda r, a, k: one(r, face0))
        self._wrap_color(Axes, "pie", lambda r, a, k: each(r[0], face))
        self._wrap_color(Axes, "axvspan", lambda r, a, k: one(r, face))
        self._wrap_color(Axes, "axhspan", lambda r, a, k: one(r, face))
        self._wrap_color(Axes, "hlines", lambda r, a, k: one(r, edges))
        self._wrap_color(Axes, "vlines", lambda r, a, k: one(r, edges))
        self._wrap_color(Axes, "boxplot", c_boxplot)
        self._wrap_color(Axes, "violinplot", lambda r, a, k: each(r["bodies"], face0))
        self._wrap_color(Axes, "hist", c_hist)
        self._wrap_color(PolarAxes, "plot", lambda r, a, k: each(r, line_color), "matplotlib.PolarAxes.plot_polar")
        self._wrap_color(Axes, "quiver", lambda r, a, k: one(r, faces))
        for name in ("imshow", "pcolor", "contour", "contourf", "tripcolor"):
            self._wrap_color(Axes, name, lambda r, a, k: one(r, cmap))
        self._wrap_color(Axes, "fill", lambda r, a, k: each(r, face))
        self._wrap_color(Axes, "broken_barh", lambda r, a, k: one(r, faces))
        self._wrap_color(NonUniformImage, "__init__", lambda r, a, k: one(a[0], cmap), "NonUniformImage.__init__")
        self._wrap_color(Ellipse, "__init__", lambda r, a, k: one(a[0], face), "Ellipse.__init__")
        self._wrap_color(Circle, "__init__", lambda r, a, k: one(a[0], face), "Circle.__init__")
        if m3d is not None:
            def c3_scatter(r, a, k):
                name = _cmap_name(k)
                return [(name, r, const(name))] if name else one(r, faces)

            def c3_surface(r, a, k):
                name = _cmap_name(k)
                return [(name, r, const(name))] if name else one(r, face0)

            A3 = m3d.Axes3D
            self._wrap_color(A3, "scatter", c3_scatter, "Axes3D.scatter_3d")
            self._wrap_color(A3, "plot", lambda r, a, k: each(r, line_color), "Axes3D.plot_3d")
            self._wrap_color(A3, "plot_surface", c3_surface, "Axes3D.plot_surface_3d")
            self._wrap_color(A3, "bar3d", lambda r, a, k: one(r, face0), "Axes3D.bar3d_3d")
            self._wrap_color(A3, "bar", lambda r, a, k: each(r, face), "Axes3D.bar_3d")
            self._wrap_color(A3, "add_collection3d", lambda r, a, k: one(r, faces), "Axes3D.add_collection3d_3d")
        if nx is not None:
            import networkx.drawing.nx_pylab as nx_pylab

            def c_edges(r, a, k):
                if isinstance(r, list):
                    return each(r, face)
                return one(r, lambda o: [_hex(c) for c in o.get_edgecolors().tolist()])

            for name, collect in (("draw_networkx_nodes", lambda r, a, k: one(r, faces)),
                                  ("draw_networkx_edges", c_edges),
                                  ("draw_networkx_labels", lambda r, a, k: each(list(r.values()), line_color))):
                self._wrap_color(nx_pylab, name, collect, f"networkx.{name}")
                setattr(nx, name, getattr(nx_pylab, name))
        if "squarify" in optional:
            def c_squarify(r, a, k):
                return each([p for c in r.containers for p in c], face)

            self._wrap_color(optional["squarify"], "plot", c_squarify, "squarify.plot_squarify")
        if venn is not None:
            self._wrap_color(venn.VennDiagram, "__init__",
                             lambda r, a, k: one(a[0], lambda o: [_hex(p.get_facecolor()) for p in o.patches if p]),
                             "VennDiagram.__init__")

        # the program's own prints go nowhere: the report must reach stdout intact
        self.real_stdout = sys.stdout
        sys.stdout = io.StringIO()

    # ----------------------------------------------------------------- report
    def _texts(self, fig):
        """Strings drawn into the PDF (``RendererPdf.draw_text``), minus x/y major tick labels."""
        from matplotlib.backends import backend_pdf
        from matplotlib.text import Text

        drawn, stack = [], []
        original_draw_text = backend_pdf.RendererPdf.draw_text
        original_text_draw = Text.draw

        def removed(artist):
            # tick labels carry no ``axes``: look them up among every axes' x/y major ticks (what
            # ``set_xticks([])``/``set_yticks([])`` would have removed, offset texts included)
            if artist is None:
                return False
            for ax in fig.axes:
                for axis in (ax.xaxis, ax.yaxis):
                    if artist is axis.offsetText:
                        return True
                    for tick in axis.majorTicks:
                        if artist is tick.label1 or artist is tick.label2:
                            return True
            return False

        def text_draw(self_, renderer):
            stack.append(self_)
            try:
                return original_text_draw(self_, renderer)
            finally:
                stack.pop()

        def draw_text(self_, gc, x, y, s, *args, **kwargs):
            if not removed(stack[-1] if stack else None):
                drawn.append(s)
            return original_draw_text(self_, gc, x, y, s, *args, **kwargs)

        backend_pdf.RendererPdf.draw_text = draw_text
        Text.draw = text_draw
        try:
            fig.canvas.print_figure(io.BytesIO(), format="pdf")
        finally:
            backend_pdf.RendererPdf.draw_text = original_draw_text
            Text.draw = original_text_draw
        return drawn

    @staticmethod
    def _layout(fig, graph):
        out = []
        for ax in fig.axes:
            if graph:
                out.append({"nrows": 1, "ncols": 1, "row_start": 0, "row_end": 1, "col_start": 0, "col_end": 1})
                continue
            spec = ax.get_subplotspec() if hasattr(ax, "get_subplotspec") else None
            if spec is None:
                continue
            nrows, ncols = spec.get_gridspec().get_geometry()
            out.append({"nrows": nrows, "ncols": ncols, "row_start": spec.rowspan.start,
                        "row_end": spec.rowspan.stop - 1, "col_start": spec.colspan.start,
                        "col_end": spec.colspan.stop - 1})
        return out

    def _colors(self):
        found = set()
        for key, obj, reader in self.objects.values():
            try:
                for color in reader(obj):
                    if color is not None:
                        found.add(f"{key}--{color}")
            except Exception:
                pass
        return sorted(found)

    def report(self, graph=False):
        import matplotlib.pyplot as plt

        out = {"pdf": False, "texts": [], "layout": [], "types": dict(self.calls), "colors": self._colors()}
        try:
            fig = plt.gcf()
            out["layout"] = self._layout(fig, graph)
            out["texts"] = self._texts(fig)
            out["pdf"] = True
        except Exception as e:
            out["error"] = f"{type(e).__name__}: {e}"[:500]
        data = base64.b64encode(zlib.compress(json.dumps(out).encode())).decode()
        stream = self.real_stdout or sys.stdout
        stream.write(f"\n{MARKER}{data}{MARKER}\n")
        stream.flush()


def probe_source():
    """The source text that defines ``__verm_cm__`` (this file without its docstring)."""
    import inspect

    return inspect.getsource(sys.modules[__name__])


def decode_report(stdout):
    """The probe's report from a program's stdout, or None when the program never reached it."""
    end = stdout.rfind(MARKER) if stdout else -1
    start = stdout.rfind(MARKER, 0, end) if end > 0 else -1
    if start < 0:
        return None
    try:
        raw = stdout[start + len(MARKER):end]
        return json.loads(zlib.decompress(base64.b64decode(raw)))
    except Exception:
        return None
