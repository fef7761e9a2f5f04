"""What one (provider, organization, model) budget has admitted, as a bounded summary.

A `Ledger` is the state on a Budget row: for each period (a minute, a day) a sparse ring of
per-slice sums of requests and tokens, plus what was learned about the provider's limits.
Its size depends on the limits' periods, never on how much history the usage log holds.

The provider's counting algorithm is unknown (rolling window or token bucket). A rolling
window of N per period T is the stricter of the two (docs/provider-facts.md), so the ledger keeps the
invariant: *every stretch of `span` consecutive slices holds at most the limit*, where `span`
is the most slices one window of T (plus a margin for time on the wire and clock skew) can
touch. Counting a partly covered slice whole makes every sum an upper bound: whatever the
exact send times inside the slices, no window of the provider's ever sees more than the limit.

Admissions may lie in the future: that is a reservation. The earliest slot at which a call
fits is found by a short scan of at most a few hundred slices, and adding it there keeps the
invariant for every window, including those holding earlier reservations, so a later caller
never delays an earlier one.

Pure Python: no Django, no database. `selection` loads a ledger from its row, decides and
stores it back under a compare-and-swap on the row's version.
"""

from __future__ import annotations

import json
import math
from collections import deque
from dataclasses import dataclass, field

MINUTE = 60.0
DAY = 86400.0
# MARGIN widens every window for time on the wire and clock skew. Slice widths: fine for the
# minute (a slice rounds a request's time by at most this much), coarse for the day; each
# divides its window plus the margin exactly, so a window touches one slice more, not two.
MARGIN = 0.25
MINUTE_SLICE = (MINUTE + MARGIN) / 241  # 0.25 s
DAY_SLICE = (DAY + MARGIN) / 96  # about 15 minutes

KINDS = ("rpm", "rpd", "tpm", "tpd")
# Which period and which count each limit kind constrains.
KIND_PERIOD = {"rpm": "m", "tpm": "m", "rpd": "d", "tpd": "d"}
KIND_PERIOD_SECONDS = {"rpm": MINUTE, "tpm": MINUTE, "rpd": DAY, "tpd": DAY}
TOKEN_KINDS = ("tpm", "tpd")

# Where a limit value came from. Guesses are the shipped defaults (docs/provider-facts.md),
# raised by probing when the provider lets more through; the others are the provider's own
# word (a header, a 429) or an admin's ceiling.
GUESS, PROBE, HEADER, REFUSAL, CEILING = "default", "probe", "header", "429", "admin"
CONFIRMED = (HEADER, REFUSAL)


class Ring:
    """Per-slice [requests, tokens] for one period; keys are absolute slice numbers.

    `slices` is what this pool admitted; `outside` is what the provider says was spent beyond
    that (by another application, or by keys not yet known to share the organization): the
    provider's latest word replaces it, never adds to it, so it cannot pile up.
    """

    __slots__ = ("period", "width", "span", "slices", "outside")

    def __init__(self, period: float, width: float, slices: dict[int, list[int]] | None = None,
                 outside: dict[int, list[int]] | None = None) -> None:
        self.period = period
        self.width = width
        # The most slices one window of period + margin can touch (one more when unaligned).
        self.span = math.ceil((period + MARGIN) / width - 1e-9) + 1
        self.slices = slices if slices is not None else {}
        self.outside = outside if outside is not None else {}

    @property
    def counted(self) -> dict[int, list[int]]:
        """Everything that counts against the limit: our admissions and the outside usage."""
        if not self.outside:
            return self.slices
        merged = {s: v[:] for s, v in self.slices.items()}
        for s, (r, t) in self.outside.items():
            cell = merged.setdefault(s, [0, 0])
            cell[0] += r
            cell[1] += t
        return merged

    def set_outside(self, slot: int, *, requests: int | None = None, tokens: int | None = None) -> None:
        """Replace the outside usage of the counts given (requests and/or tokens) by one entry."""
        for index, value in ((0, requests), (1, tokens)):
            if value is None:
                continue
            for cell in self.outside.values():
                cell[index] = 0
            if value > 0:
                self.outside.setdefault(slot, [0, 0])[index] += value
        for s in [s for s, cell in self.outside.items() if cell == [0, 0]]:
            del self.outside[s]

    def slot(self, t: float) -> int:
        return math.floor(t / self.width)

    def start(self, slot: int) -> float:
        return slot * self.width

    def prune(self, now: float) -> None:
        """Forget slices that no window from now on can contain."""
        current = self.slot(now)
        for cells in (self.slices, self.outside):
            for s in [s for s in cells if s + self.span <= current]:
                del cells[s]

    def add(self, slot: int, requests: int, tokens: int) -> None:
        cell = self.slices.setdefault(slot, [0, 0])
        cell[0] = max(0, cell[0] + requests)
        cell[1] = max(0, cell[1] + tokens)
        if cell == [0, 0]:
            del self.slices[slot]

    def trailing(self, slot: int, *, ours_only: bool = False) -> tuple[int, int]:
        """Requests and tokens in the window that ends with `slot` (upper bound)."""
        low = slot - self.span
        req = tok = 0
        for s, (r, t) in (self.slices if ours_only else self.counted).items():
            if low < s <= slot:
                req += r
                tok += t
        return req, tok

    def has_after(self, slot: int) -> bool:
        return any(s > slot for s in self.slices) or any(s > slot for s in self.outside)

    def fits_at(self, slot: int, req: int, tok: int, lim_req: float, lim_tok: float) -> bool:
        """Whether adding (req, tok) at `slot` keeps every window within the limits."""
        if not self.has_after(slot):
            # Nothing admitted beyond this slot: windows after it only lose entries.
            r, t = self.trailing(slot)
            return r + req <= lim_req and t + tok <= lim_tok
        return self.first_fit(slot, req, tok, lim_req, lim_tok, last=slot) == slot

    def first_fit(
        self, first: int, req: int, tok: int, lim_req: float, lim_tok: float, *, last: int | None = None
    ) -> int | None:
        """The first slot >= `first` (and <= `last`, if given) where (req, tok) fits; None if none.

        Sliding sums S(j) over the window ending at j, then a sliding maximum of S over the
        `span` windows that a new entry at slot a would join: O(slices scanned).
        """
        if req > lim_req or tok > lim_tok:
            return None
        counted = self.counted
        entries = [s for s in counted if s > first - self.span]
        end = max(entries, default=first)
        # Past `end + span` every window is empty, so `end + span` always fits.
        top = end + self.span if last is None else min(last, end + self.span)
        if top < first:
            return None
        lo = first - self.span + 1
        hi = top + self.span - 1
        n = hi - lo + 1
        reqs = [0] * n
        toks = [0] * n
        for s in entries:
            if s <= hi:
                r, t = counted[s]
                reqs[s - lo] += r
                toks[s - lo] += t
        # S(j) for j in [first, hi]: the window (j - span, j].
        sums_r: list[int] = []
        sums_t: list[int] = []
        acc_r = sum(reqs[: self.span - 1])
        acc_t = sum(toks[: self.span - 1])
        for j in range(self.span - 1, n):
            acc_r += reqs[j]
            acc_t += toks[j]
            sums_r.append(acc_r)
            sums_t.append(acc_t)
            acc_r -= reqs[j - self.span + 1]
            acc_t -= toks[j - self.span + 1]
        # Slot a (index a - first) needs max over S(a .. a + span - 1) + cost within limits.
        room_r, room_t = lim_req - req, lim_tok - tok
        window: deque[int] = deque()  # indices of S with decreasing "badness"

        def bad(i: int) -> float:
            # How far over the room this window is, for both counts at once (<= 0 is fine).
            return max(sums_r[i] - room_r, sums_t[i] - room_t)

        count = len(sums_r)
        nxt = 0
        for a in range(top - first + 1):
            while nxt < count and nxt <= a + self.span - 1:
                while window and bad(window[-1]) <= bad(nxt):
                    window.pop()
                window.append(nxt)
                nxt += 1
            while window and window[0] < a:
                window.popleft()
            if not window or bad(window[0]) <= 0:
                return first + a
        return None


@dataclass
class Limit:
    value: int
    source: str  # GUESS | PROBE | HEADER | REFUSAL
    at: float  # when it was learned (0 for shipped guesses)

    @property
    def confirmed(self) -> bool:
        return self.source in CONFIRMED


@dataclass
class Observation:
    """The provider's last word on this budget (x-ratelimit-* headers), with its time."""

    at: float = 0.0
    remaining_requests: int | None = None
    requests_reset: float | None = None  # seconds after `at` until RPD is fully restored
    remaining_tokens: int | None = None
    tokens_reset: float | None = None


def _pack(slices: dict[int, list[int]]) -> list[int]:
    """Slices as one flat list: the first slot, then (slot - previous slot, requests, tokens)
    per slice in order. About a third of the size of a JSON object, and quicker to read."""
    out: list[int] = []
    previous = 0
    for slot in sorted(slices):
        requests, tokens = slices[slot]
        out += (slot - previous, requests, tokens)
        previous = slot
    return out


def _unpack(packed) -> dict[int, list[int]]:
    slices: dict[int, list[int]] = {}
    slot = 0
    for i in range(0, len(packed or ()), 3):
        slot += packed[i]
        slices[slot] = [packed[i + 1], packed[i + 2]]
    return slices


@dataclass
class Ledger:
    minute: Ring = field(default_factory=lambda: Ring(MINUTE, MINUTE_SLICE))
    day: Ring = field(default_factory=lambda: Ring(DAY, DAY_SLICE))
    learned: dict[str, Limit] = field(default_factory=dict)
    ceilings: dict[str, int] = field(default_factory=dict)
    lru: dict[int, float] = field(default_factory=dict)  # key id -> last admission time
    observed: Observation = field(default_factory=Observation)
    probe_until: float = 0.0  # a call admitted above an unconfirmed limit is in flight until then

    # ----- storage -----
    @classmethod
    def loads(cls, text: str | None) -> Ledger:
        if not text:
            return cls()
        data = json.loads(text)
        ledger = cls(
            minute=Ring(MINUTE, MINUTE_SLICE, _unpack(data.get("m")), _unpack(data.get("mo"))),
            day=Ring(DAY, DAY_SLICE, _unpack(data.get("d")), _unpack(data.get("do"))),
            learned={k: Limit(*v) for k, v in data.get("l", {}).items()},
            ceilings=dict(data.get("c", {})),
            lru={int(k): v for k, v in data.get("u", {}).items()},
            observed=Observation(*data.get("o", ())),
            probe_until=data.get("p", 0.0),
        )
        return ledger

    def dumps(self) -> str:
        o = self.observed
        return json.dumps(
            {
                "m": _pack(self.minute.slices),
                "mo": _pack(self.minute.outside),
                "d": _pack(self.day.slices),
                "do": _pack(self.day.outside),
                "l": {k: [v.value, v.source, v.at] for k, v in self.learned.items()},
                "c": self.ceilings,
                "u": self.lru,
                "o": [o.at, o.remaining_requests, o.requests_reset, o.remaining_tokens, o.tokens_reset],
                "p": self.probe_until,
            },
            separators=(",", ":"),
        )

    def copy(self) -> Ledger:
        """An independent copy (a cached ledger is shared read-only; admissions go to a copy)."""
        o = self.observed
        return Ledger(
            minute=Ring(MINUTE, MINUTE_SLICE, {s: v[:] for s, v in self.minute.slices.items()},
                        {s: v[:] for s, v in self.minute.outside.items()}),
            day=Ring(DAY, DAY_SLICE, {s: v[:] for s, v in self.day.slices.items()},
                     {s: v[:] for s, v in self.day.outside.items()}),
            learned={k: Limit(v.value, v.source, v.at) for k, v in self.learned.items()},
            ceilings=dict(self.ceilings),
            lru=dict(self.lru),
            observed=Observation(o.at, o.remaining_requests, o.requests_reset, o.remaining_tokens, o.tokens_reset),
            probe_until=self.probe_until,
        )

    # ----- usage -----
    def prune(self, now: float) -> None:
        self.minute.prune(now)
        self.day.prune(now)
        if self.lru and len(self.lru) > 64:  # keys that left the organization
            for key_id in sorted(self.lru, key=self.lru.get)[:-64]:
                del self.lru[key_id]

    def used(self, now: float) -> dict[str, int]:
        """What each limit has used in the window ending now (an upper bound)."""
        rpm, tpm = self.minute.trailing(self.minute.slot(now))
        rpd, tpd = self.day.trailing(self.day.slot(now))
        return {"rpm": rpm, "tpm": tpm, "rpd": rpd, "tpd": tpd}

    def admit(self, t: float, tokens: int) -> tuple[int, int]:
        """Count one request of `tokens` at time t; returns its (minute, day) slots."""
        m, d = self.minute.slot(t), self.day.slot(t)
        self.minute.add(m, 1, tokens)
        self.day.add(d, 1, tokens)
        return m, d

    def settle(self, mslot: int, dslot: int, requests: int, tokens: int) -> None:
        """Correct an admission where it was counted (a release is negative). A slice that
        has left the ring needs no correction: no window holds it any more."""
        if mslot in self.minute.slices:
            self.minute.add(mslot, requests, tokens)
        if dslot in self.day.slices:
            self.day.add(dslot, requests, tokens)

    # ----- limits -----
    def limits(self, guesses: dict[str, int | None], peers: Peers | None = None) -> dict[str, tuple[float, bool]]:
        """Per kind: (value, hard).

        An admin's ceiling is what the admin knows: the pool works up to it and never past it,
        unless the provider states a lower limit (a header, a 429), which then holds. Without
        a ceiling, a stated limit holds. Otherwise what the provider stated to a peer (an
        organization on the same published limits) holds, unless this one was already served
        past it; failing that, the shipped guess, raised by this organization's or its peers'
        probing, is soft: one call at a time may go past it to find the real one.
        """
        peers = peers or NO_PEERS
        result: dict[str, tuple[float, bool]] = {}
        for kind in KINDS:
            learned = self.learned.get(kind)
            ceiling = self.ceilings.get(kind)
            stated = float(learned.value) if learned is not None and learned.confirmed else math.inf
            if ceiling is not None:
                result[kind] = (min(float(ceiling), stated), True)
                continue
            if learned is not None and learned.confirmed:
                result[kind] = (float(learned.value), True)
                continue
            own = learned.value if learned is not None else guesses.get(kind)
            peer_stated = peers.stated.get(kind)
            if peer_stated is not None and (learned is None or learned.value <= peer_stated):
                result[kind] = (float(peer_stated), True)
            elif own is not None or kind in peers.served:
                result[kind] = (float(max(own or 0, peers.served.get(kind, 0))), False)
            else:
                result[kind] = (math.inf, False)
        return result

    def learn(self, kind: str, value: int, source: str, at: float) -> bool:
        """Record a limit the provider stated; True when it changed."""
        current = self.learned.get(kind)
        if current is not None and current.value == value and current.source == source:
            current.at = at
            return False
        self.learned[kind] = Limit(int(value), source, at)
        return True

    # ----- the provider's word -----
    def observe(self, obs: Observation, limit_requests: int | None, limit_tokens: int | None) -> None:
        """Fold one set of x-ratelimit-* headers (Groq: requests = per day, tokens = per minute).

        The limits are learned. A remaining value below what this ledger has counted means
        someone else spends the same budget: the difference is added as usage that frees
        when the provider says the budget is fully restored.
        """
        if obs.at < self.observed.at:
            return  # an older report than one already folded
        self.observed = obs
        if limit_requests:
            self.learn("rpd", limit_requests, HEADER, obs.at)
        if limit_tokens:
            self.learn("tpm", limit_tokens, HEADER, obs.at)
        tpm = limit_tokens or (self.learned["tpm"].value if "tpm" in self.learned else None)
        rpd = limit_requests or (self.learned["rpd"].value if "rpd" in self.learned else None)
        if obs.remaining_tokens is not None and tpm:
            raise_to(self.minute, obs.at, tokens=tpm - obs.remaining_tokens, reset=obs.tokens_reset)
        if obs.remaining_requests is not None and rpd:
            raise_to(self.day, obs.at, requests=rpd - obs.remaining_requests, reset=obs.requests_reset)


def raise_to(ring: Ring, at: float, *, requests: int | None = None, tokens: int | None = None,
             reset: float | None = None) -> None:
    """The provider says the window ending at `at` holds `requests` / `tokens`: what it counts
    beyond our own admissions becomes the ring's outside usage (replacing the previous
    statement), freeing `reset` seconds after `at` (when the provider says everything is
    restored), never later than the limit's period: a stale or odd header cannot make the
    pool wait longer than the limit it describes."""
    slot_at = ring.slot(at)
    mine_r, mine_t = ring.trailing(slot_at, ours_only=True)
    wait = ring.period if reset is None else min(max(reset, 0.0), ring.period)
    # An entry at slot s counts until slot s + span: place it to free at `at + wait`.
    slot = min(slot_at, max(slot_at - ring.span + 1, ring.slot(at + wait) - ring.span))
    ring.set_outside(
        slot,
        requests=None if requests is None else max(0, requests - mine_r),
        tokens=None if tokens is None else max(0, tokens - mine_t),
    )


@dataclass(frozen=True)
class Peers:
    """What organizations on the same published limits (same provider and model, the same
    limits in their headers, or none known yet) have found out: one 429 or one served probe
    then speaks for all of them, instead of each organization paying its own 429 to learn
    the same tier's limit."""

    stated: dict[str, int] = field(default_factory=dict)  # kind -> lowest limit the provider stated
    served: dict[str, int] = field(default_factory=dict)  # kind -> highest soft limit a probe got through
    probing: bool = False  # a peer's probe is in flight: one probe at a time for the group


NO_PEERS = Peers()


def _published(ledger: Ledger) -> tuple[int | None, int | None]:
    """The limits this organization's headers state (Groq: RPD and TPM); None when unknown."""
    values = []
    for kind in ("rpd", "tpm"):
        learned = ledger.learned.get(kind)
        values.append(learned.value if learned is not None and learned.source == HEADER else None)
    return values[0], values[1]


def _same_tier(a: tuple, b: tuple) -> bool:
    return all(x is None or y is None or x == y for x, y in zip(a, b, strict=True))


def peers_of(ledgers: list[Ledger], now: float) -> list[Peers]:
    """For each ledger, what its peers among the others know (see `Peers`). Admins' ceilings
    are not shared: an admin sets them for one organization."""
    published = [_published(ledger) for ledger in ledgers]
    out: list[Peers] = []
    for i, _ledger in enumerate(ledgers):
        stated: dict[str, int] = {}
        served: dict[str, int] = {}
        probing = False
        for j, other in enumerate(ledgers):
            if j == i or not _same_tier(published[i], published[j]):
                continue
            probing = probing or other.probe_until > now
            for kind, limit in other.learned.items():
                if limit.confirmed:
                    stated[kind] = min(stated.get(kind, limit.value), limit.value)
                elif limit.source == PROBE:
                    served[kind] = max(served.get(kind, limit.value), limit.value)
        out.append(Peers(stated, served, probing) if stated or served or probing else NO_PEERS)
    return out


@dataclass(frozen=True)
class Fit:
    """When a call of `tokens` can be admitted, and whether only as a probe."""

    at: float | None  # None: never (the request exceeds a hard limit)
    within: bool = True  # False: `at` lies beyond the caller's wait; nothing may be reserved
    probe: bool = False
    headroom: float = 1.0  # 0..1: the tightest limit's share left now, after this call


def _ring_limits(limits: dict[str, tuple[float, bool]], ring_kinds: tuple[str, str], hard_only: bool):
    values = []
    for kind in ring_kinds:
        value, hard = limits[kind]
        values.append(value if (hard or not hard_only) else math.inf)
    return values


def _first(ring: Ring, t: float, tokens: int, lim_req: float, lim_tok: float, until: float | None) -> float | None:
    """The earliest time >= t at which one request fits this ring (None: not by `until`)."""
    if until is not None and t > until:
        return None
    slot = ring.slot(t)
    if ring.fits_at(slot, 1, tokens, lim_req, lim_tok):
        return t
    found = ring.first_fit(slot, 1, tokens, lim_req, lim_tok, last=None if until is None else ring.slot(until))
    return None if found is None else max(t, ring.start(found))


def earliest(ledger: Ledger, limits: dict[str, tuple[float, bool]], *, now: float, not_before: float,
             tokens: int, hard_only: bool = False, until: float | None = None) -> float | None:
    """The earliest time >= max(now, not_before) at which one request of `tokens` fits both
    rings; None when it never fits, or (with `until`) not by then."""
    lim_rpm, lim_tpm = _ring_limits(limits, ("rpm", "tpm"), hard_only)
    lim_rpd, lim_tpd = _ring_limits(limits, ("rpd", "tpd"), hard_only)
    t: float | None = max(now, not_before)
    for _ in range(16):
        ta = _first(ledger.minute, t, tokens, lim_rpm, lim_tpm, until)
        if ta is None:
            return None
        tb = _first(ledger.day, ta, tokens, lim_rpd, lim_tpd, until)
        if tb is None or tb == ta:
            return tb
        t = tb  # the day moved it on: the minute ring is checked again there
    return None


def fit(ledger: Ledger, guesses: dict[str, int | None], *, now: float, not_before: float, tokens: int,
        until: float | None, peers: Peers | None = None) -> Fit:
    """Where a call goes in this budget: now, or the earliest free slot up to `until`.

    When only an unconfirmed limit (a shipped guess) stands in the way now, one call at a
    time may go past it as a probe: the provider either serves it (the guess was low) or
    answers 429 naming the real limit, which is then learned. Beyond `until`, `at` says when
    the call would fit (for the caller's retry_after) and `within` is False: nothing is held.
    """
    peers = peers or NO_PEERS
    limits = ledger.limits(guesses, peers)
    if any(limits[kind][1] and tokens > limits[kind][0] for kind in TOKEN_KINDS):
        return Fit(at=None, within=False)
    start = max(now, not_before)
    at = earliest(ledger, limits, now=now, not_before=not_before, tokens=tokens, until=until)
    if at is not None and at <= start:
        return Fit(at=at, headroom=headroom(ledger, limits, now, tokens))
    if start <= now and ledger.probe_until <= now and not peers.probing:
        hard = earliest(ledger, limits, now=now, not_before=not_before, tokens=tokens, hard_only=True, until=start)
        if hard is not None:
            return Fit(at=start, probe=True, headroom=0.0)
    if at is not None:
        return Fit(at=at, headroom=0.0)
    later = earliest(ledger, limits, now=now, not_before=not_before, tokens=tokens)
    return Fit(at=later, within=False, headroom=0.0)


def headroom(ledger: Ledger, limits: dict[str, tuple[float, bool]], now: float, tokens: int = 0) -> float:
    """The tightest limit's share still free in the window ending now (0..1)."""
    used = ledger.used(now)
    shares = []
    for kind in KINDS:
        value, _hard = limits[kind]
        if math.isfinite(value) and value > 0:
            cost = tokens if kind in TOKEN_KINDS else (1 if tokens else 0)
            shares.append((value - used[kind] - cost) / value)
    return max(0.0, min(shares)) if shares else 1.0


def probe_raise(ledger: Ledger, guesses: dict[str, int | None], now: float, tokens: int,
                peers: Peers | None = None) -> None:
    """A probe goes past soft limits: raise each one it passes to what it now holds."""
    limits = ledger.limits(guesses, peers)
    used = ledger.used(now)
    for kind in KINDS:
        value, hard = limits[kind]
        cost = tokens if kind in TOKEN_KINDS else 1
        if not hard and used[kind] + cost > value:
            ledger.learn(kind, used[kind] + cost, PROBE, now)


# ----- inbox events: what finished calls tell the budget without reading it -----------------

def settle_event(mslot: int, dslot: int, requests: int, tokens: int) -> str:
    return f"s,{mslot},{dslot},{requests},{tokens};"


def observe_event(at: float, *, limit_requests, remaining_requests, reset_requests,
                  limit_tokens, remaining_tokens, reset_tokens) -> str:
    def f(v) -> str:
        return "" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(int(v)))

    return "h," + ",".join(f(v) for v in (at, limit_requests, remaining_requests, reset_requests,
                                          limit_tokens, remaining_tokens, reset_tokens)) + ";"


PROBE_DONE = "p;"


def apply_inbox(ledger: Ledger, inbox: str) -> None:
    """Fold the events finished calls appended to the row since the last fold."""
    for event in inbox.split(";"):
        if not event:
            continue
        kind, *parts = event.split(",")
        try:
            if kind == "s":
                mslot, dslot, requests, tokens = (int(p) for p in parts)
                ledger.settle(mslot, dslot, requests, tokens)
            elif kind == "h":
                num = [float(p) if p else None for p in parts]
                at, lim_r, rem_r, reset_r, lim_t, rem_t, reset_t = num
                obs = Observation(
                    at=at or 0.0,
                    remaining_requests=None if rem_r is None else int(rem_r),
                    requests_reset=reset_r,
                    remaining_tokens=None if rem_t is None else int(rem_t),
                    tokens_reset=reset_t,
                )
                ledger.observe(obs, None if lim_r is None else int(lim_r), None if lim_t is None else int(lim_t))
            elif kind == "p":
                ledger.probe_until = 0.0
        except (TypeError, ValueError):
            continue  # a malformed event (should not happen) must not stop the pool
