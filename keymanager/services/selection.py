"""Choosing a key: one read, a decision, one compare-and-swap; then the HTTP call.

1. One query reads every enabled key of the provider with its cooldowns (the one rule in
   `CooldownQuerySet.holding`) and its organization's budget row for the model.
2. Each organization's ledger says when the call fits: now, or at the earliest free slot
   (keymanager/ledger/). Smart: of those that fit now, the most headroom, ties to the least
   recently used key; quest-based: quest N's key first. When none fits now, the earliest
   slot within the call's wait is reserved: first come, first served, across threads,
   processes and hosts, because every reservation is written to the one shared row.
3. The chosen row is written back only if its `version` is unchanged (a compare-and-swap:
   two workers can never both take the last slot). A worker that loses takes the best
   organization nobody else holds at that instant, under its row lock, judged again on the
   fresh row; for the next second it then picks at random among organizations about as good
   as the best, so workers reading the same state stop all choosing the same row.
4. A call that waited for a reserved slot checks, just before it sends, the little state that
   decides it (services/recheck.py).

Times are the pool's clock (the database's, keymanager/clock.py). No transaction or lock is
held across the HTTP call, and the usage log is never read.
"""

from __future__ import annotations

import logging
import math
import random
import secrets
from dataclasses import dataclass
from datetime import timedelta

from keymanager import clock
from keymanager.ledger import NO_PEERS, Cost, Fit, Ledger, Peers, fit, headroom, peers_of, probe_raise
from keymanager.selectors.limit_views import guesses
from keymanager.services.budgets import budget_claim_free, budget_rows_ensure, budget_swap, ledger_of_row
from keymanager.services.leases import FLEX_TIER, Ask, Lease, NoKey
from keymanager.services.pool_read import epoch, read_pool

logger = logging.getLogger("keymanager")

# After this process loses a compare-and-swap, it picks among equally good organizations at
# random for this long, so workers reading the same state stop all choosing the same row.
SPREAD_AFTER_LOSS = 1.0
SPREAD_HEADROOM = 0.05  # "about as good": within this share of the limits
_spread_until = 0.0
# Key.last_used_at is for people (admin, status); refreshing it at most this often keeps
# a write off the hot path. Selection's own least-recently-used order lives in the ledger.
STAMP_EVERY = timedelta(seconds=60)
# A caller that has not reported this long after its slot plus its request timeout is taken
# for dead: its admission's max tokens, and its probe's hold, are released.
REPORT_GRACE = 10.0
# An organization that refused the flex tier is not asked for it again for this long.
FLEX_REFUSAL_HOLDS = 86400.0


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
    cost: Cost | None = None
    sure: Cost | None = None


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
                ledger=ledger_of_row(row["budget_id"], row["budget_version"], row["budget_state"],
                                     row["budget_inbox"], now),
                keys=[],
                org_cooling=epoch(row["org_cooling"]),
            )
        org.keys.append(row)
    return orgs


def _with_peers(orgs: dict[str, _Org], everyone: dict[str, _Org], now: float) -> list[_Org]:
    """Each organization with what its peers know: every organization of the provider counts,
    including those this call may not use."""
    names = list(everyone)
    found = peers_of([everyone[n].ledger.learned for n in names],
                     [everyone[n].ledger.probe_until > now for n in names], now)
    for name, peers in zip(names, found, strict=True):
        if name in orgs:
            orgs[name].peers = peers
    return list(orgs.values())


def acquire(ask: Ask, *, avoid: frozenset[int] = frozenset(), only_key: int | None = None) -> Lease | NoKey:
    """Admit the call in the best organization now, or reserve its earliest slot within
    `ask.max_wait` seconds; NoKey when neither is possible."""
    if ask.shipped is None:
        ask = Ask(**{**ask.__dict__, "shipped": guesses(ask.provider, ask.budget_model)})
    for _ in range(64):
        rows = read_pool(ask.provider, ask.budget_model)
        if ask.tier == FLEX_TIER and not ask.discover:
            rows = [r for r in rows if r["budget_id"] is not None]  # no flex budget: not known to have flex
        missing = sorted({r["organization"] for r in rows if r["budget_id"] is None})
        if missing:
            budget_rows_ensure(ask.provider, missing, ask.budget_model)
            rows = read_pool(ask.provider, ask.budget_model)
        # Quest N maps to the N-th enabled key, whichever keys this call may use.
        wanted = rows[(ask.quest - 1) % len(rows)]["pk"] if ask.strategy == "quest" and ask.quest and rows else None
        usable = [r for r in rows if r["pk"] not in avoid and (only_key is None or r["pk"] == only_key)]
        if not usable:
            return NoKey(retry_after=None)
        now = clock.now()
        mine = _organizations(usable, now)
        if ask.tier == FLEX_TIER:
            mine = {name: org for name, org in mine.items()
                    if not _refuses_flex(org.ledger, now) and (ask.discover or org.ledger.flex > 0)}
            if not mine:
                return NoKey(retry_after=None)
        orgs = _with_peers(mine, mine if len(usable) == len(rows) else _organizations(rows, now), now)
        for org in orgs:
            org.cost, org.sure = ask.cost_in(org.ledger)
            org.fit = _fit(org, org.ledger, ask, now)
        choice = _choose(orgs, wanted, now)
        if choice is None:
            return _no_key(orgs, now)
        lease = _claim(choice, ask, now)
        if lease is None:
            _spread_for_a_while(now)
            # Another worker wrote that row first. Rather than racing again, take the best
            # organization nobody holds right now, under its row lock.
            lease = _claim_contended(_ranked(orgs, choice, now), ask)
        if lease is not None:
            return lease
    return NoKey(retry_after=0.05)


def _refuses_flex(ledger: Ledger, now: float) -> bool:
    return ledger.flex < 0 and now - ledger.flex_at < FLEX_REFUSAL_HOLDS


def _fit(org: _Org, ledger: Ledger, ask: Ask, now: float) -> Fit:
    """When this organization can take the call: after its own cooldown, after the soonest
    of its keys' cooldowns, and where its ledger has room."""
    soonest_key = min(max(now, epoch(k["key_cooling"])) for k in org.keys)
    not_before = max(now, org.org_cooling, soonest_key)
    return fit(ledger, ask.shipped, now=now, not_before=not_before, cost=org.cost, until=now + ask.max_wait,
               peers=org.peers, sure=org.sure)


def _no_key(orgs, now: float) -> NoKey:
    fits = [o.fit for o in orgs if o.fit is not None]
    if fits and all(f.at is None for f in fits):
        return NoKey(retry_after=None, rejected=True)
    later = [f.at - now for f in fits if f.at is not None]
    return NoKey(retry_after=max(0.0, min(later)) if later else None)


def _usable_keys(org: _Org, at: float) -> list[dict]:
    return [k for k in org.keys if epoch(k["key_cooling"]) <= at]


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


def _admit(org: _Org, ledger: Ledger, fit_: Fit, key: dict, ask: Ask, now: float) -> Lease:
    """Count the call in the ledger (the caller writes it back) and describe the lease."""
    at = max(fit_.at, now)
    cost = org.cost
    deadline = at + ask.request_timeout + REPORT_GRACE
    if fit_.probe:
        probe_raise(ledger, fit_.limits, now, cost)
        ledger.probe_until = deadline
    token = secrets.token_hex(4)
    mslot = ledger.admit(at, cost, fit_.limits, token=token, deadline=deadline)
    ledger.lru[key["pk"]] = at
    last_used = key["last_used_at"]
    return Lease(
        key_id=key["pk"],
        key_name=key["name"],
        provider=ask.provider,
        organization=org.name,
        model=ask.model,
        secret_encrypted=key["secret_encrypted"],
        budget_id=org.budget_id,
        request_id=ask.request_id,
        attempt=ask.attempt,
        cost=cost,
        prompt_count=ask.prompt_count,
        send_at=at,
        admitted_now=now,
        mslot=mslot,
        token=token,
        probe=fit_.probe,
        purpose=ask.purpose[:50],
        quest=ask.quest,
        key_errors=key["consecutive_errors"] + key["cooldown_streak"],
        stamp_key=last_used is None or last_used.timestamp() < at - STAMP_EVERY.total_seconds(),
        tier=ask.tier,
    )


def _claim(org: _Org, ask: Ask, now: float) -> Lease | None:
    """Write the admission to the organization's row; None if another worker changed it first."""
    ledger = org.ledger.copy()
    ledger.prune(now)
    lease = _admit(org, ledger, org.fit, org.key, ask, now)
    swapped = budget_swap(budget_id=org.budget_id, version=org.version, inbox_len=org.inbox_len,
                          state=ledger.dumps())
    return lease if swapped else None


def _claim_contended(ranked: list[_Org], ask: Ask) -> Lease | None:
    """The best of `ranked` that no other worker holds, judged again on its fresh row."""
    by_id = {o.budget_id: o for o in ranked}

    def decide(budget_id: int, ledger: Ledger):
        org = by_id[budget_id]
        now = clock.now()
        org.cost, org.sure = ask.cost_in(ledger)
        fit_ = _fit(org, ledger, ask, now)
        if fit_.at is None or not fit_.within:
            return None
        key = _least_recent(ledger, _usable_keys(org, max(fit_.at, now)))
        return _admit(org, ledger, fit_, key, ask, now), ledger

    return budget_claim_free(list(by_id), decide)


def pool_headroom(*, provider: str, model: str) -> float:
    """The largest share (0..1) of its limits that any usable organization has left for
    `model` now, judged by the same ledgers and cooldown rule as selection. Background work
    (prefetch) asks this to leave the quota to interactive calls. Read-only."""
    rows = read_pool(provider, model)
    if not rows:
        return 0.0
    now = clock.now()
    shipped = guesses(provider, model)
    best = 0.0
    orgs = _organizations(rows, now)
    for org in _with_peers(orgs, orgs, now):
        if org.org_cooling > now or all(epoch(k["key_cooling"]) > now for k in org.keys):
            continue
        best = max(best, headroom(org.ledger, org.ledger.limits(shipped, org.peers, now), now))
    return best
