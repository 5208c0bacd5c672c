import pytest

from verm_rl.tasks import extract_code


def test_chart_fenced_python_last_plotting_block():
    text = "Here:\n```python\nx = 1\n```\nand the chart:\n```python\nimport matplotlib.pyplot as plt\nplt.plot([1])\n```\n"
    assert extract_code("chart", text) == "import matplotlib.pyplot as plt\nplt.plot([1])"


def test_chart_unclosed_fence_counts_to_end():
    assert extract_code("chart", "```python\nimport matplotlib.pyplot as plt\nplt.bar([1],[2])") == (
        "import matplotlib.pyplot as plt\nplt.bar([1],[2])"
    )


def test_chart_bare_code_needs_matplotlib():
    assert extract_code("chart", "import matplotlib.pyplot as plt\nplt.plot([1])").startswith("import")
    assert extract_code("chart", "I cannot draw this chart.") is None
    assert extract_code("chart", "") is None


def test_svg_fence_and_bare():
    svg = '<svg xmlns="http://www.w3.org/2000/svg"><rect/></svg>'
    assert extract_code("svg", f"```svg\n{svg}\n```") == svg
    assert extract_code("svg", f"Sure! {svg} done") == svg
    assert extract_code("svg", f"```xml\n<?xml version='1.0'?>\n{svg}\n```") == svg
    assert extract_code("svg", "no markup here") is None


def test_table_html_markdown_and_pipe():
    html = "<table><tr><td>1</td></tr></table>"
    assert extract_code("table", f"```html\n{html}\n```") == html
    assert extract_code("table", f"The table is {html}.") == html
    md = "| a | b |\n|---|:-:|\n| 1 | 2 |"
    assert extract_code("table", f"```markdown\n{md}\n```") == md
    assert extract_code("table", f"Result:\n\n{md}\n\nThat is all.") == md
    assert extract_code("table", "just prose | with a bar") is None


def test_unknown_task_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown task"):
        extract_code("latex", "x")
