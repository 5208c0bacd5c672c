"""Judge over OpenAI-compatible chat-completions endpoints (``vllm serve``, ``verm-rl serve-judge``,
verl's reward-model router), with least-outstanding-requests balancing over several endpoints,
a concurrency limit, timeouts and retries with exponential backoff."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from verm_rl.judge.base import JudgeBackend, JudgeRequest, SamplingParams, resample_on_parse_failure
from verm_rl.judge.parse import parse_timed_async
from verm_rl.judge.profiles import JudgeInputs, judge_inputs
from verm_rl.judge.prompts import openai_messages
from verm_rl.judge.schema import Judgement, failed_judgement

log = logging.getLogger(__name__)
RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


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
    if not endpoint.startswith(("http://", "https://")):
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
            self._client = httpx.AsyncClient(timeout=timeout, limits=limits, headers=headers)
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
        order = sorted(range(len(self.urls)), key=lambda i: (self.outstanding[i], self.failures[i], random.random()))
        if avoid is not None and len(order) > 1 and order[0] == avoid:
            return order[1]
        return order[0]

    async def _post(self, body: dict[str, Any]) -> str:
        """POST with retries on another endpoint each time; raises the last error."""
        client = self._ensure_client()
        last: Exception | None = None
        previous = None
        for attempt in range(self.cfg.retries + 1):
            i = self._pick(previous)
            self.outstanding[i] += 1
            try:
                resp = await client.post(self.urls[i], json=body)
                if resp.status_code in RETRY_STATUS:
                    raise httpx.HTTPStatusError(f"HTTP {resp.status_code}", request=resp.request, response=resp)
                resp.raise_for_status()
                self.failures[i] = 0
                return resp.json()["choices"][0]["message"]["content"] or ""
            except (httpx.TransportError, httpx.HTTPStatusError) as e:
                last = e
                self.failures[i] += 1
                status = getattr(getattr(e, "response", None), "status_code", None)
                if status is not None and status not in RETRY_STATUS:
                    break
                previous = i
                if attempt < self.cfg.retries:
                    await asyncio.sleep(self.cfg.backoff_s * (2**attempt) * (0.5 + random.random()))
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
                text = await self._post(body)
            except Exception as e:  # noqa: BLE001 - unreachable, timeouts, bad responses
                log.warning("judge request failed: %s: %s", type(e).__name__, e)
                return failed_judgement(request.task, "judge_failed", f"{type(e).__name__}: {e}",
                                        time.monotonic() - start)
        return await parse_timed_async(request.task, text, start)

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
