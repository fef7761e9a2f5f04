"""One provider's keys serving one logical call: take a lease, make one attempt, decide.

- `take_lease`: acquire an admission (now or a reserved slot) within what is left of the
  call's time budget;
- `attempt`: sleep to the slot, re-check a reserved slot just before sending, send, record,
  and return a `Verdict`;
- `serve`: the short loop over both, reading the outcome table for where to go next. It serves
  `complete()` and `key_test` alike.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import connection
from django.db.utils import InterfaceError, OperationalError
from django.views.decorators.debug import sensitive_variables

from keymanager import clock, crypto
from keymanager.conf import PoolSettings
from keymanager.models import Outcome, Provider
from keymanager.outcome_rules import OUTCOME_RULES, Retry
from keymanager.services.dberrors import is_contention
from keymanager.services.errors import RequestRejected
from keymanager.services.headers import RateLimitHeaders
from keymanager.services.leases import FLEX_TIER, ON_DEMAND, Ask, Lease, NoKey
from keymanager.services.outcomes import (
    key_quarantine_undecryptable,
    record_failure,
    record_not_sent,
    record_success,
)
from keymanager.services.providers import CallResult, ProviderFailure, call
from keymanager.services.recheck import late, recheck, release
from keymanager.services.selection import acquire
from keymanager.tokens import count_prompt

logger = logging.getLogger("keymanager")

# Backoff between retries of failed attempts: doubles from BACKOFF_BASE up to BACKOFF_CAP,
# each wait drawn between half and all of it ("equal jitter"), so retries spread out.
BACKOFF_BASE = 0.25
BACKOFF_CAP = 4.0
# A database busy with other writers (lock timeout, deadlock, SQLite busy) is retried.
CONTENTION_PAUSE = 0.05
# Reserved slots found invalid just before sending, before the call gives up.
MAX_STALE = 8


@dataclass
class CallState:
    """One logical call: what is asked, and its state across attempts and providers."""

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
    last_failure: ProviderFailure | None = None
    _prompt_count: int | None = None

    def remaining(self) -> float:
        return self.started + self.conf.wait_budget - time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def prompt_count(self) -> int:
        if self._prompt_count is None:
            self._prompt_count = count_prompt(self.messages)
        return self._prompt_count


@dataclass(frozen=True)
class Verdict:
    """What one attempt came to."""

    served: CallResult | None = None
    failure: ProviderFailure | None = None
    stale: bool = False  # nothing was sent: the reserved slot became invalid
    undecryptable: bool = False  # nothing was sent: the key cannot be decrypted here


def retrying(work, *args, **kwargs):
    """Run a database step; contention (lock timeout, deadlock, SQLite busy) is retried."""
    attempts = 20
    for n in range(attempts):
        try:
            return work(*args, **kwargs)
        except OperationalError as exc:
            if not is_contention(exc) or n == attempts - 1 or connection.in_atomic_block:
                raise
            time.sleep(CONTENTION_PAUSE * (1 + random.random()))
    raise AssertionError("unreachable")


def take_lease(state: CallState, *, provider: str, model: str, budget: float, avoid: frozenset[int],
               only_key: int | None = None, tier: str = ON_DEMAND, discover: bool = True) -> Lease | NoKey:
    ask = Ask(provider=provider, model=model, prompt_count=state.prompt_count, max_tokens=state.max_tokens,
              max_wait=budget, request_id=state.request_id, attempt=state.attempts + 1,
              request_timeout=state.conf.request_timeout, strategy=state.conf.strategy, purpose=state.purpose,
              quest=state.quest, tier=tier, discover=discover)
    return retrying(acquire, ask, avoid=avoid, only_key=only_key)


def attempt(state: CallState, lease: Lease, model: str) -> Verdict:
    """Send one request with the lease's key at its slot, and record what happened."""
    delay = lease.send_at - clock.now()
    if delay > 0:
        time.sleep(delay)  # our reserved slot: no one else was given it
    if (lease.reserved and not retrying(recheck, lease)) or late(lease):
        retrying(release, lease)
        logger.info("Call %s: the slot reserved on key id=%s is no longer valid; choosing again.",
                    state.request_id, lease.key_id)
        return Verdict(stale=True)
    state.attempts += 1
    try:
        result = _send(state, lease, model)
    except crypto.SecretDecryptionError:
        retrying(record_not_sent, lease, code="undecryptable")
        state.attempts -= 1  # nothing was sent
        return Verdict(undecryptable=True)
    except ProviderFailure as failure:
        retrying(record_failure, lease, failure, state.conf)
        state.last_failure = failure
        return Verdict(failure=failure)
    except Exception as exc:
        # Whatever went wrong, the attempt is logged and its admission kept (it may have been sent).
        unexpected = ProviderFailure(Outcome.ERROR, None, "unexpected", type(exc).__name__, RateLimitHeaders(), 0)
        retrying(record_failure, lease, unexpected, state.conf)
        raise
    _record_success(lease, result)
    return Verdict(served=result)


def _record_success(lease: Lease, result: CallResult) -> None:
    """The answer is the caller's even if the database fails now: log, do not lose it."""
    try:
        retrying(record_success, lease, result)
    except (OperationalError, InterfaceError) as exc:
        logger.error("Call %s served, but its usage could not be recorded: %s", lease.request_id, type(exc).__name__)


@sensitive_variables("secret")
def _send(state: CallState, lease: Lease, model: str) -> CallResult:
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
        service_tier=FLEX_TIER if lease.tier == FLEX_TIER else None,
    )


def _backoff(state: CallState) -> float:
    state.backoffs += 1
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (state.backoffs - 1))
    return random.uniform(ceiling / 2, ceiling)


@dataclass(frozen=True)
class Served:
    result: CallResult
    lease: Lease
    model: str


def serve(state: CallState, *, provider: str, model: str, keep: Callable[[], float] = lambda: 0.0,
          only_key: int | None = None, single: bool = False, background: bool = False,
          discover_flex: bool = True, on_undecryptable: Callable[[Lease], None] | None = None) -> Served | None:
    """Serve the call from one provider's keys; None when they cannot within the budget
    (`state.retry_hint` then says when one could). `keep`: seconds of the budget to leave for
    a fallback provider. `single`: one attempt at most (a key test). `background`: work nobody
    waits for, sent on Groq's flex tier (its own, larger limits) where an organization has it,
    and on-demand where none does or flex is full; `discover_flex=False` asks only organizations
    already known to have flex (a probe must not spend itself finding out).

    What follows a failure is the outcome table's: transient failures (5xx, timeouts, resets,
    498) are retried on other keys first, and on the same key after a backoff when no other
    can serve, up to `max_retries`; a 429 sends the call to another organization at once (its
    own waits until the time the provider named); a refused request is RequestRejected.
    """
    failures = stale = 0
    avoid: set[int] = set()
    tier = FLEX_TIER if background and provider == Provider.GROQ else ON_DEMAND
    while True:
        budget = state.remaining() - keep()
        if budget <= 0:
            return None
        got = take_lease(state, provider=provider, model=model, budget=budget, avoid=frozenset(avoid),
                         only_key=only_key, tier=tier, discover=discover_flex)
        if isinstance(got, NoKey) and tier == FLEX_TIER and not got.rejected:
            tier = ON_DEMAND  # no organization can take it on flex now: on-demand
            continue
        if isinstance(got, NoKey):
            if got.rejected:
                raise RequestRejected(
                    f"The request ({state.prompt_count} prompt tokens and {state.max_tokens} max tokens) can never "
                    f"fit a {provider} budget's token limit.",
                    status=None,
                    code="request_too_large",
                )
            if avoid and not single:
                # Only keys that just failed are left: back off, then try them again.
                delay = _backoff(state)
                if delay >= budget:
                    return None
                time.sleep(delay)
                avoid.clear()
                continue
            if got.retry_after is not None:
                state.retry_hint = got.retry_after
            return None
        verdict = attempt(state, got, model)
        if verdict.served is not None:
            return Served(verdict.served, got, model)
        if verdict.stale:
            stale += 1
            if stale > MAX_STALE:
                return None
            continue
        if verdict.undecryptable:
            state.undecryptable += 1
            avoid.add(got.key_id)
            if on_undecryptable is not None:
                on_undecryptable(got)
            if single:
                return None
            continue
        failure = verdict.failure
        rule = OUTCOME_RULES[failure.outcome]
        if rule.rejects_request:
            raise RequestRejected(failure.message or failure.outcome, status=failure.status, code=failure.code)
        if tier == FLEX_TIER and (rule.retry == Retry.ON_DEMAND or failure.outcome == Outcome.CAPACITY):
            tier = ON_DEMAND  # flex refused or full: the same work on-demand, at once
            continue
        if single:
            return None
        if rule.retry == Retry.ALTERNATE_MODEL:
            if model == state.conf.alternate_model or provider != Provider.GROQ:
                raise RequestRejected(failure.message, status=failure.status, code=failure.code)
            model = state.conf.alternate_model
            continue
        if rule.avoid_key:
            avoid.add(got.key_id)
        if rule.transient:
            failures += 1
            if failures > state.conf.max_retries:
                return None
        logger.info(
            "Call %s: attempt %d on key id=%s (%s), organization %s, failed (%s); trying %s.",
            state.request_id, state.attempts, got.key_id, got.key_name, got.organization, failure.outcome,
            "another organization" if rule.retry == Retry.OTHER_ORGANIZATION else "another key",
        )


def quarantine(lease: Lease) -> bool:
    """Set aside a key this host cannot decrypt; True when this call did it."""
    return key_quarantine_undecryptable(key_id=lease.key_id, key_name=lease.key_name)
