"""Choosing a key: one read, a decision, one compare-and-swap; then the HTTP call.

1. One query reads every enabled key of the provider with its cooldowns (the one rule in
   `CooldownQuerySet.holding`) and its organization's budget row for the model.
2. Each organization's ledger says when the call fits: now, or at the earliest free slot
   (keymanager/ledger.py). Smart: of those that fit now, the most headroom, ties to the least
   recently used key; quest-based: quest N's key first. When none fits now, the earliest
   slot within the call's wait is reserved: first come, first served, across threads,
   processes and hosts, because every reservation is written to the one shared row.
3. The chosen row is written back only if its `version` is unchanged (compare-and-swap
   under the row's lock): two workers can never both take the last
   slot. A worker that loses takes the best organization nobody else holds at that instant,
   under its row lock (`SELECT ... FOR UPDATE SKIP LOCKED`; an IMMEDIATE transaction on
   SQLite), judged again on the fresh row. For the next second it then picks at random among
   organizations about as good as the best, so workers reading the same state stop all
   choosing the same row.

No transaction or lock is held across the HTTP call, and the usage log is never read.
"""

from __future__ import annotations

import logging
import math
import random
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from django.db import connection, transaction
from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from keymanager.ledger import NO_PEERS, Fit, Ledger, Peers, apply_inbox, fit, headroom, peers_of, probe_raise
from keymanager.models import Budget, Cooldown, Key
from keymanager.selectors.limits import guesses
from keymanager.services.budgets import budget_rows_ensure

logger = logging.getLogger("keymanager")

# How long a call admitted past an unconfirmed limit keeps others from probing too.
PROBE_HOLD = 30.0
# After this process loses a compare-and-swap, it picks among equally good organizations at
# random for this long, so workers reading the same state stop all choosing the same row.
SPREAD_AFTER_LOSS = 1.0
SPREAD_HEADROOM = 0.05  # "about as good": within this share of the limits
_spread_until = 0.0
# Key.last_used_at is for people (admin, status); refreshing it at most this often keeps
# a write off the hot path. Selection's own least-recently-used order lives in the ledger.
STAMP_EVERY = timedelta(seconds=60)


@dataclass(frozen=True)
class Lease:
    """A chosen key and the admission it holds in its organization's budget."""

    key_id: int
    key_name: str
    provider: str
    organization: str
    model: str
    secret_encrypted: str
    budget_id: int
    request_id: uuid.UUID
    attempt: int
    reserved_tokens: int
    send_at: float  # epoch seconds: the admitted slot (now, or a reservation in the future)
    mslot: int
    dslot: int
    probe: bool = False
    purpose: str = ""
    quest: int | None = None
    key_errors: int = 0  # the key's error count and cooldown streak: a success resets them
    stamp_key: bool = False

    @property
    def admitted_at(self) -> datetime:
        return datetime.fromtimestamp(self.send_at, UTC)


@dataclass(frozen=True)
class NoKey:
    """No key can take the call within its wait. `retry_after`: seconds until one could
    (None: no key at all for it); `rejected`: the request exceeds every budget's hard limit."""

    retry_after: float | None
    rejected: bool = False


@dataclass
class _Org:
    name: str
    budget_id: int
    version: int
    inbox_len: int
    ledger: Ledger
    keys: list[dict]
    org_cooling: float
    peers: Peers = NO_PEERS
    fit: Fit | None = None
    key: dict | None = None


def _epoch(value: datetime | None) -> float:
    return value.timestamp() if value is not None else 0.0


_FIELDS = ("pk", "name", "organization", "order", "secret_encrypted", "consecutive_errors", "cooldown_streak",
           "last_used_at")
_ANNOTATIONS = ("key_cooling", "org_cooling", "budget_id", "budget_version", "budget_state", "budget_inbox")
_DATETIMES = ("last_used_at", "key_cooling", "org_cooling")
# A moment no real call has: marks where `now` goes in the compiled query's parameters.
_SENTINEL = datetime(2000, 1, 1, 0, 0, 0, 123456, tzinfo=UTC)


def pool_queryset(provider: str, model: str, now: datetime) -> QuerySet:
    """Every enabled key of `provider`, with the latest end of the cooldowns that hold it
    for `model` (its own and its organization's: the one rule, `CooldownQuerySet.holding`)
    and its organization's budget row for `model`."""
    holding = Cooldown.objects.holding(model, now)
    latest = ("-ends_at",)
    key_cooling = holding.filter(key_id=OuterRef("pk")).order_by(*latest).values("ends_at")[:1]
    org_cooling = (
        holding.filter(key__isnull=True, provider=OuterRef("provider"), organization=OuterRef("organization"))
        .order_by(*latest)
        .values("ends_at")[:1]
    )
    budget = Budget.objects.filter(provider=OuterRef("provider"), organization=OuterRef("organization"), model=model)
    annotations = {
        "key_cooling": Subquery(key_cooling),
        "org_cooling": Subquery(org_cooling),
        "budget_id": Subquery(budget.values("pk")),
        "budget_version": Subquery(budget.values("version")),
        "budget_state": Subquery(budget.values("state")),
        "budget_inbox": Subquery(budget.values("inbox")),
    }
    assert tuple(annotations) == _ANNOTATIONS
    return (
        Key.objects.filter(provider=provider, enabled=True)
        .annotate(**annotations)
        .values(*_FIELDS, *_ANNOTATIONS)
        .order_by("order", "pk")
    )


@lru_cache(maxsize=64)
def _compiled(alias: str, provider: str, model: str) -> tuple[str, tuple]:
    # Compiling the ORM query costs more than running it: do it once per (provider, model).
    return pool_queryset(provider, model, _SENTINEL).query.sql_with_params()


def _as_datetime(value) -> datetime | None:
    """An aware datetime from what the driver hands back (SQLite: naive UTC, or text)."""
    if value is None:
        return None
    parsed = value if isinstance(value, datetime) else parse_datetime(str(value))
    return parsed.replace(tzinfo=UTC) if parsed is not None and parsed.tzinfo is None else parsed


def read_pool(provider: str, model: str) -> list[dict]:
    """`pool_queryset`'s rows, one query whatever the history. The query is compiled once
    and run with this moment's `now` in place of the sentinel."""
    sql, template = _compiled(connection.alias, provider, model)
    mark = connection.ops.adapt_datetimefield_value(_SENTINEL)
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    params = [now if p == mark else p for p in template]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = [dict(zip((*_FIELDS, *_ANNOTATIONS), row, strict=True)) for row in cursor.fetchall()]
    for row in rows:
        for name in _DATETIMES:
            row[name] = _as_datetime(row[name])
    return rows


# Parsed ledgers, per budget row, for as long as the row is unchanged: (version, inbox length)
# identify its content, since between two versions the inbox only grows. Shared read-only;
# an admission works on a copy.
_parsed: dict[int, tuple[int, int, Ledger]] = {}


def _ledger(row: dict, now: float) -> Ledger:
    inbox = row["budget_inbox"] or ""
    cached = _parsed.get(row["budget_id"])
    if cached is not None and cached[0] == row["budget_version"] and cached[1] == len(inbox):
        return cached[2]
    ledger = Ledger.loads(row["budget_state"])
    apply_inbox(ledger, inbox)
    ledger.prune(now)
    if row["budget_id"] is not None:
        _parsed[row["budget_id"]] = (row["budget_version"], len(inbox), ledger)
    return ledger


def _organizations(rows: list[dict], now: float) -> dict[str, _Org]:
    orgs: dict[str, _Org] = {}
    for row in rows:
        org = orgs.get(row["organization"])
        if org is None:
            org = orgs[row["organization"]] = _Org(
                name=row["organization"],
                budget_id=row["budget_id"],
                version=row["budget_version"],
                inbox_len=len(row["budget_inbox"] or ""),
                ledger=_ledger(row, now),
                keys=[],
                org_cooling=_epoch(row["org_cooling"]),
            )
        org.keys.append(row)
    return orgs


def _with_peers(orgs: dict[str, _Org], everyone: dict[str, _Org], now: float) -> list[_Org]:
    """Each organization with what its peers know: every organization of the provider counts,
    including those this call may not use."""
    names = list(everyone)
    for name, peers in zip(names, peers_of([everyone[n].ledger for n in names], now), strict=True):
        if name in orgs:
            orgs[name].peers = peers
    return list(orgs.values())


def acquire(
    *,
    provider: str,
    model: str,
    tokens: int,
    strategy: str,
    request_id: uuid.UUID,
    attempt: int,
    max_wait: float,
    quest: int | None = None,
    avoid: frozenset[int] = frozenset(),
    only_key: int | None = None,
    purpose: str = "",
) -> Lease | NoKey:
    """Admit the call in the best organization now, or reserve its earliest slot within
    `max_wait` seconds; NoKey when neither is possible."""
    shipped = guesses(provider, model)
    call = _Ask(provider=provider, model=model, tokens=tokens, shipped=shipped, max_wait=max_wait,
                request_id=request_id, attempt=attempt, purpose=purpose, quest=quest)
    for _ in range(64):
        rows = read_pool(provider, model)
        missing = sorted({r["organization"] for r in rows if r["budget_id"] is None})
        if missing:
            budget_rows_ensure(provider, missing, model)
            rows = read_pool(provider, model)
        # Quest N maps to the N-th enabled key, whichever keys this call may use.
        wanted = rows[(quest - 1) % len(rows)]["pk"] if strategy == "quest" and quest and rows else None
        usable = [r for r in rows if r["pk"] not in avoid and (only_key is None or r["pk"] == only_key)]
        if not usable:
            return NoKey(retry_after=None)
        now = time.time()
        mine = _organizations(usable, now)
        orgs = _with_peers(mine, mine if len(usable) == len(rows) else _organizations(rows, now), now)
        for org in orgs:
            org.fit = _fit(org, org.ledger, call, now)
        choice = _choose(orgs, wanted, now)
        if choice is None:
            return _no_key(orgs, now)
        lease = _claim(choice, call, now)
        if lease is None:
            _spread_for_a_while(now)
            # Another worker wrote that row first. Rather than racing again, take the best
            # organization nobody holds right now, under its row lock.
            lease = _claim_contended(_ranked(orgs, choice, now), call)
        if lease is not None:
            return lease
    return NoKey(retry_after=0.05)


@dataclass(frozen=True)
class _Ask:
    """What one acquire is asked for."""

    provider: str
    model: str
    tokens: int
    shipped: dict
    max_wait: float
    request_id: uuid.UUID
    attempt: int
    purpose: str
    quest: int | None


def _fit(org: _Org, ledger: Ledger, call: _Ask, now: float) -> Fit:
    """When this organization can take the call: after its own cooldown, after the soonest
    of its keys' cooldowns, and where its ledger has room."""
    soonest_key = min(max(now, _epoch(k["key_cooling"])) for k in org.keys)
    not_before = max(now, org.org_cooling, soonest_key)
    return fit(ledger, call.shipped, now=now, not_before=not_before, tokens=call.tokens, until=now + call.max_wait,
               peers=org.peers)


def _no_key(orgs, now: float) -> NoKey:
    fits = [o.fit for o in orgs if o.fit is not None]
    if fits and all(f.at is None for f in fits):
        return NoKey(retry_after=None, rejected=True)
    later = [f.at - now for f in fits if f.at is not None]
    return NoKey(retry_after=max(0.0, min(later)) if later else None)


def _usable_keys(org: _Org, at: float) -> list[dict]:
    return [k for k in org.keys if _epoch(k["key_cooling"]) <= at]


def _lru(org: _Org, key: dict) -> float:
    return org.ledger.lru.get(key["pk"], -math.inf)


def _spread_for_a_while(now: float) -> None:
    global _spread_until
    _spread_until = now + SPREAD_AFTER_LOSS


def _choose(orgs: list[_Org], wanted: int | None, now: float) -> _Org | None:
    """The organization (and its key) to admit the call in, or None."""
    within = [o for o in orgs if o.fit is not None and o.fit.at is not None and o.fit.within]
    if not within:
        return None
    for org in within:
        org.key = _least_recent(org.ledger, _usable_keys(org, org.fit.at))
    ready = [o for o in within if o.fit.at <= now]
    if ready:
        for org in ready:  # quest-based: quest N's key when it can serve, else smart
            if wanted is not None and any(k["pk"] == wanted for k in _usable_keys(org, now)):
                org.key = next(k for k in org.keys if k["pk"] == wanted)
                return org
        best = min(ready, key=_preference)
        if now < _spread_until:
            # Contended: any organization about as good as the best, at random.
            return random.choice([o for o in ready if o.fit.headroom >= best.fit.headroom - SPREAD_HEADROOM])
        return best
    # Nothing fits now: the earliest slot, first come first served.
    return min(within, key=lambda o: (o.fit.at, _lru(o, o.key)))


def _preference(org: _Org) -> tuple:
    """Smart: the most headroom, ties to the least recently used key."""
    return (-round(org.fit.headroom, 3), _lru(org, org.key), org.key["order"])


def _ranked(orgs: list[_Org], lost: _Org, now: float) -> list[_Org]:
    """The other organizations with a slot within the wait, best first (ready ones by
    preference, then by earliest slot), and the lost one last."""
    within = [o for o in orgs if o is not lost and o.fit is not None and o.fit.at is not None and o.fit.within]
    ready = sorted((o for o in within if o.fit.at <= now), key=_preference)
    later = sorted((o for o in within if o.fit.at > now), key=lambda o: o.fit.at)
    return [*ready, *later, lost]


def _least_recent(ledger: Ledger, keys: list[dict]) -> dict:
    return min(keys, key=lambda k: (ledger.lru.get(k["pk"], -math.inf), k["order"], k["pk"]))


def _admit(org: _Org, ledger: Ledger, fit_: Fit, key: dict, call: _Ask, now: float) -> Lease:
    """Count the call in the ledger (the caller writes it back) and describe the lease."""
    at = max(fit_.at, now)
    if fit_.probe:
        probe_raise(ledger, call.shipped, now, call.tokens, org.peers)
        ledger.probe_until = now + PROBE_HOLD
    mslot, dslot = ledger.admit(at, call.tokens)
    ledger.lru[key["pk"]] = at
    return _lease(org, key, call, at=at, mslot=mslot, dslot=dslot, probe=fit_.probe)


def _claim(org: _Org, call: _Ask, now: float) -> Lease | None:
    """Write the admission to the organization's row; None if another worker changed it first."""
    ledger = org.ledger.copy()
    lease = _admit(org, ledger, org.fit, org.key, call, now)
    return lease if _compare_and_swap(org, ledger.dumps()) else None


def _compare_and_swap(org: _Org, state: str) -> bool:
    """Write the new state only if nobody wrote the row since it was read. Events appended
    to the inbox since then are kept: only the prefix folded into `state` is consumed."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Budget._meta.db_table} SET state = %s, version = version + 1, "
            "inbox = SUBSTR(inbox, %s), updated_at = %s WHERE id = %s AND version = %s",
            [state, org.inbox_len + 1, connection.ops.adapt_datetimefield_value(timezone.now()), org.budget_id,
             org.version],
        )
        return cursor.rowcount == 1


def _claim_contended(ranked: list[_Org], call: _Ask) -> Lease | None:
    """Under contention: lock the best of `ranked` that no other worker holds (PostgreSQL:
    FOR UPDATE SKIP LOCKED, so workers spread over organizations instead of racing for one;
    SQLite's IMMEDIATE transaction serializes writers anyway), judge it again on its fresh
    row, and admit the call there if it still fits."""
    by_id = {o.budget_id: o for o in ranked}
    pending = list(by_id)
    table = Budget._meta.db_table
    skip = connection.features.has_select_for_update_skip_locked
    with transaction.atomic(), connection.cursor() as cursor:
        while pending:
            if skip:
                # The best one nobody holds: in preference order, skipping locked rows.
                order = " ".join(f"WHEN {int(pk)} THEN {i}" for i, pk in enumerate(pending))
                cursor.execute(
                    f"SELECT id, version, state, inbox FROM {table} WHERE id IN ({', '.join(['%s'] * len(pending))}) "
                    f"ORDER BY CASE id {order} END LIMIT 1 FOR UPDATE SKIP LOCKED",
                    pending,
                )
            else:
                cursor.execute(f"SELECT id, version, state, inbox FROM {table} WHERE id = %s", [pending[0]])
            found = cursor.fetchone()
            if found is None:
                return None  # every one is held by another worker this instant
            budget_id, version, state, inbox = found
            pending.remove(budget_id)
            org = by_id[budget_id]
            ledger = Ledger.loads(state)
            apply_inbox(ledger, inbox or "")
            now = time.time()
            ledger.prune(now)
            fit_ = _fit(org, ledger, call, now)
            if fit_.at is None or not fit_.within:
                continue
            key = _least_recent(ledger, _usable_keys(org, max(fit_.at, now)))
            lease = _admit(org, ledger, fit_, key, call, now)
            cursor.execute(
                f"UPDATE {table} SET state = %s, version = %s, inbox = '', updated_at = %s WHERE id = %s",
                [ledger.dumps(), version + 1, connection.ops.adapt_datetimefield_value(timezone.now()), budget_id],
            )
            return lease
    return None


def _lease(org: _Org, key: dict, call: _Ask, *, at: float, mslot: int, dslot: int, probe: bool) -> Lease:
    last_used = key["last_used_at"]
    return Lease(
        key_id=key["pk"],
        key_name=key["name"],
        provider=call.provider,
        organization=org.name,
        model=call.model,
        secret_encrypted=key["secret_encrypted"],
        budget_id=org.budget_id,
        request_id=call.request_id,
        attempt=call.attempt,
        reserved_tokens=call.tokens,
        send_at=at,
        mslot=mslot,
        dslot=dslot,
        probe=probe,
        purpose=call.purpose[:50],
        quest=call.quest,
        key_errors=key["consecutive_errors"] + key["cooldown_streak"],
        stamp_key=last_used is None or last_used.timestamp() < at - STAMP_EVERY.total_seconds(),
    )


def pool_headroom(*, provider: str, model: str) -> float:
    """The largest share (0..1) of its limits that any usable organization has left for
    `model` now, judged by the same ledgers and cooldown rule as selection. Background work
    (prefetch) asks this to leave the quota to interactive calls. Read-only."""
    rows = read_pool(provider, model)
    if not rows:
        return 0.0
    now = time.time()
    shipped = guesses(provider, model)
    best = 0.0
    orgs = _organizations(rows, now)
    for org in _with_peers(orgs, orgs, now):
        if org.org_cooling > now or all(_epoch(k["key_cooling"]) > now for k in org.keys):
            continue
        best = max(best, headroom(org.ledger, org.ledger.limits(shipped, org.peers), now))
    return best
