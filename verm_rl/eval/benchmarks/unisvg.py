"""UniSVG ISVGEN (image → SVG), evaluation.md §5: extract and render the SVG at 336 × 336 on white in our
sandbox, then SSIM / LPIPS / CLIP against the dataset's input image (``svg_metrics``) and the composite
Score = 0.2·SSIM + 0.2·(1 − LPIPS) + 0.6·CLIP.

Data: ``--data`` is the UniSVG test JSON (a list of ``{q_text, image_path, type, a_text}``) or a folder
holding exactly one such JSON; images are read from ``<folder>/<image_path>`` (else
``<folder>/images/<image_path>``). Only ``type == "ISVGEN"`` records are evaluated; the policy gets the
record's own ``q_text`` with the image.

LPIPS and CLIP need local weights (``lpips_path``, ``clip_path``); without them they are skipped and the
composite Score is not reported. Cases (official script → here): no prediction → SSIM 0, LPIPS 1, CLIP 0
(same); size mismatch → 0/1/0 (same, status ``size_mismatch``); an SVG cairosvg cannot render → the
official *skips* the sample, we count it as 0/1/0 (VLMEvalKit's choice) unless ``official_skips``.
"""

from __future__ import annotations

import asyncio
import json
from functools import partial
from pathlib import Path
from typing import Any

from verm_rl.eval.benchmarks import svg_metrics as sm
from verm_rl.eval.benchmarks.base import BenchItem, Benchmark, DataError, ScoreContext, mean, record

WORST = {"ssim": 0.0, "lpips": 1.0, "clip": 0.0}


def _read(path: Path) -> list[bytes]:
    if not path.exists():
        raise DataError(f"UniSVG image {path} does not exist")
    return [path.read_bytes()]


class UniSVG(Benchmark):
    name = "unisvg"
    task = "svg"
    headline = "ssim"

    def __init__(self, lpips_path: str | None = None, clip_path: str | None = None, device: str | None = None,
                 official_skips: bool = False, prompt_file: str | None = None):
        self.lpips = sm.LpipsScorer(lpips_path, device) if lpips_path else None
        self.clip = sm.ClipScorer(clip_path, device) if clip_path else None
        self.official_skips = official_skips
        self.prompt_override = Path(prompt_file).read_text().strip() if prompt_file else None

    def load(self, data: Path, limit: int | None = None) -> list[BenchItem]:
        data = Path(data)
        if data.is_dir():
            found = sorted(data.glob("*.json"))
            if len(found) != 1:
                raise DataError(f"{data}: expected exactly one UniSVG test JSON, found {[p.name for p in found]}")
            data = found[0]
        root = data.parent
        try:
            rows = json.loads(data.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise DataError(f"{data}: {e}") from None
        items = []
        for row in rows:
            if row.get("type") != "ISVGEN":
                continue
            image = row.get("image_path")
            if not image:
                raise DataError(f"{data}: an ISVGEN record without image_path")
            path = root / image if (root / image).exists() else root / "images" / image
            prompt = self.prompt_override or ("<image>" + str(row.get("q_text") or "Write SVG code for this image."))
            items.append(BenchItem(id=str(image), prompt=prompt, load_images=partial(_read, path),
                                   reference={"svg": row.get("a_text", "")}))
            if limit is not None and len(items) >= limit:
                break
        return items

    def _metrics(self, reference: Any, candidate: Any) -> dict[str, float]:
        out = {"ssim": sm.ssim(reference, candidate)}
        if self.lpips is not None:
            out["lpips"] = self.lpips(reference, candidate)
        if self.clip is not None:
            out["clip"] = self.clip(reference, candidate)
        return out

    def _worst(self) -> dict[str, float]:
        keys = ["ssim"] + (["lpips"] if self.lpips else []) + (["clip"] if self.clip else [])
        return {k: WORST[k] for k in keys}

    async def score(self, item: BenchItem, response: str | None, ctx: ScoreContext) -> dict[str, Any]:
        if not response:
            return record(item, "no_prediction", self._worst())
        svg = sm.extract_svg(response)
        result = await ctx.render_pool.render("svg", svg, svg_width=sm.SIZE, svg_height=sm.SIZE)
        if result.ok:
            png = result.png
        elif result.error_kind == "blank":
            png = sm.white_png()  # cairosvg drew nothing on the white background: score the white image
        else:
            why = f"{result.error_kind}: {result.message[:300]}"
            if self.official_skips:
                return record(item, "render_failed_skipped", {}, error=why)
            return record(item, "render_failed", self._worst(), error=why)
        render = ctx.save_render(item.id, png)
        reference = await asyncio.to_thread(sm.rgb_array, item.images()[0])
        candidate = sm.rgb_array(png)
        try:
            metrics = await asyncio.to_thread(self._metrics, reference, candidate)
        except ValueError as e:  # the official: a metric error scores (0, 1, 0) and counts
            return record(item, "size_mismatch" if "differ" in str(e) else "metric_error", self._worst(),
                          error=str(e), render=render)
        return record(item, "ok", metrics, render=render, extracted=svg != sm.EMPTY_SVG)

    def summarize(self, records: list[dict[str, Any]], n_items: int) -> dict[str, Any]:
        counted = [r["metrics"] for r in records if r["metrics"]]
        out: dict[str, Any] = {"n_counted": len(counted), "n_skipped": n_items - len(counted)}
        for key in ("ssim", "lpips", "clip"):
            values = [m[key] for m in counted if key in m]
            out[key.upper() if key != "clip" else "CLIP"] = 100 * mean(values) if values else None
        if out["LPIPS"] is not None and out["CLIP"] is not None:
            out["Score"] = 100 * sm.composite_score(out["SSIM"] / 100, out["LPIPS"] / 100, out["CLIP"] / 100)
        else:
            out["Score"] = None
            out["note"] = "LPIPS/CLIP skipped: pass --lpips-path and --clip-path for them and the Score"
        return out

    def close(self) -> None:
        self.lpips = self.clip = None
