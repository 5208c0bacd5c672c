"""The task registry's renderers for the python-family tasks (``TaskSpec.renderer``): draw one
program with the options as a plain dict, filling ``meta`` (a chart's trace when asked).

They live on the render side so that ``verm_rl.tasks`` names them by string and never imports
``verm_rl.render`` (which imports the registry): the import graph stays one way.
"""

from __future__ import annotations

from typing import Any


def render_chart_program(source: str, options: dict[str, Any], meta: dict[str, Any]) -> bytes:
    """Run the program and save its figure (``meta["trace"]``: the figure described, when asked)."""
    from verm_rl.render.chart import render_chart

    trace: dict[str, Any] | None = {} if options.get("trace") else None
    dpi = options.get("dpi", 100)
    png = render_chart(source, dpi=dpi if dpi == "figure" else int(dpi),
                       max_pixels=int(options.get("max_pixels", 40_000_000)), trace=trace,
                       output=options.get("chart_output", "requested"))
    if trace is not None:
        meta["trace"] = trace
    return png


def render_svg_program(source: str, options: dict[str, Any], meta: dict[str, Any]) -> bytes:
    from verm_rl.render.svg import render_svg

    return render_svg(source, int(options.get("svg_width", 336)), int(options.get("svg_height", 336)), caps=options)
