"""What the pool does with the result of each attempt (docs/provider-facts.md, Errors).

A success costs two writes: the usage-log row, and one UPDATE that appends to the budget
row's inbox (settle the tokens to the provider's count, its x-ratelimit-* headers). The key
row is touched only when something about it changed. Failures take the slower paths:
cooldowns, error counts, and for a 429 learning what the provider said under the budget's
row lock (the limit it names, what it has counted, the organization).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db.models import F
from django.utils import timezone

from keymanager.conf import PoolSettings
from keymanager.ledger import (
    KIND_PERIOD,
    KIND_PERIOD_SECONDS,
    PROBE_DONE,
    REFUSAL,
    Ledger,
    Observation,
    observe_event,
    raise_to,
    settle_event,
)
from keymanager.models import (
    UNCOUNTED_OUTCOMES,
    Cooldown,
    CooldownReason,
    DisabledCode,
    Key,
    OrganizationSource,
    Outcome,
    UsageLog,
)
from keymanager.services.budgets import budget_edit, budget_tell
from keymanager.services.headers import RateLimitHeaders, parse_rate_limit_message
from keymanager.services.organizations import key_move_organization
from keymanager.services.providers import CallResult, ProviderFailure
from keymanager.services.redaction import redact
from keymanager.services.selection import Lease

logger = logging.getLogger("keymanager")

MODEL_UNAVAILABLE_COOLDOWN = 3600.0


def _headers_event(headers: RateLimitHeaders, at: float) -> str:
    if not headers.present:
        return ""
    return observe_event(
        at,
        limit_requests=headers.limit_requests,
        remaining_requests=headers.remaining_requests,
        reset_requests=headers.reset_requests,
        limit_tokens=headers.limit_tokens,
        remaining_tokens=headers.remaining_tokens,
        reset_tokens=headers.reset_tokens,
    )


def _log_row(lease: Lease, **fields) -> UsageLog:
    return UsageLog.objects.create(
        request_id=lease.request_id,
        key_id=lease.key_id,
        provider=lease.provider,
        organization=lease.organization,
        model=lease.model,
        purpose=lease.purpose,
        quest=lease.quest,
        attempt=lease.attempt,
        created_at=lease.admitted_at,
        finished_at=timezone.now(),
        **fields,
    )


def record_success(lease: Lease, result: CallResult) -> None:
    now = timezone.now()
    counted = result.total_tokens or lease.reserved_tokens
    _log_row(
        lease,
        outcome=Outcome.SUCCESS,
        http_status=200,
        prompt_tokens=result.prompt_tokens,
        completion_tokens=result.completion_tokens,
        total_tokens=result.total_tokens,
        budget_tokens=counted,
        latency_ms=result.latency_ms,
    )
    # The reservation becomes the provider's own count, in the slice it was admitted in.
    events = settle_event(lease.mslot, lease.dslot, 0, counted - lease.reserved_tokens)
    events += _headers_event(result.headers, now.timestamp())
    if lease.probe:
        events += PROBE_DONE
    budget_tell(lease.budget_id, events)
    if lease.key_errors or lease.stamp_key:
        Key.objects.filter(pk=lease.key_id).update(
            last_used_at=lease.admitted_at, last_success_at=now, consecutive_errors=0, cooldown_streak=0
        )


def record_failure(lease: Lease, failure: ProviderFailure, conf: PoolSettings) -> None:
    now = timezone.now()
    outcome = failure.outcome
    uncounted = outcome in UNCOUNTED_OUTCOMES
    _log_row(
        lease,
        outcome=outcome,
        http_status=failure.status,
        error_code=failure.code[:64],
        latency_ms=failure.latency_ms,
        budget_tokens=0 if uncounted else lease.reserved_tokens,
    )
    if outcome == Outcome.RATE_LIMITED:
        _rate_limited(lease, failure, conf)  # edits the budget under its lock, release included
    else:
        events = settle_event(lease.mslot, lease.dslot, -1, -lease.reserved_tokens) if uncounted else ""
        events += _headers_event(failure.headers, now.timestamp())
        if lease.probe:
            events += PROBE_DONE
        budget_tell(lease.budget_id, events)
        Key.objects.filter(pk=lease.key_id).update(
            last_used_at=lease.admitted_at,
            last_error=f"{failure.status or ''} {failure.code}: {failure.message}".strip()[:255],
            last_error_at=now,
        )
    if outcome == Outcome.AUTH_FAILED:
        _auth_failed(lease, failure, now)
    elif outcome == Outcome.SPEND_CAP:
        cool_down(
            provider=lease.provider,
            organization=lease.organization,
            reason=CooldownReason.SPEND_CAP,
            seconds=conf.spend_cap_cooldown,
            detail=failure.message,
        )
        logger.error("Organization %s reached its spend cap; cooling it down.", lease.organization)
    elif outcome == Outcome.NOT_FOUND:
        cool_down(
            key_id=lease.key_id,
            provider=lease.provider,
            model=lease.model,
            reason=CooldownReason.MODEL_UNAVAILABLE,
            seconds=MODEL_UNAVAILABLE_COOLDOWN,
            detail=failure.message,
        )
    elif outcome == Outcome.DECOMMISSIONED:
        logger.warning("Model %s is decommissioned; switching to the alternate model.", lease.model)
    elif outcome in (Outcome.ERROR, Outcome.TIMEOUT, Outcome.CONNECTION, Outcome.CAPACITY):
        _count_error(lease, conf, failure.message or outcome)


def record_not_sent(lease: Lease, *, code: str) -> None:
    """The attempt never reached the provider (e.g. the key cannot be decrypted): log it,
    and give its admission back."""
    _log_row(lease, outcome=Outcome.BAD_REQUEST, error_code=code[:64], budget_tokens=0, latency_ms=0)
    events = settle_event(lease.mslot, lease.dslot, -1, -lease.reserved_tokens)
    budget_tell(lease.budget_id, events + (PROBE_DONE if lease.probe else ""))


def _rate_limited(lease: Lease, failure: ProviderFailure, conf: PoolSettings) -> None:
    """Learn what the 429 says, then cool the (organization, model) down until its time."""
    headers = failure.headers
    said = parse_rate_limit_message(failure.message)
    organization = lease.organization
    if said.organization and said.organization != organization and lease.provider == "groq":
        key_move_organization(
            key_id=lease.key_id,
            organization=said.organization,
            source=OrganizationSource.PROVIDER,
            detail=f"named by a 429 for {lease.model}",
        )
        organization = said.organization
    reset = None
    if said.kind == "rpd":
        reset = headers.reset_requests
    elif said.kind == "tpm":
        reset = headers.reset_tokens
    if headers.retry_after is not None:
        seconds = headers.retry_after
    elif said.try_again is not None:
        seconds = said.try_again
    elif reset is not None:
        seconds = reset
    else:
        seconds = conf.rate_limit_cooldown
    if said.kind:
        seconds = min(seconds, KIND_PERIOD_SECONDS[said.kind])

    def learn(ledger: Ledger, now: float) -> None:
        if organization == lease.organization:
            ledger.settle(lease.mslot, lease.dslot, -1, -lease.reserved_tokens)  # refused: not counted
        if said.kind and said.limit:
            ledger.learn(said.kind, said.limit, REFUSAL, now)
        if said.kind and said.used is not None:
            ring = ledger.minute if KIND_PERIOD[said.kind] == "m" else ledger.day
            tokens = said.kind in ("tpm", "tpd")
            raise_to(ring, now, requests=None if tokens else said.used, tokens=said.used if tokens else None)
        if headers.present:
            limit_requests, limit_tokens = headers.limit_requests, headers.limit_tokens
            ledger.observe(
                Observation(now, headers.remaining_requests, headers.reset_requests,
                            headers.remaining_tokens, headers.reset_tokens),
                limit_requests,
                limit_tokens,
            )
        ledger.probe_until = 0.0

    budget_edit(provider=lease.provider, organization=organization, model=lease.model, edit=learn)
    if organization != lease.organization:
        budget_tell(lease.budget_id, settle_event(lease.mslot, lease.dslot, -1, -lease.reserved_tokens))
    cooldown = cool_down(
        provider=lease.provider,
        organization=organization,
        model=lease.model,
        reason=CooldownReason.RATE_LIMIT,
        seconds=seconds,
        detail=failure.message,
    )
    logger.warning(
        "429 for key id=%s (%s), organization %s, model %s%s: organization cooling down until %s.",
        lease.key_id, lease.key_name, organization, lease.model,
        f" ({said.kind.upper()} limit {said.limit})" if said.kind and said.limit else "",
        f"{cooldown.ends_at:%H:%M:%S} UTC" if cooldown else "now (no wait named)",
    )


def _auth_failed(lease: Lease, failure: ProviderFailure, now) -> None:
    reason = f"Provider refused the key ({failure.status} {failure.code or 'auth'}) at {now:%Y-%m-%d %H:%M} UTC"
    disabled = Key.objects.filter(pk=lease.key_id, enabled=True).update(
        enabled=False, disabled_reason=reason[:255], disabled_code=DisabledCode.AUTH, disabled_at=now
    )
    if disabled:
        logger.error("Key id=%s (%s) disabled: %s. An admin must replace or re-enable it.", lease.key_id,
                     lease.key_name, reason)


def key_quarantine_undecryptable(*, key_id: int, key_name: str = "") -> bool:
    """A key whose secret cannot be decrypted here (another host's KEY_ENCRYPTION_KEYS, say):
    disable it so the other keys serve, and say so once. True when this call disabled it."""
    now = timezone.now()
    reason = "Cannot be decrypted with this host's KEY_ENCRYPTION_KEYS; re-add the key or fix the keys."
    disabled = Key.objects.filter(pk=key_id, enabled=True).update(
        enabled=False, disabled_reason=reason, disabled_code=DisabledCode.UNDECRYPTABLE, disabled_at=now
    )
    if disabled:
        logger.critical("Key id=%s (%s) disabled: its secret cannot be decrypted with KEY_ENCRYPTION_KEYS.",
                        key_id, key_name)
    return bool(disabled)


def _count_error(lease: Lease, conf: PoolSettings, detail: str) -> None:
    Key.objects.filter(pk=lease.key_id).update(consecutive_errors=F("consecutive_errors") + 1)
    # Claim the threshold crossing with a conditional update, so that of several workers
    # failing at once exactly one starts the cooldown.
    claimed = Key.objects.filter(pk=lease.key_id, consecutive_errors__gte=conf.max_errors_before_cooldown).update(
        consecutive_errors=0, cooldown_streak=F("cooldown_streak") + 1
    )
    if not claimed:
        return
    streak = Key.objects.filter(pk=lease.key_id).values_list("cooldown_streak", flat=True).first() or 1
    seconds = min(conf.error_cooldown * 2 ** (streak - 1), conf.error_cooldown_cap)
    cool_down(
        key_id=lease.key_id,
        provider=lease.provider,
        reason=CooldownReason.ERRORS,
        seconds=seconds,
        detail=f"{conf.max_errors_before_cooldown} errors in a row (cooldown #{streak}); last: {detail}"[:1000],
    )
    logger.warning("Key id=%s (%s) cooling down for %.0fs after repeated errors.", lease.key_id, lease.key_name,
                   seconds)


def cool_down(
    *,
    provider: str,
    reason: str,
    seconds: float,
    key_id: int | None = None,
    organization: str = "",
    model: str = "",
    detail: str = "",
) -> Cooldown | None:
    """Start a cooldown unless an active one for the same target already lasts as long.

    Earlier rows are kept as history and every reader takes the latest end of the active
    ones (CooldownQuerySet.holding), so a shorter cooldown never shortens a longer one.
    """
    if seconds <= 0:
        return None
    now = timezone.now()
    ends_at = now + timedelta(seconds=seconds)
    active = Cooldown.objects.active(now).filter(model=model, ends_at__gte=ends_at)
    target = active.of_key(key_id) if key_id else active.of_organization(provider, organization)
    if target.exists():
        return None
    return Cooldown.objects.create(
        key_id=key_id,
        provider=provider,
        organization="" if key_id else organization,
        model=model,
        reason=reason,
        started_at=now,
        ends_at=ends_at,
        detail=redact(detail),
    )


def mark_unusable(*, request_id, purpose: str) -> int:
    """The provider answered but the caller could not use the answer (e.g. invalid JSON):
    relabel the call's successful attempt so usage reports show the wasted call."""
    return UsageLog.objects.filter(request_id=request_id, outcome=Outcome.SUCCESS).update(
        purpose=f"{purpose}-invalid"[:50]
    )
