"""ChartMimic high-level score (evaluation.md §2.5): an OpenAI-compatible vision judge (the paper's
harness: ``gpt-4o-2024-05-13``, temperature 0, max_tokens 1024) rates the generated chart against the
reference on 100 points — chart types 20, layout 10, text content 20 (tick labels excluded), data trends
and group counts 20, style (colours, markers, legends, grids) 20, clarity/overlap 10 — ending with
``Score: N``. Message order as VLMEvalKit: reference image, generated image, then the instruction.

Score extraction: the first line that starts with ``Score: N`` (``/100`` and markdown emphasis allowed),
else the last ``Score: N`` anywhere, else 0. The reply is kept in the item's details.
"""

from __future__ import annotations

import re
from typing import Any

JUDGE_PROMPT = (
    "You are an expert judge of scientific charts. The first image is the reference chart; the second was "
    "produced by an AI model's matplotlib code that tried to reproduce it. Compare the second with the first "
    "and rate the similarity out of 100 points: chart types (20 points), layout and subplot arrangement "
    "(10 points), text content such as titles, axis labels, legends and annotations but not tick labels "
    "(20 points), data trends and the number of data groups (20 points), style such as colours, markers, "
    "line styles, legends and grids (20 points), and clarity without overlapping elements (10 points). "
    "Explain briefly, then finish with a final line in exactly this form: Score: N")

_LINE_START = re.compile(r"^[\s>*_#-]*score[\s*_]*:[\s*_]*(\d+(?:\.\d+)?)(?:\s*/\s*100)?", re.I | re.M)
_ANYWHERE = re.compile(r"score[\s*_]*:[\s*_]*(\d+(?:\.\d+)?)", re.I)


def parse_score(reply: str | None) -> float:
    if not reply:
        return 0.0
    m = _LINE_START.search(reply)
    if m is None:
        found = _ANYWHERE.findall(reply)
        if not found:
            return 0.0
        value = float(found[-1])
    else:
        value = float(m.group(1))
    return max(0.0, min(100.0, value))


class ChartJudge:
    """Rates (reference PNG, generated PNG) pairs through an OpenAI-compatible endpoint."""

    def __init__(self, endpoint: str, model: str | None = None, api_key: str | None = None,
                 max_concurrency: int = 16, timeout_s: float = 300.0, retries: int = 3):
        from verm_rl.policy import HttpPolicy

        self.client = HttpPolicy(endpoint, model=model, api_key=api_key, max_concurrency=max_concurrency,
                                 timeout_s=timeout_s, retries=retries)

    async def rate(self, reference_png: bytes, generated_png: bytes) -> tuple[float, str]:
        from verm_rl.policy import PolicyRequest

        request = PolicyRequest([reference_png, generated_png], [{"role": "user", "content": [
            {"type": "image"}, {"type": "image"}, {"type": "text", "text": JUDGE_PROMPT}]}],
            max_tokens=1024, temperature=0.0)
        [reply] = await self.client.generate([request])
        return parse_score(reply), reply

    def stats(self) -> dict[str, Any]:
        s = self.client.stats
        return {"requests": s.requests, "failures": s.failures, "last_error": s.last_error}

    async def close(self) -> None:
        await self.client.close()
