"""A budget's state: what it admitted, what the provider said, what it knows of its limits.

One `Ledger` lives on each (provider, organization, model) Budget row. Its size depends on the
limits' periods and on the calls in flight, never on how much history the usage log holds.
Every change to it goes through a method here; services load it, call one, and store it back
(keymanager/services/budgets.py owns the row).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from keymanager.ledger.day import (
    BUCKET,
    DAY,
    DAY_SLICES,
    ROLLING,
    SHAPE_SAMPLES,
    Bucket,
    period_from_word,
    shape_from,
)
from keymanager.ledger.learned import (
    CONFIRMED,
    DAY_KINDS,
    FACT_HOLDS,
    HEADER,
    KINDS,
    NO_PEERS,
    PROBE,
    PUBLISHED,
    REFUSAL,
    Limit,
    Peers,
    learn,
    working_limits,
)
from keymanager.ledger.ring import (
    COUNTS,
    DAY_MEASURES,
    INPUT,
    MARGIN,
    MEASURES,
    MINUTE,
    OUTPUT,
    REQUESTS,
    Ring,
    Word,
    pack,
    unpack,
)

# A settled admission is remembered by its exact time while a call sent before it may still
# report: that call's word is the provider's count when it answered, and what the pool admitted
# after it is added on top (`since`). At most this many are kept (the newest); a word from a call
# older than all of them counts what was admitted after it from the minute ring (slices whole).
SETTLED_KEPT = 256
# After a reaped admission, a late settle still finds it this long (then it is forgotten).
REAPED_KEPT = 120.0
LRU_KEPT = 64  # keys remembered for least-recently-used order (others left the organization)


def day_ring(period: float, slices: dict | None = None, words: dict | None = None) -> Ring:
    """A coarse rolling window of one day of `period` seconds (DAY_SLICES slices)."""
    return Ring(period, (period + MARGIN) / DAY_SLICES, slices, words, DAY_MEASURES)


@dataclass(frozen=True)
class Cost:
    """What one request counts against the limits: itself, its prompt (`input`, estimated)
    and the output it may produce (`output`, its max tokens), as the provider counts a request
    up front."""

    input: int
    output: int = 0
    requests: int = 1

    @property
    def tokens(self) -> int:
        return self.input + self.output

    def counts(self) -> tuple[int, int, int]:
        return (self.requests, self.input, self.output)

    def negative(self) -> tuple[int, int, int]:
        return (-self.requests, -self.input, -self.output)

    def per_limit(self) -> dict[str, int]:
        return {"rpm": self.requests, "rpd": self.requests, "tpm": self.tokens, "tpd": self.tokens,
                "itpm": self.input, "otpm": self.output}


PENDING, SETTLED, REAPED = 0, 1, 2


@dataclass
class Admission:
    """One admitted call, by its exact time and what it counts. Until its call reports it is
    pending; past `deadline` its caller is taken for dead, and what it held beyond its prompt
    (the max tokens it may never use) is handed back (reaped)."""

    t: float
    requests: int
    input: int
    output: int
    deadline: float
    state: int = PENDING

    def dump(self) -> list:
        return [round(self.t, 3), self.requests, self.input, self.output, round(self.deadline, 3), self.state]

    def amount(self, kind: str) -> int:
        return {"rpm": self.requests, "rpd": self.requests, "tpm": self.input + self.output,
                "tpd": self.input + self.output, "itpm": self.input, "otpm": self.output}[kind]


@dataclass
class Ledger:
    minute: Ring = field(default_factory=Ring)
    day: dict[str, Bucket] = field(default_factory=lambda: {k: Bucket() for k in DAY_KINDS})
    period: float = DAY  # the day windows' refill period, as the provider's resets tell it
    learned: dict[str, Limit] = field(default_factory=dict)
    ceilings: dict[str, int] = field(default_factory=dict)
    lru: dict[int, float] = field(default_factory=dict)  # key id -> last admission time
    probe_until: float = 0.0  # a call admitted past a guess (or to confirm a refill) is in flight until then
    admissions: dict[str, Admission] = field(default_factory=dict)  # token -> recent or pending admission
    refusals: int = 0  # 429s since the last success (backoff when a 429 names no wait)
    token_ratio: float = 1.0  # the provider's prompt count / ours, learned from replies
    flex: int = 0  # service tier flex here: 1 served, -1 refused, 0 unknown
    flex_at: float = 0.0
    reported: dict[str, list[float]] = field(default_factory=dict)  # kind -> [remaining, when] (for admins)
    # The day as a rolling window too, and which of the two the provider's headers show it is.
    rolling_day: Ring = field(default_factory=lambda: day_ring(DAY))
    day_shape: str = BUCKET
    shape_samples: list[list[float]] = field(default_factory=list)  # recent (deficit, reset) of the day

    # ----- storage -----
    @classmethod
    def loads(cls, text: str | None) -> Ledger:
        if not text:
            return cls()
        data = json.loads(text)
        if "v" not in data:
            return cls._from_v2(data)
        return cls(
            minute=Ring(slices=unpack(data.get("m")),
                        words={k: Word(*w) for k, w in data.get("mw", {}).items()}),
            day={k: Bucket(*data.get("d", {}).get(k, ())) for k in DAY_KINDS},
            period=data.get("dp", DAY),
            learned={k: Limit(*v) for k, v in data.get("l", {}).items()},
            ceilings=dict(data.get("c", {})),
            lru={int(k): v for k, v in data.get("u", {}).items()},
            probe_until=data.get("p", 0.0),
            admissions={k: Admission(*v) for k, v in data.get("q", {}).items()},
            refusals=data.get("r", 0),
            token_ratio=data.get("k", 1.0),
            flex=data.get("f", [0, 0.0])[0],
            flex_at=data.get("f", [0, 0.0])[1],
            reported={k: list(v) for k, v in data.get("o", {}).items()},
            rolling_day=day_ring(data.get("rp", DAY), unpack(data.get("r1")),
                                 {k: Word(*w) for k, w in data.get("rw", {}).items()}),
            day_shape=data.get("ds", BUCKET),
            shape_samples=[list(s) for s in data.get("ss", ())],
        )

    @classmethod
    def _from_v2(cls, data: dict) -> Ledger:
        """A ledger stored by the pool's second core: limits, ceilings and key order carry over;
        its usage (24 h rolling sums) is dropped, since the provider's next word says it better."""
        return cls(
            learned={k: Limit(*v) for k, v in data.get("l", {}).items()},
            ceilings=dict(data.get("c", {})),
            lru={int(k): v for k, v in data.get("u", {}).items()},
        )

    def dumps(self) -> str:
        return json.dumps(
            {
                "v": 3,
                "m": pack(self.minute.slices),
                "mw": {i: w.dump() for i, w in self.minute.words.items()},
                "d": {k: b.dump() for k, b in self.day.items() if b.used or b.doubt},
                "dp": self.period,
                "l": {k: v.dump() for k, v in self.learned.items()},
                "c": self.ceilings,
                "u": self.lru,
                "p": self.probe_until,
                "q": {k: v.dump() for k, v in self.admissions.items()},
                "r": self.refusals,
                "k": round(self.token_ratio, 4),
                "f": [self.flex, self.flex_at],
                "o": self.reported,
                "rp": self.rolling_day.period,
                "r1": pack(self.rolling_day.slices),
                "rw": {k: w.dump() for k, w in self.rolling_day.words.items()},
                "ds": self.day_shape,
                "ss": self.shape_samples,
            },
            separators=(",", ":"),
        )

    def copy(self) -> Ledger:
        """An independent copy (a cached ledger is shared read-only; admissions go to a copy)."""
        return Ledger(
            minute=self.minute.copy(),
            day={k: b.copy() for k, b in self.day.items()},
            period=self.period,
            learned={k: Limit(v.value, v.source, v.at) for k, v in self.learned.items()},
            ceilings=dict(self.ceilings),
            lru=dict(self.lru),
            probe_until=self.probe_until,
            admissions={k: Admission(*v.dump()) for k, v in self.admissions.items()},
            refusals=self.refusals,
            token_ratio=self.token_ratio,
            flex=self.flex,
            flex_at=self.flex_at,
            reported={k: list(v) for k, v in self.reported.items()},
            rolling_day=self.rolling_day.copy(),
            day_shape=self.day_shape,
            shape_samples=[s[:] for s in self.shape_samples],
        )

    # ----- limits -----
    def limits(self, guesses: dict[str, int | None], peers: Peers | None = None,
               now: float = math.inf) -> dict[str, tuple[float, bool]]:
        """Per kind: (value, hard); see keymanager/ledger/learned.py for the rules."""
        return working_limits(self.learned, self.ceilings, guesses, peers or NO_PEERS, now)

    def learn(self, kind: str, value: int, source: str, at: float) -> bool:
        return learn(self.learned, kind, value, source, at)

    def forget(self, kinds: tuple[str, ...] = KINDS) -> None:
        """Drop what was learned of these limits (an admin's reset; a new tier): the shipped
        guesses stand again, to be probed past, and the provider's next word restates the rest."""
        for kind in kinds:
            self.learned.pop(kind, None)
            if kind in self.day:
                self.day[kind].doubt = 0.0
        self.probe_until = 0.0

    def rate(self, kind: str, limits: dict[str, tuple[float, bool]]) -> float:
        """How fast a day limit refills (per second)."""
        value = limits[kind][0]
        return value / self.period if math.isfinite(value) else 0.0

    # ----- usage -----
    def prune(self, now: float) -> None:
        """Forget what no window from now on can hold; hand back what dead callers held."""
        self.minute.prune(now)
        self.rolling_day.prune(now)
        if len(self.lru) > LRU_KEPT:
            for key_id in sorted(self.lru, key=self.lru.get)[:-LRU_KEPT]:
                del self.lru[key_id]
        for entry in self.admissions.values():
            if entry.state == PENDING and entry.deadline < now:
                self._correct(self.minute.slot(entry.t), (0, 0, -entry.output), at=entry.t)
                entry.state = REAPED
        oldest_pending = min((a.t for a in self.admissions.values() if a.state == PENDING), default=math.inf)
        settled = sorted((a.t, token) for token, a in self.admissions.items() if a.state != PENDING)
        for rank, (t, token) in enumerate(reversed(settled)):
            entry = self.admissions[token]
            wanted = t > oldest_pending and rank < SETTLED_KEPT
            if entry.state == REAPED and entry.deadline + REAPED_KEPT >= now:
                wanted = True  # a late report still finds what was handed back
            if not wanted:
                del self.admissions[token]

    def admit(self, t: float, cost: Cost, limits: dict[str, tuple[float, bool]], *, token: str = "",
              deadline: float = 0.0) -> int:
        """Count one request at time t (now, or a reserved slot); returns its minute slice.
        With a `token`, the admission is pending until its call reports (`settle`). The time is
        taken to the millisecond as it is stored and as the call's events name it (its send
        time), so its settle finds it in the same slices and the provider's word does not count
        it twice (a slot's start is a whole millisecond already: `Ring.start`)."""
        t = round(t, 3)
        slot = self.minute.slot(t)
        self.minute.add(slot, cost.counts())
        self.rolling_day.add(self.rolling_day.slot(t), cost.counts())
        self.day["rpd"].admit(t, cost.requests, self.rate("rpd", limits))
        self.day["tpd"].admit(t, cost.tokens, self.rate("tpd", limits))
        if token:
            self.admissions[token] = Admission(t, cost.requests, cost.input, cost.output, deadline)
        return slot

    def pending(self, token: str) -> bool:
        """Whether this admission still waits for its call to report (not reaped as dead)."""
        entry = self.admissions.get(token)
        return entry is not None and entry.state == PENDING

    def since(self, t: float, kind: str) -> int:
        """What the pool admitted after moment `t`, as limit `kind` counts it: exactly where the
        admissions are remembered, from the minute ring before the oldest of them."""
        exact = sum(a.amount(kind) for a in self.admissions.values() if a.t > t)
        known_from = min((a.t for a in self.admissions.values()), default=math.inf)
        if t >= known_from or not math.isfinite(known_from):
            return exact
        measure = "rpm" if kind in ("rpm", "rpd") else "tpm"
        return exact + self.minute.ours(self.minute.slot(t), self.minute.slot(known_from) - 1, measure)

    def _correct(self, mslot: int, delta: tuple[int, int, int], at: float | None = None) -> None:
        self.minute.correct(mslot, delta)
        if at is not None:
            self.rolling_day.correct(self.rolling_day.slot(at), delta)
        self.day["rpd"].correct(delta[REQUESTS])
        self.day["tpd"].correct(delta[INPUT] + delta[OUTPUT])

    def settle(self, token: str, mslot: int, delta: tuple[int, int, int]) -> None:
        """A finished call's count replaces its reservation where it was counted (a release
        is negative). A call reaped as dead has already handed back its max tokens."""
        entry = self.admissions.get(token) if token else None
        if entry is not None:
            if entry.state == SETTLED:
                return  # told twice: once is what it counts
            if entry.state == REAPED:
                delta = (delta[REQUESTS], delta[INPUT], delta[OUTPUT] + entry.output)
                entry.output = 0
            entry.requests += delta[REQUESTS]
            entry.input += delta[INPUT]
            entry.output = max(0, entry.output + delta[OUTPUT])
            entry.state = SETTLED
        self._correct(mslot, delta, at=entry.t if entry is not None else None)

    def succeeded(self, sent_at: float, prompt_ours: int = 0, prompt_theirs: int = 0) -> None:
        """A call sent at `sent_at` was served: the refusals' backoff ends, a refill doubted
        since before it is proven, and the prompt's count teaches the token ratio."""
        self.refusals = 0
        for bucket in self.day.values():
            if bucket.doubt and sent_at >= bucket.doubt:
                bucket.doubt = 0.0
        self.counted_prompt(prompt_ours, prompt_theirs)

    def counted_prompt(self, ours: int, theirs: int) -> None:
        """The provider counted `theirs` prompt tokens where the pool's tokenizer counted `ours`."""
        if ours > 0 and theirs > 0:
            sample = theirs / ours
            self.token_ratio = min(4.0, max(0.25, 0.7 * self.token_ratio + 0.3 * sample))

    def used(self, now: float, limits: dict[str, tuple[float, bool]] | None = None) -> dict[str, int]:
        """What each limit holds in its window now (an upper bound)."""
        limits = limits or self.limits({})
        if self.day_shape == ROLLING:
            day = self.rolling_day.trailing(self.rolling_day.slot(now))
        else:
            day = {kind: math.ceil(self.day[kind].deficit(now, self.rate(kind, limits))) for kind in self.day}
        return {**self.minute.trailing(self.minute.slot(now)), **day}

    # ----- the provider's word -----
    def hear(self, kind: str, *, sent: float, received: float, limit: int | None, remaining: int | None,
             reset: float | None, own: int = 0) -> None:
        """One window's figures from a reply's headers (the caller has mapped the header names
        to limit kinds in the provider's own meaning). `own` is what this reply's own call counts
        in that window: it is counted by the provider and by our admissions since `sent`."""
        if limit:
            self._learn_published(kind, int(limit), received)
        value = limit or (self.learned[kind].value if kind in self.learned else None)
        if remaining is None or not value:
            return
        if received >= self.reported.get(kind, (0, 0.0))[1]:
            self.reported[kind] = [int(remaining), round(received, 3)]
        provider_used = max(0, value - remaining)
        if kind in MEASURES:
            # Everything before this call's slice, as the provider counted it; this call and
            # what we admitted since are in the ring after that slice.
            self.minute.hear(kind, slot=self.minute.slot(sent) - 1, value=max(0, provider_used - own),
                             free_at=received + min(max(reset or 0.0, 0.0), MINUTE), total=provider_used,
                             upto=self.minute.slot(received))
        elif kind in self.day:
            if kind == "rpd":
                self._learn_day_shape(provider_used, reset, received)
                period = period_from_word(value, remaining, reset)
                if period is not None:
                    self.period = min(max(period, MINUTE), 2 * DAY)
            # The provider's count as it answered, with what the pool admitted after this call
            # up to then; calls reserved for later are counted again at their own times, as
            # they were admitted (lumped in now, they would fill the bucket before their time
            # and the re-check of an earlier reservation would find no room).
            future = sorted((a.t, a.amount(kind)) for a in self.admissions.values() if a.t > received)
            bucket = self.day[kind]
            bucket.set_used(provider_used + self.since(sent, kind) - sum(n for _, n in future), received)
            for t, amount in future:
                bucket.admit(t, amount, value / self.period)
            ring = self.rolling_day
            ring.hear(kind, slot=ring.slot(sent) - 1, value=max(0, provider_used - own),
                      free_at=received + min(max(reset or 0.0, 0.0), ring.period), total=provider_used,
                      upto=ring.slot(received))

    def _learn_day_shape(self, deficit: int, reset: float | None, now: float) -> None:
        """Whether the day refills continuously or is a rolling window, from how its reset moves
        with what is used; a rolling day's period is its reset right after the pool's call."""
        if reset is None:
            return
        self.shape_samples = [*self.shape_samples, [deficit, round(reset, 3)]][-SHAPE_SAMPLES:]
        shape = shape_from(self.shape_samples)
        if shape is not None:
            self.day_shape = shape
        if self.day_shape == ROLLING:
            period = min(max(max(r for _, r in self.shape_samples), MINUTE), 2 * DAY)
            if abs(period - self.rolling_day.period) > 0.1 * self.rolling_day.period:
                self._resize_rolling_day(period, now)

    def _resize_rolling_day(self, period: float, now: float) -> None:
        """Another period for the rolling day. The admissions the ledger knows by their exact
        time go where they belong; the rest of each old slice goes as late as it can have been
        (its end, no later than the oldest exact admission or now): it then leaves the window
        no sooner than it really does, an upper bound still. The provider's next word restates it."""
        old, new = self.rolling_day, day_ring(period)
        exact: dict[int, list[int]] = {}
        for admission in self.admissions.values():
            counts = (admission.requests, admission.input, admission.output)
            new.add(new.slot(admission.t), counts)
            cell = exact.setdefault(old.slot(admission.t), [0] * COUNTS)
            for i, value in enumerate(counts):
                cell[i] += value
        oldest = min((a.t for a in self.admissions.values()), default=now)
        for slot, cell in old.slices.items():
            rest = tuple(max(0, v - e) for v, e in zip(cell, exact.get(slot, [0] * COUNTS), strict=True))
            if any(rest):
                new.add(new.slot(min(old.start(slot + 1), oldest, now) - 1e-6), rest)
        self.rolling_day = new

    def _learn_published(self, kind: str, value: int, at: float) -> None:
        """A header states a published limit; another value than before means another tier:
        what was learned under the old one no longer holds."""
        previous = self.learned.get(kind)
        if kind in PUBLISHED and previous is not None and previous.source == HEADER and previous.value != value:
            self.forget(tuple(k for k, limit in self.learned.items() if limit.source != HEADER))
        self.learn(kind, value, HEADER, at)

    def refused(self, *, at: float, kind: str | None, limit: int | None, used: int | None,
                wait: float | None, requested: int | None) -> None:
        """What a 429 said: the limit it names (a fact for a while), what the provider counted,
        and when the refused request fits (`wait` after `at`). The block ends then: it is never
        stretched to a period's full length."""
        self.refusals += 1
        self.probe_until = 0.0
        if kind is None:
            return
        if limit:
            self.learn(kind, int(limit), REFUSAL, at)
        value = limit or (self.learned[kind].value if kind in self.learned else None)
        if kind in MEASURES and used is not None:
            # Slices from `at` on are ours on top of what the provider counted (a few of them
            # possibly twice: the safe side).
            self.minute.hear(kind, slot=self.minute.slot(at) - 1, value=used,
                             rest=None if value is None or wait is None else value - (requested or 1),
                             rest_at=None if wait is None else at + wait, free_at=at + MINUTE, total=used,
                             upto=self.minute.slot(at))
        elif kind in self.day:
            bucket = self.day[kind]
            later = self.minute.ours(self.minute.slot(at) + 1, self.minute.slot(at) + self.minute.span,
                                     "rpm" if kind == "rpd" else "tpm")
            if value and wait is not None:
                # Full but for the refused request exactly `wait` from now.
                need = requested or 1
                bucket.set_used(max(0.0, value - need + wait * value / self.period) + later, at)
            elif used is not None:
                bucket.set_used(used + later, at)
            bucket.doubt = at
            if used is not None:
                ring = self.rolling_day
                ring.hear(kind, slot=ring.slot(at) - 1, value=used,
                          rest=None if value is None or wait is None else value - (requested or 1),
                          rest_at=None if wait is None else at + wait, free_at=at + ring.period, total=used,
                          upto=ring.slot(at))

    def backoff(self, base: float, cap: float) -> float:
        """How long to hold an organization after a 429 that names no usable wait: doubling
        with each refusal since the last success, up to `cap`."""
        return min(cap, base * 2 ** max(0, self.refusals - 1))

    # ----- merging organizations -----
    def absorb(self, other: Ledger) -> None:
        """`other`'s budget turned out to be this one's (the provider named the organization):
        its usage adds to ours, and the better-founded knowledge of each limit is kept."""
        for slot, cell in other.minute.slices.items():
            self.minute.add(slot, tuple(cell))
        for index, word in other.minute.words.items():
            mine = self.minute.words.get(index)
            if mine is None or word.slot > mine.slot:
                self.minute.words[index] = Word(*word.dump())
        for slot, cell in other.rolling_day.slices.items():
            self.rolling_day.add(self.rolling_day.slot(other.rolling_day.start(slot)), tuple(cell))
        for kind, theirs in other.day.items():
            mine = self.day[kind]
            mine.used += theirs.used
            mine.at = max(mine.at, theirs.at)
            mine.doubt = max(mine.doubt, theirs.doubt)
        for kind, limit in other.learned.items():
            mine_limit = self.learned.get(kind)
            if mine_limit is None or (limit.source in CONFIRMED
                                      and (mine_limit.source not in CONFIRMED or limit.at > mine_limit.at)):
                self.learned[kind] = Limit(limit.value, limit.source, limit.at)
        for key_id, at in other.lru.items():
            self.lru[key_id] = max(at, self.lru.get(key_id, at))
        self.admissions.update({k: Admission(*v.dump()) for k, v in other.admissions.items()})
        self.probe_until = max(self.probe_until, other.probe_until)
        self.refusals = max(self.refusals, other.refusals)
        self.period = max(self.period, other.period)


def probe_raise(ledger: Ledger, limits: dict[str, tuple[float, bool]], now: float, cost: Cost) -> None:
    """A probe goes past soft limits: raise each one it passes to what it now holds."""
    used = ledger.used(now, limits)
    amounts = cost.per_limit()
    for kind in KINDS:
        value, hard = limits[kind]
        if not hard and math.isfinite(value) and used[kind] + amounts[kind] > value:
            ledger.learn(kind, used[kind] + amounts[kind], PROBE, now)


__all__ = ["COUNTS", "Admission", "Cost", "FACT_HOLDS", "Ledger", "probe_raise"]
