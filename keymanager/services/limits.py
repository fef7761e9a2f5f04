"""Admins' ceilings on rate limits: set, clear, and copied onto the budgets they cap.

The pool's working value of each limit lives in each budget's ledger (keymanager/ledger.py):
learned from the provider's headers and 429 bodies, else the shipped guess
(selectors/limits.py), capped by an admin's ceiling (`Limit` rows). Ceilings are copied
onto the budget rows they apply to when they change, so a call reads them with its budget
and needs no query of its own.
"""

from __future__ import annotations

import logging

from django.db import transaction

from keymanager.ledger import KINDS, Ledger
from keymanager.models import Budget, Limit
from keymanager.selectors.limits import ceilings

logger = logging.getLogger("keymanager")

def _push_ceilings(provider: str, model: str) -> int:
    """Copy the ceilings onto every budget row of (provider, model), under each row's lock."""
    changed = 0
    for budget_id, organization in Budget.objects.filter(provider=provider, model=model).values_list(
        "pk", "organization"
    ):
        wanted = ceilings(provider, organization, model)
        with transaction.atomic():
            row = Budget.objects.select_for_update().get(pk=budget_id)
            ledger = Ledger.loads(row.state)
            if ledger.ceilings == wanted:
                continue
            ledger.ceilings = wanted
            Budget.objects.filter(pk=budget_id).update(state=ledger.dumps(), version=row.version + 1)
            changed += 1
    return changed


def limit_set(*, provider: str, model: str, organization: str = "", **values: int | None) -> tuple[Limit, bool]:
    """Create or change an admin's ceiling; the budgets it caps learn it at once (the
    Limit signals in apps.py call `limit_saved`). Returns (limit, created)."""
    unknown = set(values) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown limit kinds: {', '.join(sorted(unknown))}")
    limit, created = Limit.objects.update_or_create(
        provider=provider, organization=organization.strip(), model=model.strip(), defaults=values
    )
    logger.info("Ceiling for %s / %s set: %s", limit.organization or "every organization", limit.model, values)
    return limit, created


def limit_saved(*, limit: Limit) -> None:
    """A Limit row changed or went away: copy the ceilings onto the budgets it applies to."""
    _push_ceilings(limit.provider, limit.model)


def limit_clear(*, provider: str, model: str, organization: str = "") -> bool:
    """Remove a ceiling; the budgets it capped learn that at once (signal). False if none."""
    deleted, _ = Limit.objects.filter(provider=provider, model=model.strip(), organization=organization.strip()).delete()
    return bool(deleted)
