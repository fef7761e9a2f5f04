"""What the pool does with the result of each attempt (keymanager/outcome_rules.py).

A success costs one statement on PostgreSQL: the usage-log row and the append to the budget
row's inbox (settle the tokens to the provider's count, the provider's word on its windows).
The key row is touched only when something about it changed. Failures follow the outcome
table: what the provider did not count is handed back, and a 429's learning (the limit it
names, what it counted, when the refused request fits, the organization) is done under the
budget's row lock. Every 429 ends in a wait.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db.models import F

from keymanager import clock
from keymanager.conf import PoolSettings
from keymanager.ledger import (
    DAY,
    MINUTE,
    MINUTE_KINDS,
    PROBE_DONE,
    REFUSAL,
    Ledger,
    flex_event,
    success_event,
    word_event,
)
from keymanager.models import Cooldown, CooldownReason, DisabledCode, Key, OrganizationSource, Outcome, UsageLog
from keymanager.outcome_rules import OUTCOME_RULES
from keymanager.outcome_rules import Cooldown as CooldownRule
from keymanager.services.budgets import budget_edit, budget_tell
from keymanager.services.events import count_refusal
from keymanager.services.headers import RateLimitHeaders, parse_rate_limit_message, reset_for, window_reports
from keymanager.services.leases import Lease
from keymanager.services.organizations import key_move_organization
from keymanager.services.providers import CallResult, ProviderFailure
from keymanager.services.redaction import redact

logger = logging.getLogger("keymanager")

MODEL_UNAVAILABLE_COOLDOWN = 3600.0
# A 429 that names no usable wait: the organization waits this long, doubling with each
# refusal since its last success, up to KEYMANAGER_RATE_LIMIT_COOLDOWN.
REFUSAL_BACKOFF = 1.0


def _words(lease: Lease, headers: RateLimitHeaders, received: float, *, own_tokens: int) -> str:
    """The provider's word on each window its headers report, in its own meaning."""
    events = ""
    for report in window_reports(lease.provider, headers):
        own = 1 if report.kind in ("rpm", "rpd") else own_tokens
        events += word_event(report.kind, sent=lease.send_at, received=received, limit=report.limit,
                             remaining=report.remaining, reset=report.reset, own=own)
    return events


def _log_row(lease: Lease, **fields) -> UsageLog:
    return UsageLog(
        request_id=lease.request_id,
        key_id=lease.key_id,
        provider=lease.provider,
        organization=lease.organization,
        model=lease.model,
        purpose=lease.purpose,
        quest=lease.quest,
        attempt=lease.attempt,
        created_at=lease.admitted_at,
        finished_at=clock.now_datetime(),
        **fields,
    )


def record_success(lease: Lease, result: CallResult) -> None:
    received = clock.now()
    # What the provider counts: the prompt less its cached part, and the output.
    counted_input = max(0, result.prompt_tokens - result.cached_tokens)
    reported = result.total_tokens > 0
    counted = counted_input + result.completion_tokens if reported else lease.cost.tokens
    log = _log_row(
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
    events = ""
    if reported:
        events += lease.settle((0, counted_input - lease.cost.input, result.completion_tokens - lease.cost.output))
    else:
        events += lease.settle((0, 0, 0))
    events += success_event(lease.send_at, prompt_ours=lease.prompt_count, prompt_theirs=result.prompt_tokens)
    events += _words(lease, result.headers, received, own_tokens=counted)
    if result.service_tier == "flex":
        events += flex_event(True, received)
    if lease.probe:
        events += PROBE_DONE
    budget_tell(lease.budget_id, events, key_id=lease.key_id, model=lease.budget_model, log=log)
    if lease.key_errors or lease.stamp_key:
        Key.objects.filter(pk=lease.key_id).update(
            last_used_at=lease.admitted_at, last_success_at=clock.now_datetime(), consecutive_errors=0,
            cooldown_streak=0,
        )


def record_failure(lease: Lease, failure: ProviderFailure, conf: PoolSettings) -> None:
    outcome = failure.outcome
    rule = OUTCOME_RULES[outcome]
    log = _log_row(
        lease,
        outcome=outcome,
        http_status=failure.status,
        error_code=failure.code[:64],
        latency_ms=failure.latency_ms,
        budget_tokens=lease.cost.tokens if rule.counted else 0,
    )
    if outcome == Outcome.RATE_LIMITED:
        log.save(force_insert=True)
        _rate_limited(lease, failure, conf)  # edits the budget under its lock, release included
    else:
        if rule.counted:
            events = lease.settle((0, 0, 0)) + (PROBE_DONE if lease.probe else "")
        else:
            events = lease.release()
        events += _words(lease, failure.headers, clock.now(), own_tokens=lease.cost.tokens if rule.counted else 0)
        if outcome == Outcome.TIER_UNAVAILABLE:
            events += flex_event(False, clock.now())  # this organization has no flex: on-demand only
        budget_tell(lease.budget_id, events, key_id=lease.key_id, model=lease.budget_model, log=log)
        Key.objects.filter(pk=lease.key_id).update(
            last_used_at=lease.admitted_at,
            last_error=f"{failure.status or ''} {failure.code}: {failure.message}".strip()[:255],
            last_error_at=clock.now_datetime(),
        )
    if rule.cooldown == CooldownRule.DISABLE_KEY:
        _auth_failed(lease, failure)
    elif rule.cooldown == CooldownRule.ORGANIZATION:
        cool_down(provider=lease.provider, organization=lease.organization, reason=CooldownReason.SPEND_CAP,
                  seconds=conf.spend_cap_cooldown, detail=failure.message)
        logger.error("Organization %s reached its spend cap; cooling it down.", lease.organization)
    elif rule.cooldown == CooldownRule.KEY_MODEL:
        cool_down(key_id=lease.key_id, provider=lease.provider, model=lease.model,
                  reason=CooldownReason.MODEL_UNAVAILABLE, seconds=MODEL_UNAVAILABLE_COOLDOWN, detail=failure.message)
    elif rule.cooldown == CooldownRule.KEY_ERRORS:
        _count_error(lease, conf, failure.message or outcome)
    elif outcome == Outcome.DECOMMISSIONED:
        logger.warning("Model %s is decommissioned; switching to the alternate model.", lease.model)
    elif outcome == Outcome.TOO_LARGE:
        _too_large(lease, failure)


def record_not_sent(lease: Lease, *, code: str) -> None:
    """The attempt never reached the provider (e.g. the key cannot be decrypted): log it,
    and give its admission back."""
    log = _log_row(lease, outcome=Outcome.BAD_REQUEST, error_code=code[:64], budget_tokens=0, latency_ms=0)
    budget_tell(lease.budget_id, lease.release(), key_id=lease.key_id, model=lease.budget_model, log=log)


def refusal_wait(provider: str, said, headers: RateLimitHeaders) -> float | None:
    """The wait a 429 names, the most precise first: the message's "try again in 2.5s", the
    retry-after header, the named window's reset; never longer than that limit's period.
    None when it names no usable (positive) wait."""
    period = (MINUTE if said.kind in MINUTE_KINDS else DAY) if said.kind else None
    for seconds in (said.try_again, headers.retry_after, reset_for(provider, said.kind, headers) if said.kind else None):
        if seconds is not None and seconds > 0:
            return min(seconds, period) if period else seconds
    return None


def _rate_limited(lease: Lease, failure: ProviderFailure, conf: PoolSettings) -> None:
    """Learn what the 429 says, then hold the (organization, model) until the refused request
    fits: the wait it names, or a backoff when it names none."""
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
    named = refusal_wait(lease.provider, said, headers)
    received = clock.now()

    def learn(ledger: Ledger, now: float) -> float:
        if organization == lease.organization:
            ledger.settle(lease.token, lease.mslot, lease.cost.negative())  # refused: not counted
        ledger.refused(at=now, kind=said.kind, limit=said.limit, used=said.used, wait=named,
                       requested=said.requested)
        for report in window_reports(lease.provider, headers):
            ledger.hear(report.kind, sent=lease.send_at, received=received, limit=report.limit,
                        remaining=report.remaining, reset=report.reset, own=0)
        return named if named is not None else ledger.backoff(REFUSAL_BACKOFF, conf.rate_limit_cooldown)

    seconds = budget_edit(provider=lease.provider, organization=organization, model=lease.budget_model, edit=learn)
    count_refusal(provider=lease.provider, organization=organization, model=lease.model, limit_kind=said.kind)
    if organization != lease.organization:
        budget_tell(lease.budget_id, lease.release(), key_id=lease.key_id, model=lease.budget_model)
    cooldown = cool_down(
        provider=lease.provider,
        organization=organization,
        model=lease.model,
        reason=CooldownReason.RATE_LIMIT,
        seconds=seconds,
        detail=failure.message,
    )
    logger.warning(
        "429 for key id=%s (%s), organization %s, model %s%s: organization held %s.",
        lease.key_id, lease.key_name, organization, lease.model,
        f" ({said.kind.upper()} limit {said.limit})" if said.kind and said.limit else "",
        f"until {cooldown.ends_at:%H:%M:%S} UTC" if cooldown else "by a longer cooldown already",
    )


def _too_large(lease: Lease, failure: ProviderFailure) -> None:
    """A 413 states the limit the request cannot fit: it is learned, as a 429's is. (Its count of
    the request is not taken into the token ratio: a 413 comes exactly when our count was low
    for that text, and the ratio is meant for the prompts the pool usually sends.)"""
    said = parse_rate_limit_message(failure.message)
    if said.kind and said.limit:
        budget_edit(provider=lease.provider, organization=lease.organization, model=lease.budget_model,
                    edit=lambda ledger, now: ledger.learn(said.kind, said.limit, REFUSAL, now))


def _auth_failed(lease: Lease, failure: ProviderFailure) -> None:
    now = clock.now_datetime()
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
    now = clock.now_datetime()
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
    Times are the pool's clock (the database's), like every slot.
    """
    if seconds <= 0:
        return None
    now = clock.now_datetime()
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
