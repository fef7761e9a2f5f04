"""Incidents and the mail that tells admins about them: once when one opens, once when it ends.

`check_alerts()` compares the pool's state with the open incidents. An incident is claimed
by a conditional update before its mail is sent, so several workers checking at once send
one mail; a mail that fails to send is retried by the next check.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import mail_admins
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from keymanager.conf import default_model, pool_settings
from keymanager.models import (
    Cooldown,
    CooldownReason,
    DisabledCode,
    Incident,
    IncidentKind,
    Key,
    Outcome,
    Provider,
    UsageLog,
)
from keymanager.selectors import holding_cooldowns

logger = logging.getLogger("keymanager.alerts")


def min_outage() -> timedelta:
    """Cooldowns ending sooner than this do not make a key 'unavailable' for alerting:
    short 429 cooldowns are the pool working, not an outage."""
    return timedelta(seconds=getattr(settings, "KEYMANAGER_ALERT_MIN_OUTAGE", 120))


DECOMMISSIONED_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class Condition:
    kind: str
    subject: str
    summary: str
    detail: str


def current_conditions(now: datetime | None = None) -> dict[tuple[str, str], Condition]:
    now = now or timezone.now()
    found = [
        *_providers_down(now),
        *_keys_refused(),
        *_models_decommissioned(now),
        *_spend_caps(now),
    ]
    return {(c.kind, c.subject): c for c in found}


def _providers_down(now: datetime) -> list[Condition]:
    keys = list(Key.objects.order_by("provider", "order", "id"))
    horizon = now + min_outage()
    found = []
    for provider in Provider.values:
        mine = [k for k in keys if k.provider == provider]
        if not mine:
            continue  # a provider with no keys is not configured, not down
        model = default_model(provider)
        holding = holding_cooldowns(mine, model=model, now=now)
        lines, usable = [], 0
        for key in mine:
            cooldown = holding.get(key.pk)
            if not key.enabled:
                lines.append(f"- {key} disabled: {key.disabled_reason or 'no reason given'}")
            elif cooldown is not None and cooldown.ends_at > horizon:
                lines.append(f"- {key} cooling down until {cooldown.ends_at:%Y-%m-%d %H:%M:%S} UTC")
            else:
                usable += 1
        if not usable:
            label = Provider(provider).label
            found.append(
                Condition(
                    IncidentKind.PROVIDER_DOWN,
                    provider,
                    f"No {label} key can serve {model}",
                    f"All {len(mine)} {label} key(s) are unavailable:\n" + "\n".join(lines),
                )
            )
    return found


def _keys_refused() -> list[Condition]:
    """Keys the pool took out: refused by the provider (401/403), or undecryptable here."""
    found = []
    for key in Key.objects.filter(enabled=False, disabled_code=DisabledCode.AUTH):
        found.append(
            Condition(
                IncidentKind.KEY_AUTH,
                str(key.pk),
                f"{Provider(key.provider).label} key {key} was refused and disabled",
                f"{key.disabled_reason}\nReplace the key, or re-enable it in admin once the provider accepts it.",
            )
        )
    for key in Key.objects.filter(enabled=False, disabled_code=DisabledCode.UNDECRYPTABLE):
        found.append(
            Condition(
                IncidentKind.KEY_UNDECRYPTABLE,
                str(key.pk),
                f"{Provider(key.provider).label} key {key} cannot be decrypted and was disabled",
                "Its secret cannot be decrypted with this host's KEY_ENCRYPTION_KEYS (added on a host with "
                "other keys, or an old key was dropped before `manage.py keys rotate-encryption`). The other "
                "keys keep serving. Fix KEY_ENCRYPTION_KEYS and re-enable it, or delete and re-add the key.",
            )
        )
    return found


def _models_decommissioned(now: datetime) -> list[Condition]:
    rows = (
        UsageLog.objects.filter(outcome=Outcome.DECOMMISSIONED, created_at__gte=now - DECOMMISSIONED_WINDOW)
        .values("model")
        .annotate(last=Max("created_at"))
        .order_by("model")
    )
    alternate = pool_settings().alternate_model
    return [
        Condition(
            IncidentKind.MODEL_DECOMMISSIONED,
            row["model"],
            f"Model {row['model']} is decommissioned",
            f"The provider refused {row['model']} as decommissioned (last at {row['last']:%Y-%m-%d %H:%M:%S} UTC). "
            f"The pool falls back to {alternate}; change the default or quest model settings to stop using it.",
        )
        for row in rows
    ]


def _spend_caps(now: datetime) -> list[Condition]:
    rows = (
        Cooldown.objects.active(now)
        .filter(reason=CooldownReason.SPEND_CAP, key__isnull=True)
        .values("provider", "organization")
        .annotate(until=Max("ends_at"))
        .order_by("provider", "organization")
    )
    return [
        Condition(
            IncidentKind.SPEND_CAP,
            f"{row['provider']}/{row['organization']}",
            f"Organization {row['organization']} reached its spend cap",
            f"The provider blocked API access for {row['organization']}; its keys rest until "
            f"{row['until']:%Y-%m-%d %H:%M:%S} UTC. Raise the cap in the provider's console.",
        )
        for row in rows
    ]


@dataclass(frozen=True)
class AlertRun:
    opened: list[Incident]
    resolved: list[Incident]


def check_alerts(*, now: datetime | None = None) -> AlertRun:
    now = now or timezone.now()
    conditions = current_conditions(now)
    open_incidents = {(i.kind, i.subject): i for i in Incident.objects.filter(resolved_at__isnull=True)}
    opened, resolved = [], []
    for ident, condition in conditions.items():
        if ident not in open_incidents:
            incident = _open(condition, now)
            if incident is not None:
                opened.append(incident)
    for ident, incident in open_incidents.items():
        if ident not in conditions:
            claimed = Incident.objects.filter(pk=incident.pk, resolved_at__isnull=True).update(
                resolved_at=now, resolution=_resolution(incident)
            )
            if claimed:
                incident.refresh_from_db()
                resolved.append(incident)
    # Mail whatever is due, including mail an earlier run failed to send.
    for incident in Incident.objects.filter(notified_at__isnull=True):
        _notify(incident, recovery=False)
    for incident in Incident.objects.filter(resolved_at__isnull=False, recovery_notified_at__isnull=True):
        _notify(incident, recovery=True)
    return AlertRun(opened=opened, resolved=resolved)


def _open(condition: Condition, now: datetime) -> Incident | None:
    try:
        with transaction.atomic():
            incident = Incident.objects.create(
                kind=condition.kind,
                subject=condition.subject,
                summary=condition.summary[:255],
                detail=condition.detail,
                opened_at=now,
            )
    except IntegrityError:
        return None  # another worker opened it a moment ago
    logger.warning("Incident opened: %s", condition.summary)
    return incident


def _resolution(incident: Incident) -> str:
    if incident.kind == IncidentKind.PROVIDER_DOWN:
        return f"{Provider(incident.subject).label} keys can serve again."
    if incident.kind == IncidentKind.KEY_AUTH:
        key = Key.objects.filter(pk=int(incident.subject)).first()
        return "The key was removed from the pool." if key is None else f"{key} was re-enabled."
    if incident.kind == IncidentKind.KEY_UNDECRYPTABLE:
        key = Key.objects.filter(pk=int(incident.subject)).first()
        return "The key was removed from the pool." if key is None else f"{key} was re-enabled."
    if incident.kind == IncidentKind.MODEL_DECOMMISSIONED:
        return f"No request asked for {incident.subject} in the last hour."
    return "The spend-cap cooldown ended."


def _notify(incident: Incident, *, recovery: bool) -> bool:
    field = "recovery_notified_at" if recovery else "notified_at"
    now = timezone.now()
    if not Incident.objects.filter(pk=incident.pk, **{f"{field}__isnull": True}).update(**{field: now}):
        return False  # another worker sent it
    if recovery:
        subject = f"Resolved: {incident.summary}"
        body = f"{incident.resolution}\n\nOpened {incident.opened_at:%Y-%m-%d %H:%M:%S} UTC, resolved {incident.resolved_at:%Y-%m-%d %H:%M:%S} UTC.\n\n{incident.detail}"
    else:
        subject = incident.summary
        body = f"{incident.detail}\n\nOpened {incident.opened_at:%Y-%m-%d %H:%M:%S} UTC. You will get one more mail when it ends."
    try:
        mail_admins(subject, body)
    except Exception:
        # Release the claim so that the next check retries the mail.
        Incident.objects.filter(pk=incident.pk).update(**{field: None})
        logger.exception("Could not mail admins about: %s", incident.summary)
        return False
    return True
