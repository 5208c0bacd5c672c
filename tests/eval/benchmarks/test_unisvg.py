"""UniSVG ISVGEN: extraction/repair, SSIM worked numbers and its pitfalls (colour, size), the composite
score against the paper's rows, LPIPS/CLIP on tiny random weights (code path only), end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from tests.eval.benchmarks.fixtures import answer_by_colour
from verm_rl.eval.benchmarks import svg_metrics as sm
from verm_rl.eval.benchmarks.runner import EvalConfig, evaluate

C1 = (0.01 * 255) ** 2


def arr(color, size=(16, 16)) -> np.ndarray:
    return np.asarray(Image.new("RGB", size, color), dtype=np.uint8)


def test_extraction_and_official_repair():
    full = '<svg xmlns="http://www.w3.org/2000/svg"><rect width="5" height="5"/></svg>'
    assert sm.extract_svg(f"Here:\n```svg\n{full}\n```\n<svg>second</svg>") == full
    cut = '<svg xmlns="http://www.w3.org/2000/svg"><rect width="5" height="5"/><g><circle r="2'
    # partial tag dropped; every opened tag name without a closing tag is closed, self-closing ones too
    assert sm.extract_svg(cut) == cut[: cut.index("<circle")] + "</g></rect></svg>"
    assert sm.extract_svg("no svg here") == sm.EMPTY_SVG and sm.extract_svg(None) == sm.EMPTY_SVG


def test_ssim_worked_numbers_and_pitfalls():
    assert sm.ssim(arr("white"), arr("white")) == pytest.approx(1.0)
    # constant images: per window SSIM = C1 / (255² + C1)
    assert sm.ssim(arr("white"), arr("black")) == pytest.approx(C1 / (255**2 + C1))
    # colour: only the blue channel differs -> mean over channels (1 + 1 + C1/(255²+C1)) / 3, not grayscale
    assert sm.ssim(arr((255, 255, 255)), arr((255, 255, 0))) == pytest.approx((2 + C1 / (255**2 + C1)) / 3)
    with pytest.raises(ValueError):  # no resizing: the official scores a size mismatch 0/1/0
        sm.ssim(arr("white", (336, 336)), arr("white", (300, 336)))
    assert sm.ssim(arr("white", (5, 5)), arr("white", (5, 5))) == pytest.approx(1.0)  # window shrinks to 5


def test_composite_matches_the_papers_rows():
    assert 100 * sm.composite_score(0.609, 0.600, 0.733) == pytest.approx(64.16)
    assert 100 * sm.composite_score(0.811, 0.192, 0.925) == pytest.approx(87.88)


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    """Random AlexNet weights for LPIPS and a tiny random CLIP: they prove the code path, not quality."""
    import torch
    import torchvision
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    root = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    (root / "lpips").mkdir()
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), root / "lpips" / "alexnet.pth")
    config = CLIPConfig(text_config={"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
                                     "num_attention_heads": 2},
                        vision_config={"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
                                       "num_attention_heads": 2, "image_size": 32, "patch_size": 8},
                        projection_dim=8)
    CLIPModel(config).save_pretrained(root / "clip")
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(root / "clip")
    return root


@pytest.mark.slow
def test_lpips_and_clip_from_local_weights(tiny_weights, tmp_path):
    lp = sm.LpipsScorer(str(tiny_weights / "lpips"), "cpu")
    clip = sm.ClipScorer(str(tiny_weights / "clip"), "cpu")
    a, b = arr("white", (64, 64)), arr((0, 90, 200), (64, 64))
    assert lp(a, a) == pytest.approx(0.0, abs=1e-6) and lp(a, b) > 0
    assert clip(a, a) == pytest.approx(1.0, abs=1e-5) and -1.0 <= clip(a, b) <= 1.0
    with pytest.raises(FileNotFoundError):
        sm.LpipsScorer(str(tmp_path), "cpu")


SVGS = {
    "red": '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><rect x="2" y="2" width="6" height="6" '
           'fill="#ff0000"/></svg>',
    "blue": '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><circle cx="5" cy="5" r="4" '
            'fill="#0000ff"/></svg>',
    "green": '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><rect width="10" height="10" '
             'fill="#00ff00"/></svg>',
}


def make_unisvg(root):
    import cairosvg

    (root / "images").mkdir(parents=True)
    rows = []
    for name, svg in SVGS.items():
        cairosvg.svg2png(bytestring=svg.encode(), write_to=str(root / "images" / f"{name}.png"), output_width=336,
                         output_height=336, background_color="white")
        rows.append({"q_text": f"Draw {name} as SVG.", "image_path": f"{name}.png", "type": "ISVGEN", "a_text": svg})
    rows.append({"q_text": "What colour?", "image_path": "red.png", "type": "ISVGUN_color", "a_text": "red"})
    (root / "unisvg_test.json").write_text(json.dumps(rows))
    return root


@pytest.mark.slow
def test_end_to_end_with_weights(tmp_path, scripted_server, tiny_weights, render_pool):
    data = make_unisvg(tmp_path / "unisvg")
    answers = {(255, 0, 0): f"```svg\n{SVGS['red']}\n```", (0, 0, 255): "I cannot draw this.",
               (0, 255, 0): "<svg><rect width='3'></svg>"}  # mismatched tags: cairosvg cannot render
    server = scripted_server(answer_by_colour(answers, centre=True))  # the images are white at the corner
    cfg = EvalConfig("unisvg", data, tmp_path / "out", policy=server.url + "/v1", progress=False,
                     policy_options={"model": "m", "retries": 0},
                     benchmark_options={"lpips_path": str(tiny_weights / "lpips"),
                                        "clip_path": str(tiny_weights / "clip"), "device": "cpu"})
    summary = evaluate(cfg, render_pool=render_pool)
    assert summary["n_items"] == 3 and len(server.requests) == 3
    assert server.requests[0]["messages"][0]["content"][-1]["text"].startswith("Draw ")
    rows = {json.loads(x)["id"]: json.loads(x) for x in (tmp_path / "out" / "items.jsonl").read_text().splitlines()}
    assert rows["red.png"]["status"] == "ok" and rows["red.png"]["metrics"]["ssim"] == pytest.approx(1.0)
    assert rows["red.png"]["metrics"]["lpips"] == pytest.approx(0.0, abs=1e-6)
    assert rows["blue.png"]["status"] == "ok" and rows["blue.png"]["detail"]["extracted"] is False  # white image
    assert 0.0 < rows["blue.png"]["metrics"]["ssim"] < 1.0
    assert rows["green.png"]["status"] == "render_failed"
    assert rows["green.png"]["metrics"] == {"ssim": 0.0, "lpips": 1.0, "clip": 0.0}
    m = summary["metrics"]
    assert m["SSIM"] == pytest.approx(100 * (1 + rows["blue.png"]["metrics"]["ssim"]) / 3)
    assert m["Score"] == pytest.approx(100 * sm.composite_score(m["SSIM"] / 100, m["LPIPS"] / 100, m["CLIP"] / 100))


def test_without_weights_score_is_skipped_and_official_skips(tmp_path, render_pool):
    data = make_unisvg(tmp_path / "unisvg")
    preds = tmp_path / "p.jsonl"
    preds.write_text("\n".join(json.dumps({"id": f"{k}.png", "response": v}) for k, v in
                               {"red": SVGS["red"], "green": "<svg><rect></svg>"}.items()))
    cfg = EvalConfig("unisvg", data, tmp_path / "out", predictions=preds, progress=False, render_workers=1,
                     benchmark_options={"official_skips": True})
    m = evaluate(cfg, render_pool=render_pool)["metrics"]
    assert m["Score"] is None and m["LPIPS"] is None and "lpips-path" in m["note"]
    assert m["n_counted"] == 2 and m["n_skipped"] == 1  # blue: no prediction (counted 0); green skipped
    assert m["SSIM"] == pytest.approx(50.0)
