"""Budget rows: created on first use, told about finished calls, edited under their lock.

Hot path (every call): `acquire` reads the rows and writes one back with a compare-and-swap
(selection.py); a finished call appends events to the row's inbox with one UPDATE
(`budget_tell`), without reading it. Rare events (a 429, a merge of organizations, an
admin's ceiling) edit the ledger under the row's lock (`budget_edit`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import connection, transaction

from keymanager.ledger import Ledger, apply_inbox
from keymanager.models import Budget
from keymanager.selectors.limits import ceilings

DEFAULT_MAX_TOKENS = 1024
T = TypeVar("T")


def estimate_prompt_tokens(messages: list[dict]) -> int:
    """An upper estimate of the prompt's tokens: about 3 characters per token, and at least
    one token per word or punctuation mark, plus per-message overhead.

    Real tokenizers average about 4 characters per token in English; erring high holds a
    little more of the reservation until the provider's own count replaces it.
    """
    total = 0
    for message in messages:
        content = message.get("content") or ""
        if not isinstance(content, str):
            content = str(content)
        words = len(content.split())
        marks = sum(1 for ch in content if not ch.isalnum() and not ch.isspace())
        total += max(math.ceil(len(content) / 3), words + marks) + 6
    return total + 3


def budget_rows_ensure(provider: str, organizations: list[str], model: str) -> None:
    """Create the missing budget rows, with the admins' ceilings that apply to them."""
    existing = set(
        Budget.objects.filter(provider=provider, model=model, organization__in=organizations).values_list(
            "organization", flat=True
        )
    )
    missing = [org for org in organizations if org not in existing]
    if missing:
        Budget.objects.bulk_create(
            [
                Budget(
                    provider=provider,
                    organization=org,
                    model=model,
                    state=Ledger(ceilings=ceilings(provider, org, model)).dumps(),
                )
                for org in missing
            ],
            ignore_conflicts=True,
        )


def budget_tell(budget_id: int, events: str) -> None:
    """Append events for the next acquire to fold in: one UPDATE, no read (plain SQL: on
    the hot path, compiling the ORM's update would cost more than running it)."""
    if events:
        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE {Budget._meta.db_table} SET inbox = inbox || %s WHERE id = %s", [events, budget_id])


def budget_edit(*, provider: str, organization: str, model: str, edit: Callable[[Ledger, float], T]) -> T:
    """Edit one budget's ledger under its row lock (rare paths: 429s, merges, probes)."""
    budget_rows_ensure(provider, [organization], model)
    with transaction.atomic():
        row = Budget.objects.select_for_update().get(provider=provider, organization=organization, model=model)
        ledger = Ledger.loads(row.state)
        apply_inbox(ledger, row.inbox)
        now = time.time()
        ledger.prune(now)
        result = edit(ledger, now)
        Budget.objects.filter(pk=row.pk).update(state=ledger.dumps(), inbox="", version=row.version + 1)
    return result
