"""Budget rows: the one place that reads and writes them.

A row per (provider, organization, model) holds a ledger (keymanager/ledger/) as JSON text in
`state`, a `version` for compare-and-swap, and an `inbox` that finished calls append to.

Hot path (every call): acquire reads the rows with the pool (`budget_columns`, parsed once per
row version by `ledger_of_row`) and writes one back with `budget_swap` (a compare-and-swap on
`version`); a loser claims the best row nobody holds with `budget_claim_free` (`SELECT ... FOR
UPDATE SKIP LOCKED`); a finished call appends events with `budget_tell`, in the same statement
as its usage-log row on PostgreSQL, without reading the row. Rare paths (a 429, a merge of
organizations, an admin's ceiling or reset) edit a ledger under the row's lock (`budget_edit`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import TypeVar

from django.db import connection, transaction
from django.db.models import Model, OuterRef, Subquery

from keymanager import clock
from keymanager.ledger import CEILING_KINDS, HEADER, KINDS, Ledger, apply_inbox
from keymanager.models import Budget, Key
from keymanager.selectors.limit_views import ceilings

logger = logging.getLogger("keymanager")
T = TypeVar("T")
TABLE = Budget._meta.db_table


# ----- reading rows with the pool ----------------------------------------------------------

BUDGET_COLUMNS = ("budget_id", "budget_version", "budget_state", "budget_inbox")


def budget_columns(model: str) -> dict[str, Subquery]:
    """Annotations that bring a key's organization's budget row for `model` into a key query."""
    budget = Budget.objects.filter(provider=OuterRef("provider"), organization=OuterRef("organization"), model=model)
    return {
        "budget_id": Subquery(budget.values("pk")),
        "budget_version": Subquery(budget.values("version")),
        "budget_state": Subquery(budget.values("state")),
        "budget_inbox": Subquery(budget.values("inbox")),
    }


# Parsed ledgers, per budget row, for as long as the row is unchanged: its state's hash and the
# inbox's length identify its content (between two writes of the state the inbox only grows).
# Shared read-only between threads; an admission works on a copy. Pruned again (on a fresh
# copy) when time has moved on, so dead callers' admissions are handed back even while nobody
# writes the row.
_parsed: dict[int, tuple[int, int, float, Ledger]] = {}
REPRUNE_AFTER = 0.5


def ledger_of_row(budget_id: int | None, version: int, state: str | None, inbox: str | None, now: float) -> Ledger:
    """A row's ledger as of now, inbox folded in (cached per row content; do not modify)."""
    inbox = inbox or ""
    identity = hash((version, state))
    cached = _parsed.get(budget_id) if budget_id is not None else None
    if cached is not None and cached[0] == identity and cached[1] == len(inbox):
        if now - cached[2] < REPRUNE_AFTER:
            return cached[3]
        ledger = cached[3].copy()
    else:
        ledger = Ledger.loads(state)
        apply_inbox(ledger, inbox)
    ledger.prune(now)
    if budget_id is not None:
        _parsed[budget_id] = (identity, len(inbox), now, ledger)
    return ledger


def ledger_of(budget: Budget, now: float | None = None) -> Ledger:
    """A budget's ledger as of now, for readers (nothing is written)."""
    ledger = Ledger.loads(budget.state)
    apply_inbox(ledger, budget.inbox)
    ledger.prune(clock.now() if now is None else now)
    return ledger


# ----- creating rows -------------------------------------------------------------------------

def budget_rows_ensure(provider: str, organizations: Iterable[str], model: str) -> None:
    """Create the missing budget rows, with the admins' ceilings that apply to them."""
    organizations = list(organizations)
    existing = set(
        Budget.objects.filter(provider=provider, model=model, organization__in=organizations).values_list(
            "organization", flat=True
        )
    )
    missing = [org for org in organizations if org not in existing]
    if missing:
        Budget.objects.bulk_create(
            [
                Budget(provider=provider, organization=org, model=model,
                       state=Ledger(ceilings=ceilings(provider, org, model)).dumps())
                for org in missing
            ],
            ignore_conflicts=True,
        )


# ----- the hot path: compare-and-swap, the contended claim, the inbox ---------------------

def budget_swap(*, budget_id: int, version: int, inbox_len: int, state: str) -> bool:
    """Write the new state only if nobody wrote the row since it was read (habit: claim by a
    conditional update and check the row count). Events appended to the inbox since then are
    kept: only the prefix folded into `state` is consumed."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {TABLE} SET state = %s, version = version + 1, inbox = SUBSTR(inbox, %s), updated_at = %s "
            "WHERE id = %s AND version = %s",
            [state, inbox_len + 1, connection.ops.adapt_datetimefield_value(clock.now_datetime()), budget_id, version],
        )
        return cursor.rowcount == 1


def budget_claim_free(budget_ids: list[int], decide: Callable[[int, Ledger], tuple[T, Ledger] | None]) -> T | None:
    """Under contention: lock the first of `budget_ids` (in their order) that no other worker
    holds (PostgreSQL: FOR UPDATE SKIP LOCKED, so workers spread over organizations instead of
    racing for one; SQLite's IMMEDIATE transaction serializes writers anyway), let `decide`
    judge its fresh ledger, and store what it returns. None when every row is held or none
    takes the call."""
    pending = list(budget_ids)
    skip = connection.features.has_select_for_update_skip_locked
    with transaction.atomic(), connection.cursor() as cursor:
        while pending:
            if skip:
                order = " ".join(f"WHEN {int(pk)} THEN {i}" for i, pk in enumerate(pending))
                cursor.execute(
                    f"SELECT id, version, state, inbox FROM {TABLE} WHERE id IN ({', '.join(['%s'] * len(pending))}) "
                    f"ORDER BY CASE id {order} END LIMIT 1 FOR UPDATE SKIP LOCKED",
                    pending,
                )
            else:
                cursor.execute(f"SELECT id, version, state, inbox FROM {TABLE} WHERE id = %s", [pending[0]])
            found = cursor.fetchone()
            if found is None:
                return None  # every one is held by another worker this instant
            budget_id, version, state, inbox = found
            pending.remove(budget_id)
            ledger = Ledger.loads(state)
            apply_inbox(ledger, inbox or "")
            ledger.prune(clock.now())
            decided = decide(budget_id, ledger)
            if decided is None:
                continue
            result, ledger = decided
            cursor.execute(
                f"UPDATE {TABLE} SET state = %s, version = %s, inbox = '', updated_at = %s WHERE id = %s",
                [ledger.dumps(), version + 1, connection.ops.adapt_datetimefield_value(clock.now_datetime()),
                 budget_id],
            )
            return result
    return None


@lru_cache(maxsize=8)
def _insert_sql(model: type[Model], vendor: str) -> tuple[str, tuple]:
    fields = tuple(f for f in model._meta.concrete_fields if not f.primary_key)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    return f"INSERT INTO {model._meta.db_table} ({columns}) VALUES ({marks})", fields


def _insert_params(row: Model, fields: tuple) -> list:
    return [f.get_db_prep_save(f.pre_save(row, True), connection) for f in fields]


def budget_tell(budget_id: int, events: str, *, key_id: int | None = None, model: str = "",
                log: Model | None = None) -> None:
    """Append events for the next acquire to fold in, without reading the row, and insert
    `log` (a usage-log row) with them: one statement on PostgreSQL (a data-modifying WITH),
    two elsewhere. When the row is gone (its organization was merged into another) the events
    follow key `key_id` into its organization's budget for `model`: that budget absorbed the
    admissions they settle."""
    if log is not None and connection.vendor == "postgresql" and events:
        sql, fields = _insert_sql(type(log), connection.vendor)
        with connection.cursor() as cursor:
            cursor.execute(f"WITH log AS ({sql}) UPDATE {TABLE} SET inbox = inbox || %s WHERE id = %s",
                           [*_insert_params(log, fields), events, budget_id])
            told = cursor.rowcount == 1
    else:
        if log is not None:
            log.save(force_insert=True)
        if not events:
            return
        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE {TABLE} SET inbox = inbox || %s WHERE id = %s", [events, budget_id])
            told = cursor.rowcount == 1
    if not told and key_id is not None and model:
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {TABLE} SET inbox = inbox || %s WHERE model = %s AND (provider, organization) = "
                f"(SELECT provider, organization FROM {Key._meta.db_table} WHERE id = %s)",
                [events, model, key_id],
            )


# ----- rare paths under the row lock ------------------------------------------------------

def budget_edit(*, provider: str, organization: str, model: str, edit: Callable[[Ledger, float], T]) -> T:
    """Edit one budget's ledger under its row lock (rare paths: 429s, probes, resets)."""
    budget_rows_ensure(provider, [organization], model)
    with transaction.atomic():
        row = Budget.objects.select_for_update().get(provider=provider, organization=organization, model=model)
        ledger = Ledger.loads(row.state)
        apply_inbox(ledger, row.inbox)
        now = clock.now()
        ledger.prune(now)
        result = edit(ledger, now)
        Budget.objects.filter(pk=row.pk).update(state=ledger.dumps(), inbox="", version=row.version + 1)
    return result


def budgets_push_ceilings(*, provider: str, model: str) -> int:
    """Copy the admins' ceilings onto every budget row of (provider, model), under each row's
    lock. A ceiling an admin changes is news about the organization: what a 429 or a probe taught
    of that limit is dropped, so the admin's value is worked up to at once (a limit the headers
    state is restated by every reply and stays)."""
    changed = 0
    for budget_id, organization in Budget.objects.filter(provider=provider, model=model).values_list(
        "pk", "organization"
    ):
        wanted = ceilings(provider, organization, model)
        with transaction.atomic():
            row = Budget.objects.select_for_update().get(pk=budget_id)
            ledger = Ledger.loads(row.state)
            apply_inbox(ledger, row.inbox)
            if ledger.ceilings == wanted:
                continue
            moved = tuple(k for k in CEILING_KINDS if ledger.ceilings.get(k) != wanted.get(k)
                          and ledger.learned.get(k, None) is not None and ledger.learned[k].source != HEADER)
            ledger.ceilings = wanted
            ledger.forget(moved)
            Budget.objects.filter(pk=budget_id).update(state=ledger.dumps(), inbox="", version=row.version + 1)
            changed += 1
    return changed


def budgets_forget_learned(*, provider: str | None = None, organization: str | None = None,
                           model: str | None = None, kinds: tuple[str, ...] = KINDS) -> int:
    """An admin's reset: what the budgets learned of their limits is dropped (the shipped
    guesses stand again and the provider's next word restates the rest). Returns the rows reset."""
    rows = Budget.objects.all()
    if provider:
        rows = rows.filter(provider=provider)
    if organization:
        rows = rows.filter(organization=organization)
    if model:
        rows = rows.filter(model=model)
    count = 0
    for budget_id in rows.values_list("pk", flat=True):
        with transaction.atomic():
            row = Budget.objects.select_for_update().filter(pk=budget_id).first()
            if row is None:
                continue
            ledger = Ledger.loads(row.state)
            apply_inbox(ledger, row.inbox)
            ledger.forget(kinds)
            Budget.objects.filter(pk=budget_id).update(state=ledger.dumps(), inbox="", version=row.version + 1)
            count += 1
    return count


def budgets_merge(*, provider: str, old: str, new: str, keys_left: bool) -> list[str]:
    """A key of `old` belongs to `new`: for every model `old` has a budget for, `new` gets one.

    When no key is left in `old`, its budgets were `new`'s all along: their usage and what they
    learned are absorbed into `new`'s and the old rows are deleted (late events follow the key).
    When keys are left, the usage cannot be split by key: it stays in `old` (an upper bound its
    own provider's word will correct), and `new` relies on what its provider says; nothing is
    counted twice. Runs inside the caller's transaction; returns the models merged."""
    models = list(Budget.objects.filter(provider=provider, organization=old).values_list("model", flat=True))
    for model in models:
        budget_rows_ensure(provider, [new], model)
    # Lock both organizations' rows in one order (by id): no deadlock with another merge.
    rows = list(
        Budget.objects.select_for_update()
        .filter(provider=provider, organization__in=(old, new), model__in=models)
        .order_by("pk")
    )
    by = {(r.organization, r.model): r for r in rows}
    for model in models:
        source_row, target_row = by[(old, model)], by[(new, model)]
        if keys_left:
            continue
        target = Ledger.loads(target_row.state)
        apply_inbox(target, target_row.inbox)
        theirs = Ledger.loads(source_row.state)
        apply_inbox(theirs, source_row.inbox)
        target.absorb(theirs)
        target.ceilings = ceilings(provider, new, model)
        Budget.objects.filter(pk=target_row.pk).update(state=target.dumps(), inbox="", version=target_row.version + 1)
        source_row.delete()
    return models
