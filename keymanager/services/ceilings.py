"""Admins' ceilings on rate limits: set, clear, and copied onto the budgets they cap.

The pool's working value of each limit lives in each budget's ledger (keymanager/ledger/):
learned from the provider's headers and 429 bodies, else the shipped guess
(selectors/limit_views.py), capped by an admin's ceiling (`Limit` rows). Ceilings are copied
onto the budget rows they apply to when they change, so a call reads them with its budget
and needs no query of its own.
"""

from __future__ import annotations

import logging

from keymanager.ledger import CEILING_KINDS
from keymanager.models import Limit
from keymanager.services.budgets import budgets_forget_learned, budgets_push_ceilings

logger = logging.getLogger("keymanager")


def limit_set(*, provider: str, model: str, organization: str = "", **values: int | None) -> tuple[Limit, bool]:
    """Create or change an admin's ceiling; the budgets it caps learn it at once (the
    Limit signals in apps.py call `limit_saved`). Returns (limit, created)."""
    unknown = set(values) - set(CEILING_KINDS)
    if unknown:
        raise ValueError(f"unknown limit kinds: {', '.join(sorted(unknown))}")
    limit, created = Limit.objects.update_or_create(
        provider=provider, organization=organization.strip(), model=model.strip(), defaults=values
    )
    logger.info("Ceiling for %s / %s set: %s", limit.organization or "every organization", limit.model, values)
    return limit, created


def limit_saved(*, limit: Limit) -> None:
    """A Limit row changed or went away: copy the ceilings onto the budgets it applies to."""
    budgets_push_ceilings(provider=limit.provider, model=limit.model)


def limit_clear(*, provider: str, model: str, organization: str = "") -> bool:
    """Remove a ceiling; the budgets it capped learn that at once (signal). False if none."""
    deleted, _ = Limit.objects.filter(provider=provider, model=model.strip(), organization=organization.strip()).delete()
    return bool(deleted)


def limits_reset(*, provider: str | None = None, organization: str | None = None, model: str | None = None) -> int:
    """Forget what the budgets learned of their limits (429s, probes, headers): the shipped
    guesses and the admins' ceilings stand again until the provider speaks. For an admin who
    knows the organization changed tier. Returns the budgets reset."""
    count = budgets_forget_learned(provider=provider, organization=organization, model=model)
    logger.warning("Learned limits reset on %d budget(s) (provider=%s, organization=%s, model=%s).", count,
                   provider or "any", organization or "any", model or "any")
    return count
