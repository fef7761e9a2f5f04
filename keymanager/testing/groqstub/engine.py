"""Request logic of the Groq stand-in: auth, validation, faults, admission, replies, stats.

Independent of HTTP so the rules read in one place; ``server.py`` only moves bytes. Every piece
of shared state is guarded by the single ``self.lock``: the server is hit by many concurrent
clients and admission must be atomic per (organization, model).
"""

from __future__ import annotations

import json
import math
import random
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from . import content as content_mod
from . import errors
from .errors import Reply
from .limits import LIMITERS, OPENAI_PHRASES, PHRASES, Entry, Limiter, go_duration, message_tokens, resolve_limits

DEFAULT_MODELS = (
    "openai/gpt-oss-20b",
    "openai/gpt-oss-120b",
    "qwen/qwen3.6-27b",
    "llama-3.3-70b-versatile",
    "llama-3.1-8b-instant",
)
DECOMMISSIONED = ("mixtral-8x7b-32768", "llama3-70b-8192", "llama3-8b-8192", "llama-3.1-70b-versatile")
# How a 429 names its wait: "exact" (retry-after, and "try again in" in the message), "zero"
# (retry-after: 0 and nothing in the message), "none" (no wait and no limit named at all).
WAIT_MODES = ("exact", "zero", "none")
FLEX_FACTOR = 10  # the flex tier's limits: about ten times the on-demand ones
CACHE_SECONDS = 300.0  # how long a prompt prefix stays in the stand-in's prompt cache
FAULT_DEFAULTS: dict[str, float] = {
    "error_rate": 0.0, "error_status": 500, "reset_rate": 0.0,
    "slow_rate": 0.0, "slow_seconds": 0.0, "capacity_rate": 0.0, "flex_capacity_rate": 0.0,
}
_ID_RNG = random.Random()  # ids only; kept apart from the seeded RNGs so ids never shift fault draws


def request_id() -> str:
    return "req_" + "".join(_ID_RNG.choices("0123456789abcdefghjkmnpqrstvwxyz", k=26))


@dataclass
class Ticket:
    """An admitted completion, between admission and reply."""

    org: str
    model: str
    tail: str
    bucket: Limiter
    entry: Entry
    prompt_tokens: int
    max_tokens: int
    payload: dict[str, Any]
    headers: dict[str, str]
    delay: float
    content: str | None = None
    cached_tokens: int = 0
    service_tier: str = "on_demand"


class Engine:
    def __init__(
        self, orgs: dict[str, dict] | None, default_limits: dict | None, models: Any, decommissioned: Any,
        window_seconds: float, day_seconds: float | None, latency: float, seed: int | None,
        limiter: str = "rolling", flavor: str = "groq", waits: str = "exact", prompt_cache: bool = False,
    ) -> None:
        if limiter not in LIMITERS:
            raise ValueError(f"limiter must be one of {', '.join(LIMITERS)}, not {limiter!r}")
        if waits not in WAIT_MODES:
            raise ValueError(f"waits must be one of {', '.join(WAIT_MODES)}, not {waits!r}")
        self.limiter = LIMITERS[limiter]
        self.flavor = flavor
        self.waits = waits
        self.prompt_cache = prompt_cache
        self.cached: dict[tuple[str, int], float] = {}  # (organization, prefix hash) -> last seen
        self.lock = threading.Lock()
        self.orgs: dict[str, dict] = {}
        self.keys: dict[str, str] = {}  # key -> organization
        self.revoked: set[str] = set()
        self.blocked: set[str] = set()
        for org, spec in (orgs or {}).items():
            self.orgs[org] = {"limits": dict(spec.get("limits") or {}), "flex": bool(spec.get("flex"))}
            for key in spec.get("keys", ()):
                self.keys[key] = org
        self.default_limits = default_limits
        self.models = tuple(DEFAULT_MODELS if models is None else models)
        self.decommissioned = tuple(decommissioned)
        self.window = float(window_seconds)
        self.day = float(day_seconds) if day_seconds is not None else self.window * 1440
        self.latency = float(latency)
        self.fault_rng = random.Random(seed)
        self.content_rng = random.Random(seed)
        self.writer = content_mod.new_writer()  # remembers what it wrote, so missions vary
        self.faults = dict(FAULT_DEFAULTS)
        self.queues: dict[str | None, deque[dict]] = {}
        self.buckets: dict[tuple[str, str, str], Limiter] = {}
        self.reset_stats()

    # ----- control -----
    def add_key(self, org: str, key: str) -> None:
        with self.lock:
            self.orgs.setdefault(org, {"limits": {}, "flex": False})
            self.keys[key] = org
            self.revoked.discard(key)

    def revoke(self, key: str) -> None:
        with self.lock:
            self.revoked.add(key)

    def set_faults(self, **kwargs: float) -> None:
        unknown = set(kwargs) - set(FAULT_DEFAULTS)
        if unknown:
            raise TypeError(f"unknown fault settings: {sorted(unknown)}")
        with self.lock:
            self.faults = {**FAULT_DEFAULTS, **{k: float(v) for k, v in kwargs.items()}}

    def set_limits(self, org: str, model: str, limits: dict[str, int]) -> None:
        """The organization moves to another tier for `model`: its limits change at once (what it
        used stays used), and its headers say so from the next reply on."""
        with self.lock:
            spec = self.orgs.setdefault(org, {"limits": {}, "flex": False})
            spec["limits"].setdefault(model, {}).update({k: int(v) for k, v in limits.items()})
            for tier, factor in (("on_demand", 1), ("flex", FLEX_FACTOR)):
                bucket = self.buckets.get((org, model, tier))
                if bucket is not None:
                    bucket.set_limits({k: int(v) * factor for k, v in limits.items()})

    def block_org(self, org: str, blocked: bool = True) -> None:
        with self.lock:
            (self.blocked.add if blocked else self.blocked.discard)(org)

    def enqueue(self, response: dict, key: str | None = None) -> None:
        with self.lock:
            self.queues.setdefault(key, deque()).append(dict(response))

    def reset_stats(self) -> None:
        with self.lock:
            self.st: dict[str, Any] = {"requests": 0, "by_status": {}, "resets": 0, "by_key": {},
                                       "by_org": {}, "over_budget": 0}

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return json.loads(json.dumps(self.st))  # deep copy, JSON-shaped like /_stub/stats

    def authorized(self, key: str | None) -> bool:
        with self.lock:
            return bool(key) and key in self.keys and key not in self.revoked

    # ----- helpers (lock held) -----
    def _count(self, tail: str, status: int) -> None:
        s = str(status)
        self.st["by_status"][s] = self.st["by_status"].get(s, 0) + 1
        ks = self.st["by_key"].setdefault(tail, {"requests": 0, "by_status": {}})
        ks["by_status"][s] = ks["by_status"].get(s, 0) + 1

    def _model_stats(self, org: str, model: str) -> dict[str, int]:
        return self.st["by_org"].setdefault(org, {}).setdefault(
            model, {"admitted": 0, "rate_limited": 0, "tokens": 0, "max_rpm_seen": 0, "max_tpm_seen": 0})

    def _bucket(self, org: str, model: str, tier: str = "on_demand") -> Limiter:
        b = self.buckets.get((org, model, tier))
        if b is None:
            limits = resolve_limits(model, self.orgs.get(org, {}).get("limits"), self.default_limits)
            if tier == "flex":
                limits = {k: v * FLEX_FACTOR for k, v in limits.items()}
            b = self.buckets[(org, model, tier)] = self.limiter(limits, self.window, self.day)
        return b

    @staticmethod
    def _asks_flex(raw: bytes) -> bool:
        try:
            payload = json.loads(raw or b"null")
        except ValueError:
            return False
        return isinstance(payload, dict) and payload.get("service_tier") == "flex"

    def _cached_tokens(self, org: str, messages: list, now: float) -> int:
        """Tokens of the leading messages this organization sent in the same order within the
        cache's lifetime (Groq's prompt caching: they do not count towards the limits)."""
        if not self.prompt_cache:
            return 0
        cached, prefix = 0, 0
        hit = True
        for i, message in enumerate(messages[:-1]):
            prefix = hash((prefix, json.dumps(message, sort_keys=True)))
            seen = self.cached.get((org, prefix))
            hit = hit and seen is not None and now - seen < CACHE_SECONDS
            if hit:
                cached += message_tokens(message)
            self.cached[(org, prefix)] = now
            if i > 16:
                break
        return cached

    def _pop_script(self, key: str) -> dict | None:
        for q in (self.queues.get(key), self.queues.get(None)):
            if q:
                return q.popleft()
        return None

    def _fault(self) -> str | None:
        f = self.faults
        for name in ("error", "reset", "capacity", "slow"):
            rate = f[f"{name}_rate"]
            if rate > 0 and self.fault_rng.random() < rate:
                return name
        return None

    # ----- completions -----
    def begin(self, key: str | None, raw: bytes) -> Reply | Ticket:
        """Everything up to admission, atomically; a Reply when the request ends here."""
        with self.lock:
            self.st["requests"] += 1
            tail = key[-4:] if key else "(none)"
            self.st["by_key"].setdefault(tail, {"requests": 0, "by_status": {}})["requests"] += 1
            reply = self._begin(key, tail, raw)
            if isinstance(reply, Reply):
                if reply.reset:
                    self.st["resets"] += 1
                else:
                    reply.headers.setdefault("x-request-id", request_id())
                    self._count(tail, reply.status)
            return reply

    def _begin(self, key: str | None, tail: str, raw: bytes) -> Reply | Ticket:
        org = self.keys.get(key or "")
        if org is None or key in self.revoked:
            return errors.invalid_key()
        if self._asks_flex(raw) and not self.orgs.get(org, {}).get("flex"):
            return errors.service_tier_unavailable("flex")  # refused before anything else: no script used
        script = self._pop_script(key)
        delay, scripted_content = self.latency, None
        if script is not None:
            if script.get("reset"):
                return Reply(0, reset=True)
            if "status" in script:
                st = int(script["status"])
                return Reply(st, script.get("body") or errors.generic(st).body, dict(script.get("headers") or {}))
            delay += float(script.get("sleep", 0.0))
            scripted_content = script.get("content")
        try:
            payload = json.loads(raw or b"null")
        except ValueError:
            return errors.bad_request("Failed to parse request body as JSON.")
        if not isinstance(payload, dict):
            return errors.bad_request("Request body must be a JSON object.")
        model, messages = payload.get("model"), payload.get("messages")
        if not model or not isinstance(model, str):
            return errors.bad_request("'model' : property 'model' is missing")
        if not messages or not isinstance(messages, list):
            return errors.bad_request("'messages' : minimum number of items is 1")
        if model in self.decommissioned:
            return errors.decommissioned(model)
        if model not in self.models:
            return errors.model_not_found(model)
        if org in self.blocked:
            return errors.blocked()
        tier = payload.get("service_tier") or "on_demand"
        if tier not in ("on_demand", "flex", "auto"):
            return errors.bad_request(f"'service_tier' : value must be one of on_demand, flex, auto, not {tier!r}")
        tier = "flex" if tier == "flex" else "on_demand"
        if tier == "flex" and script is None and self.faults["flex_capacity_rate"] > 0 \
                and self.fault_rng.random() < self.faults["flex_capacity_rate"]:
            return errors.capacity()  # flex is full: it fails fast
        bucket = self._bucket(org, model, tier)
        ptok = sum(message_tokens(m) for m in messages)
        max_tokens = payload.get("max_completion_tokens") or payload.get("max_tokens") or 1024
        if not isinstance(max_tokens, int) or max_tokens < 1:
            return errors.bad_request("'max_completion_tokens' : must be a positive integer")
        now = time.monotonic()
        cached = self._cached_tokens(org, messages, now)
        counted = ptok - cached
        if counted + max_tokens > bucket.limits["tpm"]:
            return errors.too_large(model, org, bucket.limits["tpm"], counted + max_tokens)
        fault = self._fault() if script is None else None
        if fault == "error":
            return errors.generic(int(self.faults["error_status"]))
        if fault == "reset":
            return Reply(0, reset=True)
        if fault == "capacity":
            return errors.capacity()
        if fault == "slow":
            delay += self.faults["slow_seconds"]
        mstats = self._model_stats(org, model)
        refusal = bucket.check(now, counted, max_tokens)
        if refusal is not None:
            mstats["rate_limited"] += 1
            return self._refused(bucket, refusal, model, org, tier, now)
        entry = bucket.admit(now, counted, max_tokens)
        mstats["admitted"] += 1
        mstats["max_rpm_seen"] = max(mstats["max_rpm_seen"], len(bucket.minute_q))
        mstats["max_tpm_seen"] = max(mstats["max_tpm_seen"], bucket.min_tokens)
        if bucket.over_budget(now):
            self.st["over_budget"] += 1
        # Rate-limit headers are added in finish(), after settling, so "remaining" reflects actual usage.
        headers = {"x-request-id": request_id()}
        return Ticket(org, model, tail, bucket, entry, ptok, max_tokens, payload, headers, delay, scripted_content,
                      cached_tokens=cached, service_tier=tier)

    def _refused(self, bucket: Limiter, refusal, model: str, org: str, tier: str, now: float) -> Reply:
        phrases = OPENAI_PHRASES if self.flavor == "openai" else PHRASES
        phrase, kind = phrases[refusal.limit]
        headers = bucket.headers(now, self.flavor)
        if self.waits == "exact":
            headers["retry-after"] = str(max(1, math.ceil(refusal.wait)))
            return errors.rate_limited(model, org, phrase, kind, refusal, go_duration(refusal.wait), headers, tier)
        if self.waits == "zero":
            headers["retry-after"] = "0"
            return errors.rate_limited(model, org, phrase, kind, refusal, None, headers, tier)
        return errors.rate_limited_vague(headers)

    def finish(self, t: Ticket) -> Reply:
        """Produce the 200 for an admitted request and settle its token reservation."""
        with self.lock:
            text = t.content if t.content is not None else content_mod.generate(
                t.payload["messages"], t.payload.get("response_format"), self.content_rng, self.writer)
            ctok = math.ceil(len(text) / 4)
            finish_reason = "stop"
            if ctok > t.max_tokens:
                text, ctok, finish_reason = text[: t.max_tokens * 4], t.max_tokens, "length"
            total = t.prompt_tokens + ctok
            t.bucket.settle(t.entry, t.prompt_tokens - t.cached_tokens, ctok)
            t.headers = {**t.bucket.headers(time.monotonic(), self.flavor), **t.headers}
            self._model_stats(t.org, t.model)["tokens"] += total - t.cached_tokens
            self._count(t.tail, 200)
        return build_reply(t, text, ctok, finish_reason)


def build_reply(t: Ticket, text: str, ctok: int, finish_reason: str) -> Reply:
    rid = t.headers["x-request-id"]
    usage = {
        "queue_time": 0.01, "prompt_tokens": t.prompt_tokens, "prompt_time": round(t.prompt_tokens / 20000, 6),
        "completion_tokens": ctok, "completion_time": round(ctok / 500, 6),
        "total_tokens": t.prompt_tokens + ctok, "total_time": round(t.prompt_tokens / 20000 + ctok / 500, 6),
    }
    if t.cached_tokens:
        usage["prompt_tokens_details"] = {"cached_tokens": t.cached_tokens}
    base = {"id": "chatcmpl-" + rid[4:], "created": int(time.time()), "model": t.model,
            "system_fingerprint": "fp_stub0001", "service_tier": t.service_tier}
    if not t.payload.get("stream"):
        body = {**base, "object": "chat.completion",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                             "logprobs": None, "finish_reason": finish_reason}],
                "usage": usage, "x_groq": {"id": rid}}
        return Reply(200, body, dict(t.headers))
    chunk = {**base, "object": "chat.completion.chunk"}

    def piece(delta: dict, reason: str | None = None, **extra: Any) -> dict:
        return {**chunk, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason}], **extra}

    chunks = [piece({"role": "assistant", "content": ""}, x_groq={"id": rid})]
    chunks += [piece({"content": text[i : i + 24]}) for i in range(0, len(text), 24)]
    final = piece({}, finish_reason, x_groq={"id": rid, "usage": usage})
    if (t.payload.get("stream_options") or {}).get("include_usage"):
        final["usage"] = usage
    chunks.append(final)
    return Reply(200, None, dict(t.headers), chunks=chunks)
