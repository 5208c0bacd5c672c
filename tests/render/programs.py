"""Small programs used across render tests."""

GOOD_CHART = """
import matplotlib.pyplot as plt
import numpy as np
fig, ax = plt.subplots(figsize=(5, 3))
x = np.arange(5)
ax.bar(x, [3, 1, 4, 1, 5], color="#d62728", label="values")
ax.plot(x, [2, 2, 3, 3, 4], "k--o", label="trend")
ax.set_title("Quarterly sales")
ax.set_xlabel("quarter")
ax.legend(loc="upper left")
plt.tight_layout()
plt.savefig("out.png", dpi=300, bbox_inches="tight")
plt.show()
"""

GOOD_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100">'
    '<rect x="10" y="10" width="80" height="50" fill="#36c"/>'
    '<circle cx="50" cy="75" r="15" fill="orange"/></svg>'
)

GOOD_TABLE_HTML = (
    "<table><tr><th>Name</th><th>Score</th></tr><tr><td>Ada</td><td>91</td></tr>"
    '<tr><td colspan="2">total 91</td></tr></table>'
)


def render_toy_bars(source: str, options, meta: dict) -> bytes:
    """A toy fourth task for the renderer registry: whitespace-separated numbers drawn as bars.
    Runs in the sandboxed child like a chart; "boom" raises (a typed ``runtime`` result)."""
    import io

    import matplotlib.pyplot as plt

    if source.strip() == "boom":
        raise ValueError("boom")
    values = [float(v) for v in source.split()]
    fig, ax = plt.subplots(figsize=(2, 1))
    ax.bar(range(len(values)), values)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=int(options.dpi))
    plt.close(fig)
    meta["bars"] = len(values)
    return buf.getvalue()
