"""Where a call goes in one budget: now, at the earliest free slot, or nowhere.

Admissions may lie in the future: that is a reservation. The earliest slot at which a call fits
every limit is found by a short scan of the minute ring and a formula for each day bucket;
admitting it there keeps every window within its limit, including windows holding earlier
reservations, so a later caller never delays an earlier one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from keymanager.ledger.day import ROLLING
from keymanager.ledger.learned import DAY_KINDS, NO_PEERS, TOKEN_KINDS, Peers
from keymanager.ledger.ring import DAY_MEASURES, MEASURES, Ring
from keymanager.ledger.state import Cost, Ledger

Limits = dict[str, tuple[float, bool]]


@dataclass(frozen=True)
class Fit:
    """When a call can be admitted, and whether only as a probe."""

    at: float | None  # None: never (the request exceeds a hard limit)
    within: bool = True  # False: `at` lies beyond the caller's wait; nothing may be reserved
    probe: bool = False
    headroom: float = 1.0  # 0..1: the tightest limit's share left now, after this call
    limits: Limits | None = None  # the working limits this was judged by


def never_fits(limits: Limits, cost: Cost, *, sure: Cost | None = None) -> bool:
    """Whether the request can never fit a hard limit. `sure` is what it certainly counts
    (the prompt's estimate can be high): only that is held against the limit; a request that
    merely may not fit is sent, and the provider's 413 decides."""
    sure = sure or cost
    amounts = sure.per_limit()
    return any(limits[kind][1] and amounts[kind] > limits[kind][0] for kind in TOKEN_KINDS)


def _capped(limits: Limits, cost: Cost) -> Cost:
    """The cost as admitted: never more than a hard limit holds, so a request the provider may
    still take (our estimate is high) fits an empty window. (Past a soft limit it goes as a
    probe, whole.)"""
    room = min(value if hard else float("inf") for kind, (value, hard) in limits.items() if kind in ("tpm", "tpd"))
    if cost.tokens <= room:
        return cost
    output = max(0, min(cost.output, int(room) - cost.input))
    return Cost(input=min(cost.input, int(room)), output=output, requests=cost.requests)


def _ring_limits(limits: Limits, hard_only: bool, measures: dict) -> dict[str, float]:
    return {kind: value if (hard or not hard_only) else math.inf
            for kind, (value, hard) in limits.items() if kind in measures}


def _ring_first(ring: Ring, t: float, cost: dict[str, int], limits: dict[str, float],
                until: float | None) -> float | None:
    """The first moment >= t at which `cost` fits this rolling ring (None: not by `until`)."""
    slot = ring.slot(t)
    if ring.fits_at(slot, cost, limits):
        return t
    found = ring.first_fit(slot, cost, limits, last=None if until is None else ring.slot(until))
    return None if found is None else max(t, ring.start(found))


def earliest(ledger: Ledger, limits: Limits, *, now: float, not_before: float, cost: Cost,
             hard_only: bool = False, until: float | None = None, day_slack: float = 0.0) -> float | None:
    """The earliest time >= max(now, not_before) at which `cost` fits the minute ring and the
    day (its buckets, or its rolling ring where the provider counts the day that way); None
    when it never fits, or (with `until`) not by then.

    `day_slack`: a share of the call's own day cost a bucket may be over by (the re-check of a
    reservation: the bucket's refill rate is re-learned from every reply, and a reservation
    made at the bucket's edge would otherwise lose its place in line to a drift of a
    hundredth of a request)."""
    amounts = cost.per_limit()
    minute_limits = _ring_limits(limits, hard_only, MEASURES)
    minute_cost = {kind: amounts[kind] for kind in MEASURES}
    rolling_day = ledger.day_shape == ROLLING
    day_limits = _ring_limits(limits, hard_only, DAY_MEASURES)
    day_cost = {kind: amounts[kind] for kind in DAY_MEASURES}
    t: float | None = max(now, not_before)
    for _ in range(16):
        if until is not None and t > until:
            return None
        t = _ring_first(ledger.minute, t, minute_cost, minute_limits, until)
        if t is None:
            return None
        moved = t
        if rolling_day:
            moved = _ring_first(ledger.rolling_day, t, day_cost, day_limits, until)
            if moved is None:
                return None
        else:
            for kind in DAY_KINDS:
                value, hard = limits[kind]
                if hard_only and not hard:
                    continue
                at = ledger.day[kind].earliest(moved, amounts[kind], value + day_slack * amounts[kind],
                                               ledger.rate(kind, limits))
                if at is None:
                    return None
                moved = max(moved, at)
        if moved == t:
            return None if until is not None and t > until else t
        t = moved  # the day moved it on: the minute is checked again there
    return None


# A reservation's re-check lets a day bucket be over by this share of the call's own day cost.
RESERVATION_DAY_SLACK = 0.1


def still_fits(ledger: Ledger, guesses: dict[str, int | None], *, token: str, mslot: int, cost: Cost,
               now: float, probe: bool = False) -> bool:
    """Whether a call that waited for its reserved slot may be sent now: its admission is still
    pending (not reaped), and taken out, the call fits again at once as the budget is now (a
    429, a lowered ceiling, the provider's word may have changed it while the call slept).
    Calls reserved after it were fitted around it and keep their places."""
    if not ledger.pending(token):
        return False
    mine = ledger.copy()
    mine.settle(token, mslot, cost.negative())
    limits = mine.limits(guesses, NO_PEERS, now)
    return earliest(mine, limits, now=now, not_before=now, cost=cost, hard_only=probe, until=now,
                    day_slack=RESERVATION_DAY_SLACK) is not None


def fit(ledger: Ledger, guesses: dict[str, int | None], *, now: float, not_before: float, cost: Cost,
        until: float | None, peers: Peers | None = None, sure: Cost | None = None) -> Fit:
    """Where a call goes in this budget: now, or the earliest free slot up to `until`.

    When only an unconfirmed limit (a shipped guess, a limit a 429 stated more than an hour
    ago) stands in the way now, one call at a time in the peer group may go past it as a probe:
    the provider either serves it (the guess was low) or answers 429 naming the real limit.
    After a refusal of a day limit, the refill the bucket promises is confirmed the same way:
    one call at a time until one is served. Beyond `until`, `at` says when the call would fit
    (for the caller's retry_after) and `within` is False: nothing is held.
    """
    peers = peers or NO_PEERS
    limits = ledger.limits(guesses, peers, now)
    if never_fits(limits, cost, sure=sure):
        return Fit(at=None, within=False, limits=limits)
    cost = _capped(limits, cost)
    start = max(now, not_before)
    probe_free = ledger.probe_until <= now and not peers.probing
    at = earliest(ledger, limits, now=now, not_before=not_before, cost=cost, until=until)
    if any(ledger.day[kind].doubt for kind in DAY_KINDS):
        # A day limit refused since the last success: its refill is confirmed by one call
        # at a time, at the earliest slot the bucket gives (the 429's stated time).
        if not probe_free:
            return Fit(at=max(start, ledger.probe_until), within=False, headroom=0.0, limits=limits)
        if at is not None:
            return Fit(at=at, probe=True, headroom=0.0, limits=limits)
        return Fit(at=earliest(ledger, limits, now=now, not_before=not_before, cost=cost), within=False,
                   headroom=0.0, limits=limits)
    if at is not None and at <= start:
        return Fit(at=at, headroom=headroom(ledger, limits, now, cost), limits=limits)
    if probe_free:
        # Only a guess stands in the way: one call goes past it as soon as the hard limits
        # allow (now, or a reserved slot), unless the guesses would let it go sooner anyway.
        hard = earliest(ledger, limits, now=now, not_before=not_before, cost=cost, hard_only=True,
                        until=at if at is not None else until)
        if hard is not None and (at is None or hard < at):
            return Fit(at=hard, probe=True, headroom=0.0, limits=limits)
    if at is not None:
        return Fit(at=at, headroom=0.0, limits=limits)
    later = earliest(ledger, limits, now=now, not_before=not_before, cost=cost)
    return Fit(at=later, within=False, headroom=0.0, limits=limits)


def headroom(ledger: Ledger, limits: Limits, now: float, cost: Cost | None = None) -> float:
    """The tightest limit's share still free in the window ending now (0..1)."""
    used = ledger.used(now, limits)
    amounts = cost.per_limit() if cost is not None else {}
    shares = []
    for kind, (value, _hard) in limits.items():
        if math.isfinite(value) and value > 0:
            shares.append((value - used[kind] - amounts.get(kind, 0)) / value)
    return max(0.0, min(shares)) if shares else 1.0
