"""What the pool does with the result of each attempt (GROQ_FACTS.md's table)."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from keymanager.models import UNCOUNTED_OUTCOMES, Cooldown, CooldownReason, Key, Outcome, UsageLog
from keymanager.services.budgets import observe_headers
from keymanager.services.config import PoolSettings
from keymanager.services.headers import limit_phrase, retry_after_from_message
from keymanager.services.providers import CallResult, ProviderFailure
from keymanager.services.selection import Lease

logger = logging.getLogger("keymanager")

MODEL_UNAVAILABLE_COOLDOWN = 3600.0
_SECRET_LIKE = re.compile(r"(gsk_|sk-)[A-Za-z0-9_\-]{6,}")


def redact(text: str) -> str:
    """Provider messages are stored and shown; make sure no key-like string survives."""
    return _SECRET_LIKE.sub(r"\1[redacted]", text or "")


def record_success(lease: Lease, result: CallResult) -> None:
    now = timezone.now()
    headers = result.headers
    key_fields = {"last_success_at": now, "consecutive_errors": 0, "cooldown_streak": 0}
    if headers.present:
        key_fields.update(
            remaining_requests=headers.remaining_requests,
            remaining_tokens=headers.remaining_tokens,
            remaining_seen_at=now,
        )
    with transaction.atomic():
        UsageLog.objects.filter(pk=lease.log_id).update(
            outcome=Outcome.SUCCESS,
            http_status=200,
            prompt_tokens=result.prompt_tokens,
            completion_tokens=result.completion_tokens,
            total_tokens=result.total_tokens,
            # The reservation is released down to what the call really used.
            budget_tokens=result.total_tokens or lease.reserved_tokens,
            latency_ms=result.latency_ms,
            finished_at=now,
        )
        # Budget row before key row: the same lock order as selection, so no deadlock.
        observe_headers(
            provider=lease.provider, organization=lease.organization, model=lease.model, headers=headers, now=now
        )
        Key.objects.filter(pk=lease.key_id).update(**key_fields)


def record_failure(lease: Lease, failure: ProviderFailure, conf: PoolSettings) -> None:
    now = timezone.now()
    detail = redact(failure.message)[:255]
    outcome = failure.outcome
    with transaction.atomic():
        UsageLog.objects.filter(pk=lease.log_id).update(
            outcome=outcome,
            http_status=failure.status,
            error_code=failure.code[:64],
            latency_ms=failure.latency_ms,
            finished_at=now,
            budget_tokens=0 if outcome in UNCOUNTED_OUTCOMES else lease.reserved_tokens,
        )
        # Budget row before key row: the same lock order as selection, so no deadlock.
        observe_headers(
            provider=lease.provider, organization=lease.organization, model=lease.model, headers=failure.headers, now=now
        )
        if outcome != Outcome.RATE_LIMITED:
            Key.objects.filter(pk=lease.key_id).update(
                last_error=f"{failure.status or ''} {failure.code}: {detail}".strip()[:255], last_error_at=now
            )
        if outcome == Outcome.RATE_LIMITED:
            _rate_limited(lease, failure, conf, detail)
        elif outcome == Outcome.AUTH_FAILED:
            _auth_failed(lease, failure, now)
        elif outcome == Outcome.SPEND_CAP:
            cool_down(
                provider=lease.provider,
                organization=lease.organization,
                reason=CooldownReason.SPEND_CAP,
                seconds=conf.spend_cap_cooldown,
                detail=detail,
            )
            logger.error("Organization %s reached its spend cap; cooling it down.", lease.organization)
        elif outcome == Outcome.NOT_FOUND:
            cool_down(
                key_id=lease.key_id,
                provider=lease.provider,
                model=lease.model,
                reason=CooldownReason.MODEL_UNAVAILABLE,
                seconds=MODEL_UNAVAILABLE_COOLDOWN,
                detail=detail,
            )
        elif outcome == Outcome.DECOMMISSIONED:
            logger.warning("Model %s is decommissioned; switching to the alternate model.", lease.model)
        elif outcome in (Outcome.ERROR, Outcome.TIMEOUT, Outcome.CONNECTION):
            _count_error(lease, conf, detail or outcome)


def _rate_limited(lease: Lease, failure: ProviderFailure, conf: PoolSettings, detail: str) -> None:
    headers = failure.headers
    phrase = limit_phrase(failure.message)
    reset = headers.reset_requests if phrase in ("RPD",) else headers.reset_tokens if phrase in ("TPM", "TPD") else None
    seconds = headers.retry_after or retry_after_from_message(failure.message) or reset or conf.rate_limit_cooldown
    cool_down(
        provider=lease.provider,
        organization=lease.organization,
        model=lease.model,
        reason=CooldownReason.RATE_LIMIT,
        seconds=seconds,
        detail=detail,
    )


def _auth_failed(lease: Lease, failure: ProviderFailure, now) -> None:
    reason = f"Provider refused the key ({failure.status} {failure.code or 'auth'}) at {now:%Y-%m-%d %H:%M} UTC"
    if Key.objects.filter(pk=lease.key_id, enabled=True).update(enabled=False, disabled_reason=reason, disabled_at=now):
        logger.error("Key id=%s disabled: %s. An admin must replace or re-enable it.", lease.key_id, reason)


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
    logger.warning("Key id=%s cooling down for %.0fs after repeated errors.", lease.key_id, seconds)


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
    """Start a cooldown unless an active one for the same target already lasts longer.

    Earlier rows are kept as history and selection takes the latest end of the active
    ones, so a shorter cooldown can never shorten a longer one.
    """
    now = timezone.now()
    ends_at = now + timedelta(seconds=max(0.0, seconds))
    target = {"key_id": key_id} if key_id else {"organization": organization, "key__isnull": True}
    if Cooldown.objects.active(now).filter(model=model, ends_at__gte=ends_at, **target).exists():
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
