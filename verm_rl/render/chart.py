"""Chart renderer: run a matplotlib program and save the figure it drew.

The program's own ``savefig``/``show`` calls are neutralised by patching the functions (no regex
surgery on the source): a ``savefig`` to a path only records which figure the program wanted
saved; a ``savefig`` to a file-like object (``BytesIO``) really writes there, as the program
expects, and does not choose the output. After the program ends we save the last figure saved to
a path (else the current one) once, at the configured dpi, keeping the program's figsize — the
same rules for the reference and the candidate.
"""

from __future__ import annotations

import builtins
import io

from verm_rl.render.result import RenderFailure

WARMUP_PROGRAM = """
import numpy as np
import matplotlib.pyplot as plt
fig, axes = plt.subplots(2, 3, figsize=(9, 5))
x = np.linspace(0, 6, 40)
axes[0, 0].plot(x, np.sin(x), "o-", label="sin"); axes[0, 0].legend(loc="upper right")
axes[0, 1].bar(["a", "b", "c"], [3, 1, 2], color="#1f77b4", hatch="//")
axes[0, 2].scatter(x, np.cos(x), c=x, cmap="viridis"); axes[0, 2].set_title("Title $\\\\alpha^2$")
axes[1, 0].pie([1, 2, 3], labels=["x", "y", "z"], autopct="%1.1f%%")
im = axes[1, 1].imshow(np.random.rand(5, 5)); fig.colorbar(im, ax=axes[1, 1])
axes[1, 2].boxplot([np.random.rand(10)]); axes[1, 2].fill_between(x[:5], 0, 1, alpha=0.3)
axes[1, 2].annotate("note", xy=(1, 0.5), fontweight="bold", fontstyle="italic")
fig.suptitle("warm-up", fontsize=14, fontfamily="serif")
plt.tight_layout()
"""


def _canvas_is_white(fig: object) -> bool:
    """Blank check on the pixels savefig just drew (no PNG decode): every RGB value 255."""
    import numpy as np

    try:
        rgba = np.asarray(fig.canvas.buffer_rgba())
    except Exception:
        return False
    return bool(rgba.size) and bool((rgba[..., :3] == 255).all())


def render_chart(source: str, dpi: int | str = 100, max_pixels: int = 40_000_000, trace: dict | None = None,
                 output: str = "requested") -> bytes:
    """Execute ``source`` (a matplotlib program) and return the PNG of its figure.

    ``dpi="figure"`` saves at the figure's own dpi (matplotlib's ``savefig.dpi='figure'``, what the
    released reward gets). ``output="released"`` saves the current figure when the program ends
    (``plt.gcf()``, a new empty one if the program closed its figures), ignoring which figure the
    program asked to save — the released procedure; ``"requested"`` (default) saves the figure the
    program saved to a path, else the current one. When ``trace`` is a dict, it is filled with
    ``chart_trace.trace_figure`` of the saved figure.
    """
    if output not in ("requested", "released"):
        raise RenderFailure("crash", f"unknown chart output {output!r}: requested or released")
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    plt.switch_backend("Agg")  # resolve the backend now: the program cannot switch it later
    plt.close("all")
    try:
        code = compile(source, "<chart>", "exec")
    except (SyntaxError, ValueError) as e:  # ValueError: source with NUL bytes
        raise RenderFailure("syntax", f"{type(e).__name__}: {e}") from None

    save_figure = Figure.savefig
    wanted: list[Figure] = []
    saved = {
        "Figure.savefig": Figure.savefig, "Figure.show": Figure.show, "plt.savefig": plt.savefig,
        "plt.show": plt.show, "plt.switch_backend": plt.switch_backend, "mpl.use": matplotlib.use,
    }

    def fig_savefig(self: Figure, *args: object, **kwargs: object) -> None:
        target = args[0] if args else kwargs.get("fname")
        if hasattr(target, "write"):  # into memory or an open file: do it, it is not the output
            save_figure(self, *args, **kwargs)
        else:
            wanted.append(self)

    def plt_savefig(*args: object, **kwargs: object) -> None:
        fig_savefig(plt.gcf(), *args, **kwargs)

    def ignore(*args: object, **kwargs: object) -> None:
        return None

    Figure.savefig, Figure.show = fig_savefig, ignore
    plt.savefig, plt.show, plt.switch_backend, matplotlib.use = plt_savefig, ignore, ignore, ignore
    try:
        namespace = {"__name__": "__main__", "__builtins__": builtins}
        try:
            exec(code, namespace)
        except SystemExit as e:
            if e.code not in (None, 0):
                raise RenderFailure("runtime", f"program exited with status {e.code!r}") from None
        if output == "released":
            fig = plt.gcf()
        else:
            fig = wanted[-1] if wanted else (plt.gcf() if plt.get_fignums() else None)
        if fig is None:
            raise RenderFailure("blank", "the program drew no figure")
        if dpi == "figure":
            dpi = fig.dpi
        width, height = fig.get_size_inches() * dpi
        if not (width > 0 and height > 0):
            raise RenderFailure("blank", f"figure size {width:.0f}x{height:.0f} px")
        if width * height > max_pixels:
            raise RenderFailure("too_large", f"figure would be {width:.0f}x{height:.0f} px")
        buf = io.BytesIO()
        save_figure(fig, buf, format="png", dpi=dpi)
        if _canvas_is_white(fig):
            raise RenderFailure("blank", "the render is all white")
        if trace is not None:
            from verm_rl.render.chart_trace import trace_figure

            trace.update(trace_figure(fig))
        return buf.getvalue()
    finally:
        Figure.savefig, Figure.show = saved["Figure.savefig"], saved["Figure.show"]
        plt.savefig, plt.show = saved["plt.savefig"], saved["plt.show"]
        plt.switch_backend, matplotlib.use = saved["plt.switch_backend"], saved["mpl.use"]
        plt.close("all")
