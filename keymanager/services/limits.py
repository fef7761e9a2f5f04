"""Rate limits: shipped first guesses, admins' ceilings, and what is learned per budget.

The pool's working value of each limit lives in each budget's ledger (services/ledger.py):
learned from the provider's headers and 429 bodies, else the shipped guess below, capped
by an admin's ceiling (`Limit` rows). Ceilings are copied onto the budget rows they apply
to when they change, so a call reads them with its budget and needs no query of its own.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import transaction

from keymanager.models import Budget, Limit, Provider
from keymanager.services.ledger import CEILING, GUESS, KINDS, Ledger

logger = logging.getLogger("keymanager")

# Groq's published free-tier values (GROQ_FACTS.md): RPM, RPD, TPM, TPD per (organization,
# model). First guesses only: the provider's headers and 429s replace them, and a guess may
# be passed by one probing call at a time (an organization on another tier has other limits).
GROQ_FREE_TIER: dict[str, dict[str, int]] = {
    "openai/gpt-oss-20b": {"rpm": 30, "rpd": 1000, "tpm": 8000, "tpd": 200000},
    "openai/gpt-oss-120b": {"rpm": 30, "rpd": 1000, "tpm": 8000, "tpd": 200000},
    "qwen/qwen3.6-27b": {"rpm": 30, "rpd": 1000, "tpm": 8000, "tpd": 200000},
    "llama-3.3-70b-versatile": {"rpm": 30, "rpd": 1000, "tpm": 12000, "tpd": 100000},
    "llama-3.1-8b-instant": {"rpm": 30, "rpd": 14400, "tpm": 6000, "tpd": 500000},
}
# A Groq model the table does not know: the strictest published values.
GROQ_UNKNOWN_MODEL = {"rpm": 30, "rpd": 1000, "tpm": 6000, "tpd": 100000}


def guesses(provider: str, model: str) -> dict[str, int | None]:
    """The shipped first guess per limit; OpenAI ships none (unlimited until told or refused)."""
    if provider != Provider.GROQ:
        return dict.fromkeys(KINDS)
    return dict(GROQ_FREE_TIER.get(model, GROQ_UNKNOWN_MODEL))


def ceilings(provider: str, organization: str, model: str) -> dict[str, int]:
    """An admin's ceilings for one budget: the organization's own Limit row, else the default."""
    rows = {
        row.organization: row
        for row in Limit.objects.filter(provider=provider, model=model, organization__in=("", organization))
    }
    row = rows.get(organization) or rows.get("")
    if row is None:
        return {}
    return {kind: getattr(row, kind) for kind in KINDS if getattr(row, kind) is not None}


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


@dataclass(frozen=True)
class LimitView:
    """One limit of one budget as admins see it: value, where it came from, and when."""

    kind: str
    value: int | None
    source: str  # "default", "probe", "header", "429", "admin", "" (none)
    learned_at: float | None
    hard: bool

    @property
    def source_label(self) -> str:
        return {
            GUESS: "shipped default (first guess)",
            "probe": "raised by probing (unconfirmed)",
            "header": "x-ratelimit header",
            "429": "429 body",
            CEILING: "admin ceiling",
            "": "none",
        }.get(self.source, self.source)


def limit_views(ledger: Ledger, provider: str, model: str) -> list[LimitView]:
    """Per kind, the value the pool works with and its origin (same rule as Ledger.limits)."""
    shipped = guesses(provider, model)
    working = ledger.limits(shipped)
    views = []
    for kind in KINDS:
        value, hard = working[kind]
        learned = ledger.learned.get(kind)
        ceiling = ledger.ceilings.get(kind)
        before = learned.value if learned is not None else shipped.get(kind)
        if ceiling is not None and (before is None or ceiling <= before):
            source, at = CEILING, None
        elif learned is not None:
            source, at = learned.source, learned.at
        elif before is not None:
            source, at = GUESS, None
        else:
            source, at = "", None
        views.append(LimitView(kind, None if value == float("inf") else int(value), source, at, hard))
    return views


def limit_clear(*, provider: str, model: str, organization: str = "") -> bool:
    """Remove a ceiling; the budgets it capped learn that at once (signal). False if none."""
    deleted, _ = Limit.objects.filter(provider=provider, model=model.strip(), organization=organization.strip()).delete()
    return bool(deleted)
