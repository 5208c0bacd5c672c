"""Reward throughput: our pipeline vs the upstream pattern, same inputs, same judge server, same run.

    .venv/bin/python benchmarks/reward_pipeline.py [--samples 36] [--max-tokens 32]

Upstream (the released Visual-ERM reward code, run by verl's prime manager in a process pool):
per sample, a cold render (a fresh `python script.py` for charts, a fresh process for cairosvg, a
Chromium command-line screenshot for tables), then one blocking chat-completions call. Here the
pool has as many workers as cores. Ours: ``RewardPipeline`` = Ray render pool (warm sandboxed
workers) → de-duplication → concurrent judge requests that the server batches → reward.
Both talk to the same ``serve-judge`` server running the tiny Qwen3-VL on CPU (no weights here),
so the judge costs the same per call; the ratio is printed last.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

from verm_rl.examples import bundled_examples  # noqa: E402
from verm_rl.judge import JudgeRequest, SamplingParams, parse_judgement  # noqa: E402
from verm_rl.judge.http import HttpJudge  # noqa: E402
from verm_rl.render.images import crop_to_content  # noqa: E402
from verm_rl.render.table import CHROMIUM_ARGS, find_chromium, table_to_html  # noqa: E402
from verm_rl.tasks import get_task  # noqa: E402


def make_samples(n: int) -> list[tuple[str, str]]:
    """n unique (task, response) pairs, cycling through the bundled examples with small edits."""
    examples = bundled_examples()
    out = []
    for i in range(n):
        ex = examples[i % len(examples)]
        if ex.task == "chart":
            src = ex.source + f"\nplt.gcf().text(0.01, 0.01, 'sample {i}', fontsize=6)\n"
        elif ex.task == "svg":
            src = ex.source.replace("</svg>", f'<circle cx="{5 + i % 50}" cy="5" r="2" fill="#123"/></svg>')
        else:
            src = ex.source.replace("</table>", f"<tr><td>extra {i}</td></tr></table>") if "<table" in ex.source \
                else ex.source + f"\n| extra {i} | | | |"
        out.append((ex.task, f"```{get_task(ex.task).fence}\n{src}\n```", ex.name))
    return out


# ---- upstream-style renders -------------------------------------------------------------------

def cold_chart(code: str) -> bytes | None:
    with tempfile.TemporaryDirectory() as tmp:
        out = f"{tmp}/out.png"
        Path(tmp, "s.py").write_text(code + f"\nimport matplotlib.pyplot as plt\nplt.savefig({out!r})\n")
        r = subprocess.run([sys.executable, "s.py"], cwd=tmp, timeout=15, capture_output=True,
                           env=dict(os.environ, MPLBACKEND="Agg"))
        return Path(out).read_bytes() if r.returncode == 0 and Path(out).exists() else None


def _svg_child(code: str, conn) -> None:
    import cairosvg

    conn.send(cairosvg.svg2png(bytestring=code.encode(), output_width=336, output_height=336,
                               background_color="white"))


def cold_svg(code: str) -> bytes | None:
    parent, child = mp.Pipe()
    proc = mp.get_context("spawn").Process(target=_svg_child, args=(code, child))
    proc.start()
    data = parent.recv() if parent.poll(10) else None
    proc.join(10)
    return data


def cold_table(code: str) -> bytes | None:
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "t.html").write_text(table_to_html(code))
        subprocess.run([find_chromium(), *CHROMIUM_ARGS, f"--user-data-dir={tmp}/p", f"--screenshot={tmp}/o.png",
                        "--window-size=1600,1200", Path(tmp, "t.html").as_uri()], timeout=60, capture_output=True)
        png = Path(tmp, "o.png")
        return crop_to_content(png.read_bytes()) if png.exists() else None


def upstream_score(task: str, response: str, ref_png: bytes, url: str, max_tokens: int) -> float:
    from verm_rl.tasks import extract_code

    code = extract_code(task, response)
    png = {"chart": cold_chart, "svg": cold_svg, "table": cold_table}[task](code) if code else None
    if png is None:
        return 0.0
    body = HttpJudge(endpoints=[url], sampling=SamplingParams(max_tokens=max_tokens)).payload(
        JudgeRequest(task, ref_png, png))
    text = httpx.post(url + "/v1/chat/completions", json=body, timeout=300).json()["choices"][0]["message"]["content"]
    j = parse_judgement(task, text)
    return 1.0 + (max(0.0, 1 - j.total_severity / 50) if j.parse_ok else 0.5)


def start_judge_server(model_path: str) -> str:
    import uvicorn

    from verm_rl.judge.server import create_app

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(model_path, engine="transformers", max_batch_size=32),
                                           log_level="error", lifespan="off"))
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{sock.getsockname()[1]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=36)
    parser.add_argument("--max-tokens", type=int, default=32)
    args = parser.parse_args()

    import ray

    from reward_workers import RenderPool
    from verm_rl.reward import RewardPipeline, ScoreItem
    from verm_rl.testing.tiny_vlm import build_tiny_qwen3_vl

    cores = os.cpu_count() or 2
    model = build_tiny_qwen3_vl(tempfile.mkdtemp(prefix="tiny_judge_"))
    url = start_judge_server(str(model))
    ray.init(num_cpus=cores, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    pool = RenderPool(name="bench_reward_pool", size=cores)
    refs = {ex.name: pool.render_sync(ex.task, ex.source).png for ex in bundled_examples()}
    samples = make_samples(args.samples)
    print(f"{len(samples)} samples ({', '.join(sorted({t for t, _, _ in samples}))}), {cores} cores, "
          f"tiny judge max_tokens={args.max_tokens}")

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=cores) as ex:
        up = list(ex.map(lambda s: upstream_score(s[0], s[1], refs[s[2]], url, args.max_tokens), samples))
    t_up = time.perf_counter() - start
    print(f"upstream pattern: {len(samples) / t_up:6.2f} samples/s ({t_up:.1f} s)")

    judge = HttpJudge(endpoints=[url], sampling=SamplingParams(max_tokens=args.max_tokens))
    pipe = RewardPipeline(pool, judge)
    items = [ScoreItem(t, r, reference_png=refs[name]) for t, r, name in samples]
    start = time.perf_counter()
    result = asyncio.run(pipe.score(items))
    t_ours = time.perf_counter() - start
    print(f"our pipeline:     {len(samples) / t_ours:6.2f} samples/s ({t_ours:.1f} s); render rate "
          f"{result.metrics['verm/all/render_rate']:.2f}, "
          f"judge p50 {result.metrics['verm/all/judge_latency/p50']:.2f} s")
    assert len(up) == len(result.samples)
    pool.shutdown()
    ray.shutdown()
    print(f"ratio pipeline/upstream: {t_up / t_ours:.2f}x")


if __name__ == "__main__":
    main()
