"""Small benchmark folders in each benchmark's own layout, and a scripted policy keyed by image colour."""

from __future__ import annotations

import io
import json
from pathlib import Path

from PIL import Image


def png(color, size=(40, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def pixel(data: bytes, centre: bool = False) -> tuple[int, int, int]:
    with Image.open(io.BytesIO(data)) as im:
        return im.convert("RGB").getpixel((im.width // 2, im.height // 2) if centre else (1, 1))


def answer_by_colour(answers: dict[tuple[int, int, int], str], centre: bool = False):
    """A scripted-server callable: the answer for the colour of the request's (first) image, read at
    its corner pixel (or its centre)."""
    from verm_rl.policy import decode_data_url

    def answer(body: dict) -> tuple[int, str]:
        for part in body["messages"][-1]["content"]:
            if isinstance(part, dict) and part.get("type") == "image_url":
                return 200, answers.get(pixel(decode_data_url(part["image_url"]["url"]), centre), "")
        return 200, ""

    return answer


TABLE = "<table><tr><td>a</td><td>b</td></tr><tr><td>1</td><td>2</td></tr></table>"
ODB_COLOURS = [(250, 0, 0), (0, 250, 0), (0, 0, 250)]


def make_omnidocbench(root: Path) -> Path:
    """Two pages, three tables (two on page one), each box filled with its own colour."""
    (root / "images").mkdir(parents=True)
    boxes = {"p1.png": [(10, 10, 60, 40), (70, 10, 120, 40)], "p2.png": [(5, 5, 50, 50)]}
    pages, k = [], 0
    for name, rects in boxes.items():
        im = Image.new("RGB", (130, 60), "white")
        dets = []
        for j, (x0, y0, x1, y1) in enumerate(rects):
            im.paste(ODB_COLOURS[k], (x0, y0, x1, y1))
            html = TABLE.replace("<table>", "<table><thead>").replace("<td>a</td><td>b</td></tr>",
                                                                     "<th>a</th><th>b</th></tr></thead><tbody>")
            html = html.replace("</table>", "</tbody></table>")
            dets.append({"category_type": "table", "anno_id": j, "poly": [x0, y0, x1, y0, x1, y1, x0, y1],
                         "html": html})
            k += 1
        dets.append({"category_type": "text_block", "poly": [0, 0, 5, 0, 5, 5, 0, 5], "text": "x"})
        im.save(root / "images" / name)
        language = "english" if name == "p1.png" else "simplified_chinese"
        pages.append({"layout_dets": dets, "page_info": {"image_path": name, "page_attribute": {"language": language}}})
    (root / "OmniDocBench.json").write_text(json.dumps(pages))
    return root


def answer_by_image(answers: dict[bytes, str], default: str = ""):
    """A scripted-server callable: the answer for the exact bytes of the request's first image."""
    from verm_rl.policy import decode_data_url

    def answer(body: dict) -> tuple[int, str]:
        for part in body["messages"][-1]["content"]:
            if isinstance(part, dict) and part.get("type") == "image_url":
                return 200, answers.get(decode_data_url(part["image_url"]["url"]), default)
        return 200, default

    return answer


def render_script_png(code: str, path: Path) -> bytes:
    """Run a matplotlib script in-process (test data only) and save its figure as the input PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.close("all")
    exec(compile(code.split("plt.savefig(")[0], str(path), "exec"), {"__name__": "__main__"})
    plt.gcf().savefig(path, dpi=40)
    plt.close("all")
    return path.read_bytes()
