"""Judge over OpenAI-compatible chat-completions endpoints (``vllm serve``, ``verm-rl serve-judge``,
verl's reward-model router), with least-outstanding-requests balancing over several endpoints,
a concurrency limit, timeouts and retries with exponential backoff."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import random
import socket
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from verm_rl.judge.base import JudgeBackend, JudgeRequest, SamplingParams, resample_on_parse_failure
from verm_rl.judge.parse import parse_timed_async
from verm_rl.judge.profiles import JudgeInputs, judge_inputs
from verm_rl.judge.prompts import openai_messages
from verm_rl.judge.schema import Judgement, failed_judgement

log = logging.getLogger(__name__)
RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
MAX_RESPONSE_BYTES = 16 << 20  # a judge answer is max_tokens tokens: far more is a runaway server or proxy
MAX_RETRY_AFTER_S = 60.0
MAX_COOLDOWN_S = 10.0


class JudgeResponseError(ValueError):
    """A response that is no chat completion (not JSON, no choices, too large): not retried."""


def _snippet(data: bytes, n: int = 300) -> str:
    return data[:n].decode("utf-8", "replace").strip()


def _retry_after(resp: httpx.Response) -> float | None:
    """Seconds a 429/503 asks to wait (``Retry-After`` as seconds or an HTTP-date)."""
    value = resp.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _answer(data: bytes) -> tuple[str, str, str | None]:
    """(content, reasoning, finish_reason) of a chat completion; the reasoning is what vLLM's reasoning
    parsers return beside (or, when ``</think>`` never came, instead of) the content."""
    try:
        obj = json.loads(data)
    except ValueError:
        raise JudgeResponseError(f"response is not JSON: {_snippet(data)!r}") from None
    try:
        choice = obj["choices"][0]
        message = choice["message"]
        content = message.get("content") or ""
        reasoning = message.get("reasoning_content") or message.get("reasoning") or ""
    except (KeyError, IndexError, TypeError, AttributeError):
        raise JudgeResponseError(f"response has no choices[0].message: {_snippet(data)!r}") from None
    for name, value in (("content", content), ("reasoning", reasoning)):
        if not isinstance(value, str):
            raise JudgeResponseError(f"message {name} is {type(value).__name__}, not text")
    return content, reasoning, choice.get("finish_reason")


@dataclass
class HttpJudgeConfig:
    """Settings of the ``http`` judge backend (judge=http in Hydra)."""

    endpoints: list[str] = field(default_factory=lambda: ["http://127.0.0.1:8000"])  # base URLs
    model: str = "reward_service"  # the served model name
    api_key: str | None = None
    max_concurrency: int = 64  # requests in flight over all endpoints
    timeout_s: float = 300.0  # per request
    connect_timeout_s: float = 5.0
    retries: int = 3  # extra attempts after the first, on connection errors, timeouts and 5xx/429
    backoff_s: float = 0.5  # first backoff; doubles each retry, with jitter
    # What each task's call carries: ``inputs`` when given (built from the config by
    # ``judge_inputs_from_config``), else the ``profile`` with the non-null overrides below.
    inputs: JudgeInputs | None = None
    profile: str = "released"  # released | greedy | legacy (verm_rl.judge.profiles)
    sampling: SamplingParams | None = None  # one SamplingParams for every task, replacing the profile's
    prompts: dict[str, str] | str | None = None  # a directory with <task>.txt, or task -> prompt file
    max_image_side: int | None = None
    image_format: str | None = None  # png | jpeg
    on_parse_failure: str | None = None  # keep | resample (null: the profile's)

    def resolved_inputs(self) -> JudgeInputs:
        if self.inputs is not None:
            return self.inputs
        return judge_inputs(self.profile, sampling=self.sampling, prompts=self.prompts,
                            on_parse_failure=self.on_parse_failure, max_image_side=self.max_image_side,
                            image_format=self.image_format)


def _base_url(endpoint: str) -> str:
    endpoint = endpoint.strip().rstrip("/")
    if not endpoint.lower().startswith(("http://", "https://")):
        endpoint = "http://" + endpoint
    return endpoint.removesuffix("/v1/chat/completions").removesuffix("/v1")


def _is_loopback_host(host: str, resolve: bool) -> bool:
    host = host.strip("[]").lower()
    if host in ("localhost", "localhost.localdomain", "ip6-localhost"):
        return True
    try:
        ip = ipaddress.ip_address(host)
        return ip.is_loopback or ip.is_unspecified
    except ValueError:
        pass
    if not resolve:
        return False
    try:  # a name that resolves to this machine only (Debian maps the hostname to 127.0.1.1)
        addrs = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError:
        return False
    return bool(addrs) and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addrs)


def loopback_endpoints(endpoints: list[str], resolve: bool = True) -> list[str]:
    """The endpoints that only this machine can reach (127.0.0.0/8, ::1, 0.0.0.0, localhost, or a name that
    resolves only to loopback): on a multi-node cluster a reward worker on another node cannot reach them."""
    out = []
    for endpoint in endpoints:
        host = httpx.URL(_base_url(endpoint)).host
        if host and _is_loopback_host(host, resolve):
            out.append(endpoint)
    return out


class HttpJudge(JudgeBackend):
    name = "http"

    def __init__(self, config: HttpJudgeConfig | None = None, **overrides: Any):
        cfg = config or HttpJudgeConfig(**overrides)
        if not cfg.endpoints:
            raise ValueError("http judge needs at least one endpoint")
        self.cfg = cfg
        self.inputs = cfg.resolved_inputs()
        self.urls = [_base_url(e) + "/v1/chat/completions" for e in cfg.endpoints]
        self.outstanding = [0] * len(self.urls)
        self.failures = [0] * len(self.urls)
        self.cooldown_until = [0.0] * len(self.urls)  # an endpoint that just failed is tried last until then
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sem: asyncio.Semaphore | None = None

    def _ensure_client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            timeout = httpx.Timeout(self.cfg.timeout_s, connect=self.cfg.connect_timeout_s)
            limits = httpx.Limits(max_connections=self.cfg.max_concurrency,
                                  max_keepalive_connections=self.cfg.max_concurrency)
            headers = {"Authorization": f"Bearer {self.cfg.api_key}"} if self.cfg.api_key else {}
            self._client = httpx.AsyncClient(timeout=timeout, limits=limits, headers=headers, follow_redirects=True)
            self._loop = loop
            self._sem = asyncio.Semaphore(self.cfg.max_concurrency)
        return self._client

    def payload(self, request: JudgeRequest) -> dict[str, Any]:
        settings = self.inputs.for_task(request.task)
        s = settings.sampling
        body: dict[str, Any] = {
            "model": self.cfg.model,
            "messages": openai_messages(request.reference_png, request.candidate_png,
                                        self.inputs.prompt(request.task), settings),
            "temperature": s.temperature, "top_p": s.top_p, "max_tokens": s.max_tokens,
        }
        if s.top_k > 0:
            body["top_k"] = s.top_k
        if s.repetition_penalty != 1.0:
            body["repetition_penalty"] = s.repetition_penalty
        if s.presence_penalty:
            body["presence_penalty"] = s.presence_penalty
        if s.seed is not None:
            body["seed"] = s.seed
        return body

    def _pick(self, avoid: int | None) -> int:
        now = time.monotonic()

        def key(i: int) -> tuple:
            cooling = self.cooldown_until[i] > now  # a dead endpoint refuses at once: never outstanding
            return (cooling, self.cooldown_until[i] if cooling else 0.0, self.outstanding[i], self.failures[i],
                    random.random())

        order = sorted(range(len(self.urls)), key=key)
        if avoid is not None and len(order) > 1 and order[0] == avoid:
            return order[1]
        return order[0]

    async def _read(self, client: httpx.AsyncClient, url: str, body: dict[str, Any]) -> tuple[httpx.Response, bytes]:
        async with client.stream("POST", url, json=body) as resp:
            data = bytearray()
            async for chunk in resp.aiter_bytes():
                data += chunk
                if len(data) > MAX_RESPONSE_BYTES:
                    raise JudgeResponseError(f"response too large: over {MAX_RESPONSE_BYTES >> 20} MiB")
            return resp, bytes(data)

    async def _post(self, body: dict[str, Any]) -> str:
        """POST with retries on another endpoint each time; the answer's text, or raises the last error."""
        return (await self._complete(body))[0]

    async def _complete(self, body: dict[str, Any]) -> tuple[str, str, str | None]:
        """``_post`` with the answer's reasoning and ``finish_reason``."""
        client = self._ensure_client()
        last: Exception | None = None
        previous = None
        for attempt in range(self.cfg.retries + 1):
            i = self._pick(previous)
            self.outstanding[i] += 1
            wait = None
            try:
                try:  # timeout_s bounds the whole exchange: httpx's read timeout is per chunk (a dripping body)
                    resp, data = await asyncio.wait_for(self._read(client, self.urls[i], body), self.cfg.timeout_s)
                except asyncio.TimeoutError:
                    raise httpx.TimeoutException(f"no complete response within timeout_s={self.cfg.timeout_s}") \
                        from None
                if not resp.is_success:
                    wait = _retry_after(resp)
                    raise httpx.HTTPStatusError(f"HTTP {resp.status_code} {resp.reason_phrase}: {_snippet(data)}",
                                                request=resp.request, response=resp)
                self.failures[i] = 0
                return _answer(data)
            except (httpx.TransportError, httpx.TimeoutException, httpx.HTTPStatusError) as e:
                last = e
                status = getattr(getattr(e, "response", None), "status_code", None)
                if status is not None and status not in RETRY_STATUS:
                    break  # the request's fault, not the endpoint's
                self.failures[i] += 1
                self.cooldown_until[i] = time.monotonic() + min(
                    self.cfg.backoff_s * 2 ** min(self.failures[i], 16), MAX_COOLDOWN_S)
                previous = i
                if attempt < self.cfg.retries:
                    backoff = self.cfg.backoff_s * (2**attempt) * (0.5 + random.random())
                    if wait is not None:
                        backoff = max(backoff, min(wait, MAX_RETRY_AFTER_S, self.cfg.timeout_s))
                    await asyncio.sleep(backoff)
            finally:
                self.outstanding[i] -= 1
        raise last or RuntimeError("no attempt made")

    async def _judge_one(self, request: JudgeRequest) -> Judgement:
        try:
            body = await asyncio.to_thread(self.payload, request)  # image encoding off the event loop
        except Exception as e:  # an undecodable image, an unreadable prompt file
            return failed_judgement(request.task, "judge_failed", f"bad input: {type(e).__name__}: {e}")
        attempts = self.inputs.for_task(request.task).parse_attempts
        made = [0]

        def attempt():  # a fixed seed would repeat the failed answer: shift it per attempt
            made[0] += 1
            again = body if made[0] == 1 or "seed" not in body else {**body, "seed": body["seed"] + made[0] - 1}
            return self._call(request, again)

        return await resample_on_parse_failure(attempt, attempts)

    async def _call(self, request: JudgeRequest, body: dict[str, Any]) -> Judgement:
        start = time.monotonic()
        async with self._sem:
            try:
                text, reasoning, finish = await self._complete(body)
            except Exception as e:  # noqa: BLE001 - unreachable, timeouts, bad responses
                log.warning("judge request failed: %s: %s", type(e).__name__, e)
                return failed_judgement(request.task, "judge_failed", f"{type(e).__name__}: {e}",
                                        time.monotonic() - start)
        # content null, the verdict left in the reasoning (vLLM reasoning parser, </think> never came)
        judgement = await parse_timed_async(request.task, text or reasoning, start)
        if finish == "length":  # cut at max_tokens: why a parse failed
            judgement.notes.append("finish_reason:length")
        return judgement

    async def judge(self, requests: list[JudgeRequest]) -> list[Judgement]:
        self._ensure_client()
        return list(await asyncio.gather(*(self._judge_one(r) for r in requests)))

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def verl_rm_judge(reward_router_address: str, model: str, **overrides: Any) -> HttpJudge:
    """The ``verl_rm`` backend: the http judge pointed at the router verl hands the reward manager."""
    return HttpJudge(HttpJudgeConfig(endpoints=[reward_router_address], model=model, **overrides))
