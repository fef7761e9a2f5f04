"""Talking to Groq and OpenAI through their SDKs, and naming what happened.

Clients are built with `max_retries=0`: the pool decides about retries, and an SDK that
retried a 429 on the same key would hide it from the pool and multiply timeouts.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import groq
import openai
from django.conf import settings
from django.views.decorators.debug import sensitive_variables

from keymanager.models import Outcome, Provider
from keymanager.services.headers import RateLimitHeaders, parse_rate_limit_headers
from keymanager.services.redaction import clean_code, redact

_clients: dict[tuple[str, int, str, str], Any] = {}
_clients_lock = threading.Lock()


@sensitive_variables("secret", "cache_key")
def client_for(provider: str, key_id: int, secret: str):
    """One SDK client per key and process: its connection pool is reused across calls."""
    base_url = settings.GROQ_BASE_URL if provider == Provider.GROQ else settings.OPENAI_BASE_URL
    cache_key = (provider, key_id, base_url, secret[-6:])
    client = _clients.get(cache_key)
    if client is None:
        with _clients_lock:
            client = _clients.get(cache_key)
            if client is None:
                sdk = groq.Groq if provider == Provider.GROQ else openai.OpenAI
                client = sdk(api_key=secret, base_url=base_url, max_retries=0)
                _clients[cache_key] = client
    return client


def forget_clients() -> None:
    """Drop cached clients (tests switch base URLs; forked processes must not share sockets)."""
    with _clients_lock:
        _clients.clear()


@dataclass(frozen=True)
class CallResult:
    text: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    headers: RateLimitHeaders
    latency_ms: int
    cached_tokens: int = 0  # prompt tokens served from the provider's cache: not counted by its limits
    service_tier: str = ""  # the tier that served it, as the provider says ("on_demand", "flex")


@dataclass(eq=False)
class ProviderFailure(Exception):
    """A failed attempt. `code` and `message` come from the provider, already redacted."""

    outcome: str
    status: int | None
    code: str
    message: str
    headers: RateLimitHeaders
    latency_ms: int

    def __str__(self) -> str:
        return f"{self.outcome} ({self.status or 'no status'} {self.code}): {self.message}"


@sensitive_variables("secret")
def call(
    *,
    provider: str,
    key_id: int,
    secret: str,
    model: str,
    messages: list[dict],
    temperature: float | None,
    max_tokens: int,
    response_format: dict | None,
    timeout: float,
    service_tier: str | None = None,
) -> CallResult:
    client = client_for(provider, key_id, secret)
    kwargs: dict[str, Any] = {"model": model, "messages": messages, "max_completion_tokens": max_tokens}
    if temperature is not None:
        kwargs["temperature"] = temperature
    if response_format is not None:
        kwargs["response_format"] = response_format
    if service_tier:
        kwargs["service_tier"] = service_tier
    started = time.monotonic()
    try:
        raw = client.chat.completions.with_raw_response.create(timeout=timeout, **kwargs)
    except (groq.APIStatusError, openai.APIStatusError) as exc:
        raise classify_status(exc, _ms(started), secrets=(secret,)) from None
    except (groq.APITimeoutError, openai.APITimeoutError):
        raise ProviderFailure(Outcome.TIMEOUT, None, "timeout", "Request timed out", RateLimitHeaders(), _ms(started)) from None
    except (groq.APIConnectionError, openai.APIConnectionError) as exc:
        raise ProviderFailure(
            Outcome.CONNECTION, None, "connection_error", type(exc).__name__, RateLimitHeaders(), _ms(started)
        ) from None
    headers = parse_rate_limit_headers(raw.headers)
    try:
        completion = raw.parse()
        usage = completion.usage
        return CallResult(
            text=completion.choices[0].message.content or "",
            model=completion.model or model,
            prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
            completion_tokens=getattr(usage, "completion_tokens", 0) or 0,
            total_tokens=getattr(usage, "total_tokens", 0) or 0,
            headers=headers,
            latency_ms=_ms(started),
            cached_tokens=_cached_tokens(usage),
            service_tier=str(getattr(completion, "service_tier", "") or ""),
        )
    except (AttributeError, IndexError, KeyError, TypeError, ValueError):
        # A 200 whose body is not a chat completion: the provider's fault, like a 5xx.
        raise ProviderFailure(
            Outcome.ERROR, 200, "malformed_response", "The provider's reply was not a chat completion",
            headers, _ms(started),
        ) from None


def _cached_tokens(usage) -> int:
    details = getattr(usage, "prompt_tokens_details", None)
    cached = getattr(details, "cached_tokens", None) if details is not None else None
    if cached is None and isinstance(details, dict):
        cached = details.get("cached_tokens")
    try:
        return max(0, int(cached or 0))
    except (TypeError, ValueError):
        return 0


def _about_service_tier(code: str, message: str) -> bool:
    """A 400 that refuses the service tier asked for (flex on a plan without it), not the request."""
    text = f"{code} {message}".lower()
    return "service_tier" in text or "service tier" in text


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _error_fields(exc: Exception) -> tuple[str, str, str]:
    """(message, type, code) from either SDK's error body."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        body = body["error"]  # groq keeps the envelope, openai strips it
    if not isinstance(body, dict):
        body = {}
    message = str(body.get("message") or getattr(exc, "message", "") or "")
    return message[:500], str(body.get("type") or ""), str(body.get("code") or "")


@sensitive_variables("secrets")
def classify_status(exc: Exception, latency_ms: int, secrets: tuple[str, ...] = ()) -> ProviderFailure:
    status = exc.status_code
    message, type_, code = _error_fields(exc)
    # Everything the provider wrote is stored and shown: a provider that echoes the key
    # must not put it in the usage log, the admin or the logs.
    message, type_, code = redact(message, secrets), clean_code(type_, secrets), clean_code(code, secrets)
    headers = parse_rate_limit_headers(exc.response.headers if exc.response is not None else None)
    if status == 429:
        outcome = Outcome.RATE_LIMITED
    elif status in (401, 403):
        outcome = Outcome.AUTH_FAILED
    elif status == 400 and code == "model_decommissioned":
        outcome = Outcome.DECOMMISSIONED
    elif status == 400 and code == "blocked_api_access":
        outcome = Outcome.SPEND_CAP
    elif status == 400 and _about_service_tier(code, message):
        outcome = Outcome.TIER_UNAVAILABLE
    elif status == 404:
        outcome = Outcome.NOT_FOUND
    elif status == 413:
        outcome = Outcome.TOO_LARGE
    elif status == 498:
        outcome = Outcome.CAPACITY
    elif status >= 500 or status in (408, 409):
        outcome = Outcome.ERROR
    else:
        outcome = Outcome.BAD_REQUEST
    return ProviderFailure(outcome, status, code or type_, message, headers, latency_ms)
