"""Render throughput on this machine: the upstream way vs our sandboxed warm workers vs no isolation.

    .venv/bin/python benchmarks/render_throughput.py [--repeats 8] [--pool-renders 2000] [--sections chart,svg]
    sudo bash scripts/ci_nonroot.sh --python benchmarks/render_throughput.py ...   (as an unprivileged user)

Charts: (a) a cold `python script.py` subprocess per render (upstream Visual-ERM / ChartMimic),
(b) our sandboxed fork from a warm worker, (c) in-process exec with no isolation (the ceiling).
(b) and (c) alternate per program, so (b) comes after an idle gap (the worker prepares the next
render's child between requests); (b2) is a second sandboxed render straight after (b), with no gap:
a saturated worker's rate. The load average is printed before and after.
SVG: bare cairosvg in this process vs our long-lived sandboxed SVG child, on 120 icon-like SVGs
from the synthetic generator (same size and background).
Tables: a Chromium command-line screenshot per table (upstream's html2image way), a fresh
Playwright browser per table, and our reused browser. Then the Ray render pool's resident memory
over many renders (it must stay flat). Ratios are printed last.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from verm_rl.examples import bundled_examples  # noqa: E402
from verm_rl.render import Renderer  # noqa: E402
from verm_rl.render.table import CHROMIUM_ARGS, find_chromium, table_to_html  # noqa: E402


def interleaved_rates(fns, items, repeats: int) -> list[float]:
    """Renders per second of each of ``fns``, calling them in turn on each item so that drifts in
    machine load hit all of them alike (after one warm-up call each)."""
    for fn in fns:
        fn(items[0])
    totals = [0.0] * len(fns)
    for _ in range(repeats):
        for item in items:
            for i, fn in enumerate(fns):
                start = time.perf_counter()
                fn(item)
                totals[i] += time.perf_counter() - start
    return [repeats * len(items) / t for t in totals]


def phases(renderer, charts: list[str], n: int = 3) -> str:
    """Median milliseconds of each phase of a sandboxed chart render (``meta["timings"]``)."""
    import statistics

    seen: dict[str, list[float]] = {}
    for _ in range(n):
        for source in charts:
            time.sleep(0.05)  # as in (b): the worker had a moment between requests
            for k, v in renderer.render("chart", source).meta.get("timings", {}).items():
                seen.setdefault(k, []).append(v)
    return ", ".join(f"{k} {1000 * statistics.median(v):.1f}" if k != "spare" else f"spare {statistics.mean(v):.0%}"
                     for k, v in seen.items())


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def rate(fn, items, repeats: int) -> float:
    """Renders per second of ``fn`` over ``items`` × ``repeats`` (after one warm-up call)."""
    fn(items[0])
    start = time.perf_counter()
    n = 0
    for _ in range(repeats):
        for item in items:
            fn(item)
            n += 1
    return n / (time.perf_counter() - start)


def cold_subprocess_chart(source: str) -> None:
    """Upstream: write the program, append a savefig, run a fresh interpreter with a timeout."""
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "chart.py"
        script.write_text(source + f"\nimport matplotlib.pyplot as plt\nplt.savefig({tmp + '/out.png'!r})\n")
        env = dict(os.environ, MPLBACKEND="Agg")
        subprocess.run([sys.executable, str(script)], cwd=tmp, env=env, timeout=15,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)


def in_process_chart(source: str) -> None:
    from verm_rl.render.chart import render_chart

    render_chart(source)


def chromium_cli_table(source: str) -> None:
    """Upstream (html2image): one headless Chromium process per screenshot."""
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "t.html"
        page.write_text(table_to_html(source))
        subprocess.run([find_chromium(), *CHROMIUM_ARGS, f"--user-data-dir={tmp}/profile",
                        f"--screenshot={tmp}/out.png", "--window-size=1600,1200", page.as_uri()],
                       timeout=60, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)


def bare_cairosvg(source: str) -> None:
    import cairosvg

    cairosvg.svg2png(bytestring=source.encode(), output_width=336, output_height=336, background_color="white")


def icons(n: int = 120) -> list[str]:
    from verm_rl.data.synthetic import generate_references

    return [r.source for r in generate_references(n, seed=7, tasks=("svg",))]


def fresh_browser_table(source: str) -> None:
    from verm_rl.render.table import TableBrowser

    browser = TableBrowser()
    try:
        browser.render(source)
    finally:
        browser.close()


def pool_memory(n_renders: int, items: list[tuple[str, str]]) -> tuple[float, float, float]:
    """Render ``n_renders`` through a 2-actor Ray pool; RSS (MB) of actors+workers early and late."""
    import ray

    from reward_workers import RenderPool

    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    pool = RenderPool(name="bench_pool", size=2)

    def rss_mb() -> float:
        total = 0
        for pid in pool.actor_pids():
            proc = psutil.Process(pid)
            for p in [proc, *proc.children(recursive=True)]:
                try:
                    total += p.memory_info().rss
                except psutil.Error:
                    pass
        return total / 2**20

    async def run_batch(batch):
        return await pool.render_many(batch)

    samples, done, start = [], 0, time.perf_counter()
    while done < n_renders:
        batch = [items[(done + i) % len(items)] for i in range(min(100, n_renders - done))]
        results = asyncio.run(run_batch(batch))
        assert all(r.ok for r in results), [r.message for r in results if not r.ok][:3]
        done += len(batch)
        samples.append(rss_mb())
    seconds = time.perf_counter() - start
    pool.shutdown()
    ray.shutdown()
    k = max(1, len(samples) // 5)
    early, late = max(samples[:k]), max(samples[-k:])
    print(f"pool: {n_renders} renders in {seconds:.1f} s ({n_renders / seconds:.1f}/s over 2 actors); "
          f"RSS samples MB: {', '.join(f'{s:.0f}' for s in samples[:: max(1, len(samples) // 10)])}")
    return early, late, max(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=12)
    parser.add_argument("--table-repeats", type=int, default=3)
    parser.add_argument("--pool-renders", type=int, default=2000)
    parser.add_argument("--sections", default="chart,svg,table,pool", help="comma-separated subset to run")
    args = parser.parse_args()
    sections = set(args.sections.split(","))

    examples = bundled_examples()
    charts = [e.source for e in examples if e.task == "chart"]
    tables = [e.source for e in examples if e.task == "table"]
    print(f"machine: {os.cpu_count()} cores; {len(charts)} chart programs, {len(tables)} tables; {load()}")

    with Renderer() as renderer:
        def sandboxed(source: str) -> None:
            res = renderer.render("chart", source)
            assert res.ok, res.message

        def reused_table(source: str) -> None:
            res = renderer.render("table", source)
            assert res.ok, res.message

        def sandboxed_svg(source: str) -> None:
            res = renderer.render("svg", source)
            assert res.ok, res.message

        ratios = []
        print(f"user: uid {os.getuid()}")
        if "chart" in sections:
            c_cold = rate(cold_subprocess_chart, charts, max(1, args.repeats // 2))
            c_ours, c_b2b, c_inproc = interleaved_rates([sandboxed, sandboxed, in_process_chart], charts,
                                                        args.repeats)
            print(f"chart (a) cold subprocess   {c_cold:6.2f} renders/s")
            print(f"chart (b) sandboxed fork     {c_ours:6.2f} renders/s  (layers: "
                  f"{renderer.render('chart', charts[0]).meta.get('layers')})")
            print(f"chart (b2) same, back to back{c_b2b:6.2f} renders/s")
            print(f"chart (c) in-process exec    {c_inproc:6.2f} renders/s")
            print(f"chart (b) phases (ms, median): {phases(renderer, charts)}")
            ratios += [("chart sandboxed/cold-subprocess", c_ours / c_cold),
                       ("chart sandboxed/in-process", c_ours / c_inproc),
                       ("chart sandboxed back-to-back/in-process", c_b2b / c_inproc)]
        if "svg" in sections:
            svgs = icons()
            s_ours, s_bare = interleaved_rates([sandboxed_svg, bare_cairosvg], svgs, max(1, args.repeats // 4))
            print(f"svg bare cairosvg            {s_bare:6.2f} renders/s")
            print(f"svg sandboxed SVG child      {s_ours:6.2f} renders/s  (layers: "
                  f"{renderer.render('svg', svgs[0]).meta.get('layers')})")
            ratios.append(("svg sandboxed/bare-cairosvg", s_ours / s_bare))
        if "table" in sections:
            t_cli = rate(chromium_cli_table, tables, args.table_repeats)
            t_fresh = rate(fresh_browser_table, tables, args.table_repeats)
            t_ours = rate(reused_table, tables, args.repeats * 2)
            print(f"table chromium CLI per table {t_cli:6.2f} renders/s")
            print(f"table fresh browser per table{t_fresh:6.2f} renders/s")
            print(f"table reused browser (ours)  {t_ours:6.2f} renders/s")
            ratios += [("table reused-browser/chromium-CLI", t_ours / t_cli),
                       ("table reused-browser/fresh-browser", t_ours / t_fresh)]

    if "pool" in sections and args.pool_renders:
        mixed = [(e.task, e.source) for e in examples]
        early, late, peak = pool_memory(args.pool_renders, mixed)
        print(f"pool peak RSS over {args.pool_renders} renders: {peak:.0f} MB (first fifth {early:.0f} MB, "
              f"last fifth {late:.0f} MB, growth {late - early:+.0f} MB)")
    for name, value in ratios:
        print(f"ratio {name}: {value:.2f}x")
    print(f"end: {load()}")


if __name__ == "__main__":
    main()
