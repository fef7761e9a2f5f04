"""`complete()`: one logical LLM call, spread over the pool."""

from __future__ import annotations

import logging
import random
import time
import uuid
from dataclasses import dataclass, field

from asgiref.sync import sync_to_async
from django.db import close_old_connections, connection, transaction
from django.db.utils import InterfaceError, OperationalError
from django.views.decorators.debug import sensitive_variables

from keymanager import crypto
from keymanager.conf import PoolSettings, pool_settings
from keymanager.models import Key, Outcome, Provider
from keymanager.services.budgets import DEFAULT_MAX_TOKENS, estimate_prompt_tokens
from keymanager.services.dberrors import is_contention
from keymanager.services.errors import PoolExhausted, PoolMisconfigured, PoolMisuse, RequestRejected
from keymanager.services.headers import RateLimitHeaders
from keymanager.services.outcomes import key_quarantine_undecryptable, record_failure, record_not_sent, record_success
from keymanager.services.providers import CallResult, ProviderFailure, call
from keymanager.services.selection import Lease, NoKey, acquire
from keymanager.services.telemetry import observe_failure, observed

logger = logging.getLogger("keymanager")

# Failures that say nothing about the key: another key would get the same answer.
REJECTED = (Outcome.BAD_REQUEST, Outcome.TOO_LARGE)
# Failures worth trying again (the provider or the network, not the request).
TRANSIENT = (Outcome.ERROR, Outcome.TIMEOUT, Outcome.CONNECTION, Outcome.CAPACITY)
# Failures after which this call should not use the same key again.
AVOID_KEY = (*TRANSIENT, Outcome.AUTH_FAILED, Outcome.NOT_FOUND, Outcome.SPEND_CAP)
# Backoff between retries of failed attempts: doubles from BACKOFF_BASE up to BACKOFF_CAP,
# each wait drawn between half and all of it ("equal jitter"), so retries spread out.
BACKOFF_BASE = 0.25
BACKOFF_CAP = 4.0
# A database busy with other writers (lock timeout, deadlock, SQLite busy) is retried.
CONTENTION_PAUSE = 0.05


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
    backoffs: int = 0
    retry_hint: float | None = None
    undecryptable: int = 0  # keys this call found it cannot decrypt

    def remaining(self) -> float:
        return self.started + self.conf.wait_budget - time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.started


async def acomplete(**kwargs) -> CompletionResult:
    """`complete()` for async callers (ASGI views, async tasks): the same arguments, result
    and exceptions. The call runs on a worker thread with its own database connection,
    closed after the call, so the event loop never waits on the HTTP call or a row lock."""
    return await sync_to_async(_complete_on_worker_thread, thread_sensitive=False)(**kwargs)


def _complete_on_worker_thread(**kwargs) -> CompletionResult:
    close_old_connections()
    try:
        return complete(**kwargs)
    finally:
        close_old_connections()


def _inside_callers_transaction() -> bool:
    # Test cases wrap each test in atomic blocks of their own; those do not count.
    return any(not getattr(block, "_from_testcase", False) for block in connection.atomic_blocks)


@observed  # /metrics: latency per process, PoolExhausted counted (services/telemetry.py)
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
    itself is refused (400, 413) or exceeds every budget: no key would do better.
    """
    if not messages:
        raise RequestRejected("messages must not be empty", status=None, code="invalid_request")
    if _inside_callers_transaction():
        raise PoolMisuse(
            "complete() must not run inside transaction.atomic(): the pool would hold its row locks "
            "and writes across the HTTP call. Call it outside the transaction (e.g. in "
            "transaction.on_commit or a task)."
        )
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
    # While OpenAI can still take over, Groq leaves it enough of the budget for one attempt.
    reserve = min(conf.request_timeout, conf.wait_budget / 2)
    groq_model = model or conf.default_model
    try:
        result = _serve_from(state, provider=Provider.GROQ, model=groq_model, keep=reserve)
        if result is None and _has_keys(Provider.OPENAI):
            logger.warning(
                "Call %s: no Groq key could serve %s within %.1fs (%d attempt(s)); falling back to OpenAI.",
                state.request_id, groq_model, state.elapsed(), state.attempts,
            )
            result = _serve_from(state, provider=Provider.OPENAI, model=conf.openai_model, keep=0.0)
    except (OperationalError, InterfaceError) as exc:
        # The database (the pool's only state) is unreachable: no key can be chosen safely.
        # Callers serve their fallback; the connection recovers at the next request.
        logger.error("Key pool database unreachable: %s", type(exc).__name__)
        raise PoolExhausted("The key pool's database is unreachable.", retry_after=5.0) from exc
    if result is not None:
        return result
    hint = state.retry_hint if state.retry_hint is not None else conf.rate_limit_cooldown
    if state.undecryptable and not state.attempts:
        raise PoolMisconfigured(
            f"{state.undecryptable} key(s) cannot be decrypted with KEY_ENCRYPTION_KEYS and no other key could "
            "serve; they are disabled and admins alerted.",
            retry_after=hint,
        )
    logger.warning(
        "Call %s: pool exhausted after %.2fs and %d attempt(s); a key may serve in %.1fs.",
        state.request_id, state.elapsed(), state.attempts, hint,
    )
    raise PoolExhausted(
        f"No key could serve within {state.elapsed():.2f}s after {state.attempts} attempt(s).", retry_after=hint
    )


def _has_keys(provider: str) -> bool:
    return _retrying(Key.objects.filter(provider=provider, enabled=True).exists)


def _retrying(work, *args, **kwargs):
    """Run a database step; contention (lock timeout, deadlock, SQLite busy) is retried."""
    attempts = 20
    for n in range(attempts):
        try:
            return work(*args, **kwargs)
        except OperationalError as exc:
            if not is_contention(exc) or n == attempts - 1:
                raise
            if connection.in_atomic_block:
                raise
            time.sleep(CONTENTION_PAUSE * (1 + random.random()))
    raise AssertionError("unreachable")


def _backoff(state: _Call) -> float:
    state.backoffs += 1
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (state.backoffs - 1))
    return random.uniform(ceiling / 2, ceiling)


def _serve_from(state: _Call, *, provider: str, model: str, keep: float) -> CompletionResult | None:
    """Serve the call from one provider's keys; None when they cannot within the budget.

    Transient failures (5xx, timeouts, resets, 498) are retried on other keys first, and on
    the same key after a backoff when no other can serve, up to `max_retries` retries.
    """
    conf = state.conf
    failures = 0
    avoid: set[int] = set()
    tokens = estimate_prompt_tokens(state.messages) + state.max_tokens
    fallback_keep = keep if provider == Provider.GROQ else 0.0
    while True:
        budget = state.remaining() - (fallback_keep if _fallback_ready(provider, fallback_keep) else 0.0)
        if budget <= 0:
            return None
        got = _retrying(
            acquire,
            provider=provider,
            model=model,
            tokens=tokens,
            strategy=conf.strategy,
            quest=state.quest,
            avoid=frozenset(avoid),
            request_id=state.request_id,
            attempt=state.attempts + 1,
            max_wait=budget,
            purpose=state.purpose,
        )
        if isinstance(got, NoKey):
            if got.rejected:
                raise RequestRejected(
                    f"The request ({tokens} tokens with max_tokens) exceeds every {provider} budget's token limit.",
                    status=None,
                    code="request_too_large",
                )
            if avoid:
                # Only keys that just failed are left: back off, then try them again.
                delay = _backoff(state)
                if delay >= budget:
                    return None
                time.sleep(delay)
                avoid.clear()
                continue
            if provider == Provider.GROQ and got.retry_after is not None:
                state.retry_hint = got.retry_after
            return None

        delay = got.send_at - time.time()
        if delay > 0:
            time.sleep(delay)  # our reserved slot: no one else was given it
        state.attempts += 1
        try:
            result = _attempt(state, got, model)
        except crypto.SecretDecryptionError:
            _retrying(record_not_sent, got, code="undecryptable")
            if key_quarantine_undecryptable(key_id=got.key_id, key_name=got.key_name):
                transaction.on_commit(_alert_soon)
            state.undecryptable += 1
            state.attempts -= 1  # nothing was sent
            avoid.add(got.key_id)
            continue
        except ProviderFailure as failure:
            _retrying(record_failure, got, failure, conf)
            observe_failure(got, failure)  # /metrics: 429s by the limit named
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
            if failure.outcome in TRANSIENT:
                failures += 1
                if failures > conf.max_retries:
                    return None
            logger.info(
                "Call %s: attempt %d on key id=%s (%s), organization %s, failed (%s); trying %s.",
                state.request_id, state.attempts, got.key_id, got.key_name, got.organization, failure.outcome,
                "another key" if failure.outcome != Outcome.RATE_LIMITED else "another organization",
            )
            continue
        except Exception as exc:
            # Whatever went wrong, the attempt is logged and its admission kept (it may have been sent).
            unexpected = ProviderFailure(Outcome.ERROR, None, "unexpected", type(exc).__name__, RateLimitHeaders(), 0)
            _retrying(record_failure, got, unexpected, conf)
            raise
        _record_success(got, result)
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
            latency_ms=int(state.elapsed() * 1000),
        )


def _record_success(lease: Lease, result: CallResult) -> None:
    """The answer is the caller's even if the database fails now: log, do not lose it."""
    try:
        _retrying(record_success, lease, result)
    except (OperationalError, InterfaceError) as exc:
        logger.error("Call %s served, but its usage could not be recorded: %s", lease.request_id, type(exc).__name__)


_fallback_cache: dict[str, tuple[float, bool]] = {}
FALLBACK_TTL = 5.0


def _fallback_ready(provider: str, keep: float) -> bool:
    """Whether OpenAI keys could take over (then Groq keeps time for them). Known to each
    process for a few seconds at a time: a key added or disabled in admin counts soon after."""
    if provider != Provider.GROQ or keep <= 0:
        return False
    cached = _fallback_cache.get(Provider.OPENAI)
    now = time.monotonic()
    if cached is None or cached[0] < now:
        cached = (now + FALLBACK_TTL, _has_keys(Provider.OPENAI))
        _fallback_cache[Provider.OPENAI] = cached
    return cached[1]


def forget_fallback() -> None:
    _fallback_cache.clear()


def _alert_soon() -> None:
    """Tell admins at once about a key taken out of the pool (the alert check is a task)."""
    try:
        from django_q.tasks import async_task

        async_task("keymanager.tasks.check_alerts", task_name="alerts-after-key-disabled")
    except Exception:  # the broker may be down; the scheduled check runs anyway
        logger.exception("Could not enqueue the alert check.")


@sensitive_variables("secret")
def _attempt(state: _Call, lease: Lease, model: str) -> CallResult:
    secret = crypto.decrypt(lease.secret_encrypted)  # fails closed: never send ciphertext as a key
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
