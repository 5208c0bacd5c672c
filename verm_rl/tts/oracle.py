"""An oracle policy server for exercising the TTS loop without a GPU policy.

It knows each input's reference program and serves an OpenAI-compatible chat endpoint. Its draft is
the reference with ``n_errors`` injected errors (``verm_rl.data.inject``, one kind after another);
each revision request gets the program with the most recent injection undone, i.e. one error fewer,
until the reference itself. ``mode="worsen"`` walks the other way (one more error per round, then a
program that does not render): the loop must then keep the draft as its best round.

The input is recognised by its image (the bytes the policy backend sends), the current step by the
program in the assistant turn. For tests and demos only: a policy that knows the answer.

    python -m verm_rl.tts.oracle --inputs data.jsonl --port 8100 --errors 3
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import time
import uuid
from typing import Any

from verm_rl.data.inject import inject, perturbations_for
from verm_rl.policy import decode_data_url
from verm_rl.tasks import extract_code, get_task
from verm_rl.tts.feedback import fenced
from verm_rl.tts.inputs import TTSInput, read_inputs

log = logging.getLogger(__name__)


def error_chain(task: str, source: str, n_errors: int, seed: int = 0) -> list[str]:
    """[program with n errors, …, with 1 error, reference]: each step undoes the latest injection.
    Fewer steps when fewer perturbation kinds apply."""
    chain = [source]
    used: list[str] = []
    for step in range(n_errors):
        kinds = [k for k in perturbations_for(task) if k not in used]
        perturbed = None
        for kind in kinds:
            found = inject(task, chain[0], k=1, seed=seed + step, kinds=[kind])
            if found:
                perturbed = found[0].source
                used.append(kind)
                break
        if perturbed is None:
            break
        chain.insert(0, perturbed)
    return chain


def _norm(code: str | None) -> str:
    return "\n".join(line.rstrip() for line in (code or "").strip().splitlines())


class Oracle:
    def __init__(self, items: list[TTSInput], n_errors: int = 3, mode: str = "fix", seed: int = 0):
        if mode not in ("fix", "worsen"):
            raise ValueError("mode: fix or worsen")
        self.mode = mode
        self.chains: dict[str, tuple[str, list[str], list[str]]] = {}
        for item in items:
            if not item.reference_source:
                continue
            chain = error_chain(item.task, item.reference_source, n_errors, seed)
            if mode == "worsen":
                chain = list(reversed(chain))[1:] + [get_task(item.task).broken_program]  # 1 error, 2 errors, …, broken
            seen = [_norm(extract_code(item.task, self.reply(item.task, code))) for code in chain]
            self.chains[hashlib.sha256(item.image).hexdigest()] = (item.task, chain, seen)
        self.requests = 0

    def answer(self, messages: list[dict[str, Any]]) -> str:
        self.requests += 1
        image = next((p["image_url"]["url"] for m in messages if isinstance(m.get("content"), list)
                      for p in m["content"] if p.get("type") == "image_url"), None)
        if image is None:
            return "I need an image."
        key = hashlib.sha256(decode_data_url(image)).hexdigest()
        if key not in self.chains:
            return "I do not know this image."
        task, chain, seen = self.chains[key]
        drafts = [m["content"] for m in messages if m.get("role") == "assistant" and isinstance(m.get("content"), str)]
        step = 0
        if drafts:
            previous = _norm(extract_code(task, drafts[-1]))
            step = min(seen.index(previous) + 1, len(chain) - 1) if previous in seen else 0
        return self.reply(task, chain[step])

    @staticmethod
    def reply(task: str, code: str) -> str:
        return fenced(task, code)


def create_app(oracle: Oracle):
    from fastapi import FastAPI

    app = FastAPI(title="verm-rl oracle policy")

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": "oracle", "object": "model"}]}

    @app.post("/v1/chat/completions")
    async def chat(body: dict[str, Any]) -> dict[str, Any]:
        text = oracle.answer(body.get("messages") or [])
        return {"id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion", "created": int(time.time()),
                "model": "oracle",
                "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}]}

    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", required=True)
    parser.add_argument("--task")
    parser.add_argument("--errors", type=int, default=3)
    parser.add_argument("--mode", default="fix", choices=["fix", "worsen"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    args = parser.parse_args(argv)
    import uvicorn

    items, _ = read_inputs(args.inputs, args.task)
    uvicorn.run(create_app(Oracle(items, args.errors, args.mode)), host=args.host, port=args.port,
                log_level="warning")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
