"""`complete()`: one logical LLM call, spread over the pool: Groq's keys, then OpenAI's."""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.db import close_old_connections, connection, transaction
from django.db.utils import InterfaceError, OperationalError

from keymanager.conf import pool_settings
from keymanager.models import Key, Provider
from keymanager.services.attempts import CallState, Served, quarantine, retrying, serve
from keymanager.services.errors import PoolExhausted, PoolMisconfigured, PoolMisuse, RequestRejected
from keymanager.services.telemetry import observed

logger = logging.getLogger("keymanager")

DEFAULT_MAX_TOKENS = 1024


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
    background: bool = False,
) -> CompletionResult:
    """Serve one chat completion from the pool; raise PoolExhausted when nothing can.

    Groq keys first; when no Groq key can serve within the wait budget, OpenAI keys from
    the same pool; then PoolExhausted(retry_after=...). RequestRejected when the request
    itself is refused (400, 413) or can never fit any budget: no key would do better.
    `background=True` is for work nobody waits for (prefetching): it goes on Groq's flex tier
    where an organization has it (learned from its answers), on-demand otherwise.
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
    state = CallState(
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
        served = serve(state, provider=Provider.GROQ, model=groq_model, background=background,
                       keep=lambda: reserve if _fallback_ready() else 0.0, on_undecryptable=_set_aside)
        if served is None and _has_keys(Provider.OPENAI):
            logger.warning(
                "Call %s: no Groq key could serve %s within %.1fs (%d attempt(s)); falling back to OpenAI.",
                state.request_id, groq_model, state.elapsed(), state.attempts,
            )
            hint = state.retry_hint
            served = serve(state, provider=Provider.OPENAI, model=conf.openai_model, on_undecryptable=_set_aside)
            state.retry_hint = hint if hint is not None else state.retry_hint
    except (OperationalError, InterfaceError) as exc:
        # The database (the pool's only state) is unreachable: no key can be chosen safely.
        # Callers serve their fallback; the connection recovers at the next request.
        logger.error("Key pool database unreachable: %s", type(exc).__name__)
        raise PoolExhausted("The key pool's database is unreachable.", retry_after=5.0) from exc
    if served is not None:
        return _served(state, served)
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


def _served(state: CallState, served: Served) -> CompletionResult:
    lease, result = served.lease, served.result
    return CompletionResult(
        text=result.text,
        provider=lease.provider,
        model=result.model,
        key_id=lease.key_id,
        usage={
            "prompt_tokens": result.prompt_tokens,
            "completion_tokens": result.completion_tokens,
            "total_tokens": result.total_tokens,
        },
        attempts=state.attempts,
        request_id=state.request_id,
        latency_ms=int(state.elapsed() * 1000),
    )


def _set_aside(lease) -> None:
    if quarantine(lease):
        transaction.on_commit(_alert_soon)


def _has_keys(provider: str) -> bool:
    return retrying(Key.objects.filter(provider=provider, enabled=True).exists)


_fallback_cache: dict[str, tuple[float, bool]] = {}
FALLBACK_TTL = 5.0


def _fallback_ready() -> bool:
    """Whether OpenAI keys could take over (then Groq keeps time for them). Known to each
    process for a few seconds at a time: a key added or disabled in admin counts soon after."""
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
