"""Just before sending: a call that waited for its reserved slot checks the little state that
decides it (one query), and hands its admission back when the slot is no longer valid."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from keymanager import clock
from keymanager.ledger import still_fits
from keymanager.ledger.ring import MARGIN
from keymanager.models import Key
from keymanager.selectors.limit_views import guesses
from keymanager.services.budgets import budget_columns, budget_tell, ledger_of_row
from keymanager.services.leases import Lease
from keymanager.services.pool_read import ANNOTATIONS, as_datetime, cooling, epoch


def _recheck_queryset(lease: Lease, now: datetime) -> QuerySet:
    annotations = {**cooling(lease.model, now), **budget_columns(lease.budget_model)}
    return Key.objects.filter(pk=lease.key_id).annotate(**annotations).values("enabled", "organization", *ANNOTATIONS)


def recheck(lease: Lease) -> bool:
    """Whether a call that waited for its slot may still be sent (one query): its key is
    enabled and in the same organization, nothing cools it or its organization now, and its
    admission still fits its budget as the budget is now (a 429, a lowered ceiling or the
    provider's word may have changed it while the call slept)."""
    now = clock.now()
    row = _recheck_queryset(lease, clock.as_datetime(now)).first()
    if row is None or not row["enabled"] or row["organization"] != lease.organization:
        return False
    if max(epoch(as_datetime(row["key_cooling"])), epoch(as_datetime(row["org_cooling"]))) > now:
        return False
    if row["budget_id"] != lease.budget_id:
        return False
    ledger = ledger_of_row(row["budget_id"], row["budget_version"], row["budget_state"], row["budget_inbox"], now)
    return still_fits(ledger, guesses(lease.provider, lease.budget_model), token=lease.token, mslot=lease.mslot,
                      cost=lease.cost, now=now, probe=lease.probe)


def release(lease: Lease) -> None:
    """Hand a lease's admission back without sending (its slot became invalid)."""
    budget_tell(lease.budget_id, lease.release(), key_id=lease.key_id, model=lease.budget_model)


def late(lease: Lease) -> bool:
    """Whether this process woke too late for its slot: sent now, the request would sit in
    windows the ledger did not count it in (half the margin is for waking, half for the wire)."""
    return clock.now() - lease.send_at > MARGIN / 2
