"""Counting pool events that leave no row of their own (PoolEventCount), for /metrics.

One conditional UPDATE per event (a row per label set, created on first use), on paths that
are already slow (a refusal, an exhausted call): a served call writes nothing here. A counter
that cannot be written (the database is what just failed) is logged and skipped: counting
never turns into the caller's error.
"""

from __future__ import annotations

import logging

from django.db import DatabaseError
from django.db.models import F

from keymanager.ledger import KINDS
from keymanager.models import PoolEvent, PoolEventCount

logger = logging.getLogger("keymanager")

LIMIT_KINDS = KINDS  # every limit a 429 can name


def event_count(*, event: str, provider: str, organization: str = "", model: str = "", detail: str = "") -> None:
    labels = {
        "event": event,
        "provider": provider,
        "organization": organization[:100],
        "model": model[:100],
        "detail": detail[:16],
    }
    try:
        if PoolEventCount.objects.filter(**labels).update(count=F("count") + 1):
            return
        PoolEventCount.objects.bulk_create([PoolEventCount(**labels, count=0)], ignore_conflicts=True)
        PoolEventCount.objects.filter(**labels).update(count=F("count") + 1)
    except DatabaseError as exc:
        logger.warning("Pool event %s not counted: %s", event, type(exc).__name__)


def count_exhausted(*, provider: str, model: str) -> None:
    event_count(event=PoolEvent.EXHAUSTED, provider=provider, model=model)


def count_refusal(*, provider: str, organization: str, model: str, limit_kind: str | None) -> None:
    """A 429, by the limit its body named ("" when it named none the pool knows)."""
    kind = limit_kind if limit_kind in LIMIT_KINDS else ""
    event_count(event=PoolEvent.REFUSED, provider=provider, organization=organization, model=model, detail=kind)
