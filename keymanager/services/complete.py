"""`complete()`: one logical LLM call, spread over the pool (DESIGN.md's contract)."""

from __future__ import annotations

import logging
import random
import time
import uuid
from dataclasses import dataclass, field

from django.db import InterfaceError, OperationalError
from django.views.decorators.debug import sensitive_variables

from keymanager import crypto
from keymanager.models import Key, Outcome, Provider
from keymanager.services.budgets import DEFAULT_MAX_TOKENS, estimate_prompt_tokens
from keymanager.services.config import PoolSettings, pool_settings
from keymanager.services.errors import PoolExhausted, PoolMisconfigured, RequestRejected
from keymanager.services.headers import RateLimitHeaders
from keymanager.services.outcomes import record_failure, record_success
from keymanager.services.providers import ProviderFailure, call
from keymanager.services.selection import Lease, NoKey, acquire

logger = logging.getLogger("keymanager")

# Failures that say nothing about the key: another key would get the same answer.
REJECTED = (Outcome.BAD_REQUEST, Outcome.TOO_LARGE)
# Failures after which this call should not use the same key again.
AVOID_KEY = (Outcome.ERROR, Outcome.TIMEOUT, Outcome.CONNECTION, Outcome.AUTH_FAILED, Outcome.NOT_FOUND, Outcome.SPEND_CAP)


@dataclass
class CompletionResult:
    text: str
    provider: str
    model: str
    key_id: int
    usage: dict
    attempts: int
    request_id: uuid.UUID
    latency_ms: int = 0


@dataclass
class _Call:
    """One logical call: what is asked, and its state across attempts."""

    conf: PoolSettings
    messages: list[dict]
    max_tokens: int
    temperature: float | None = None
    response_format: dict | None = None
    quest: int | None = None
    purpose: str = ""
    request_id: uuid.UUID = field(default_factory=uuid.uuid4)
    started: float = field(default_factory=time.monotonic)
    attempts: int = 0
    waits: int = 0
    retry_hint: float | None = None

    @property
    def deadline(self) -> float:
        return self.started + self.conf.wait_budget

    def remaining(self) -> float:
        return self.deadline - time.monotonic()


def complete(
    *,
    messages: list[dict],
    model: str | None = None,
    quest: int | None = None,
    purpose: str = "",
    temperature: float | None = None,
    max_tokens: int | None = None,
    response_format: dict | None = None,
) -> CompletionResult:
    """Serve one chat completion from the pool; raise PoolExhausted when nothing can.

    Groq keys first; when no Groq key can serve within the wait budget, OpenAI keys from
    the same pool; then PoolExhausted(retry_after=...). RequestRejected when the request
    itself is refused (400, 413): no key would do better.
    """
    if not messages:
        raise RequestRejected("messages must not be empty", status=None, code="invalid_request")
    conf = pool_settings()
    state = _Call(
        conf=conf,
        messages=messages,
        max_tokens=max_tokens or DEFAULT_MAX_TOKENS,
        temperature=temperature,
        response_format=response_format,
        quest=quest,
        purpose=purpose,
    )
    try:
        openai_available = Key.objects.filter(provider=Provider.OPENAI, enabled=True).exists()
        # While OpenAI can still take over, stop waiting for Groq early enough for one attempt.
        reserve = min(conf.request_timeout, conf.wait_budget / 2) if openai_available else 0.0

        tiers = [(Provider.GROQ, model or conf.default_model, reserve)]
        if openai_available:
            tiers.append((Provider.OPENAI, conf.openai_model, 0.0))
        for provider, tier_model, keep in tiers:
            result = _serve_from(state, provider=provider, model=tier_model, keep=keep)
            if result is not None:
                return result
    except (OperationalError, InterfaceError) as exc:
        # The database (the pool's only state) is unreachable: no key can be chosen safely.
        # Callers serve their fallback; the connection recovers at the next request.
        logger.error("Key pool database unreachable: %s", type(exc).__name__)
        raise PoolExhausted("The key pool's database is unreachable.", retry_after=5.0) from exc
    hint = state.retry_hint if state.retry_hint is not None else conf.rate_limit_cooldown
    raise PoolExhausted(
        f"No key could serve within {conf.wait_budget:.0f}s after {state.attempts} attempt(s).", retry_after=hint
    )


def _serve_from(state: _Call, *, provider: str, model: str, keep: float) -> CompletionResult | None:
    """Serve the call from one provider's keys; None when they cannot within the budget."""
    conf = state.conf
    failures = 0
    avoid: set[int] = set()
    tokens = estimate_prompt_tokens(state.messages) + state.max_tokens
    while state.remaining() > 0:
        got = acquire(
            provider=provider,
            model=model,
            tokens=tokens,
            strategy=conf.strategy,
            quest=state.quest,
            exclude=frozenset(avoid),
            request_id=state.request_id,
            attempt=state.attempts + 1,
            purpose=state.purpose,
        )
        if isinstance(got, NoKey):
            if got.retry_after is None:
                return None
            if provider == Provider.GROQ:
                state.retry_hint = got.retry_after
            if not _wait(state, got.retry_after, keep):
                return None
            continue

        state.attempts += 1
        try:
            result = _attempt(state, got, model)
        except PoolMisconfigured:
            raise  # its attempt is already recorded
        except ProviderFailure as failure:
            record_failure(got, failure, conf)
            if failure.outcome in REJECTED:
                raise RequestRejected(
                    failure.message or failure.outcome, status=failure.status, code=failure.code
                ) from None
            if failure.outcome == Outcome.DECOMMISSIONED:
                if model == conf.alternate_model or provider != Provider.GROQ:
                    raise RequestRejected(failure.message, status=failure.status, code=failure.code) from None
                model = conf.alternate_model
                continue
            if failure.outcome in AVOID_KEY:
                avoid.add(got.key_id)
            if failure.outcome != Outcome.RATE_LIMITED:
                failures += 1
                if failures > conf.max_retries:
                    return None
            if failure.outcome == Outcome.CAPACITY and not _wait(state, 0.0, keep):
                return None
            continue
        except Exception as exc:
            # Whatever went wrong, the attempt's row must not stay pending.
            unexpected = ProviderFailure(Outcome.ERROR, None, "unexpected", type(exc).__name__, RateLimitHeaders(), 0)
            record_failure(got, unexpected, conf)
            raise
        record_success(got, result)
        return CompletionResult(
            text=result.text,
            provider=provider,
            model=result.model,
            key_id=got.key_id,
            usage={
                "prompt_tokens": result.prompt_tokens,
                "completion_tokens": result.completion_tokens,
                "total_tokens": result.total_tokens,
            },
            attempts=state.attempts,
            request_id=state.request_id,
            latency_ms=int((time.monotonic() - state.started) * 1000),
        )
    return None


@sensitive_variables("secret")
def _attempt(state: _Call, lease: Lease, model: str):
    try:
        secret = crypto.decrypt(lease.secret_encrypted)
    except crypto.SecretDecryptionError as exc:
        # Fail closed: never send ciphertext as a key. Free the reservation and stop the call;
        # players get the fallback (PoolExhausted), operators a CRITICAL log line.
        failure = ProviderFailure(Outcome.BAD_REQUEST, None, "decryption_failed", "", RateLimitHeaders(), 0)
        record_failure(lease, failure, state.conf)
        logger.critical("Key id=%s cannot be decrypted: %s", lease.key_id, exc)
        raise PoolMisconfigured(str(exc), retry_after=state.conf.rate_limit_cooldown) from exc
    timeout = max(1.0, min(state.conf.request_timeout, state.remaining()))
    return call(
        provider=lease.provider,
        key_id=lease.key_id,
        secret=secret,
        model=model,
        messages=state.messages,
        temperature=state.temperature,
        max_tokens=state.max_tokens,
        response_format=state.response_format,
        timeout=timeout,
    )


def _wait(state: _Call, hint: float, keep: float) -> bool:
    """Sleep until a key may serve, with growing jitter so waiters do not stampede.

    Returns False when that moment lies beyond the budget (less `keep`, the time kept for
    the next provider), so the caller moves on instead of sleeping in vain.
    """
    jitter = random.uniform(0, min(0.05 * 2**state.waits, 2.0))
    delay = max(hint, 0.01) + jitter
    if delay > state.remaining() - keep:
        return False
    state.waits += 1
    time.sleep(delay)
    return True
