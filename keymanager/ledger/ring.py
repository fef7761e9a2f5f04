"""The minute window: a rolling upper bound of what was sent, corrected by the provider's word.

A `Ring` holds, per slice of `width` seconds (absolute slice numbers: time // width), the
requests, input tokens and output tokens this pool admitted; each minute limit is a sum of
those (`MEASURES`: tokens per minute counts input and output). The provider's counting algorithm is not
published (rolling window or token bucket); a rolling window of N per period T is the stricter,
so every window sum counts a partly covered slice whole and spans the period plus `MARGIN` (time
on the wire): an upper bound that both shapes accept (docs/provider-facts.md, Rate limits).

Where the provider says what it counted (a header's remaining figure, a 429's "Used N"), that
word replaces the pool's own figure for everything sent before it, down or up (`Word`): what
we admitted since is added on top, and what was before it can only leave the window.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

MINUTE = 60.0
# MARGIN widens every window for a process that wakes late for its slot (up to half of it:
# `selection.late`), time on the wire, and the rest of the clock's error (the pool's clock is
# the database's, so hosts do not add their own: keymanager/clock.py). A loaded machine was
# seen to spend more than 0.25 s between admitting a call and the request reaching the provider.
MARGIN = 0.5
MINUTE_SLICE = (MINUTE + MARGIN) / 242  # 0.25 s; divides the window plus margin exactly

REQUESTS, INPUT, OUTPUT = 0, 1, 2  # the counts a slice holds
COUNTS = 3
# Each minute limit and the counts it adds up.
MEASURES: dict[str, tuple[int, ...]] = {
    "rpm": (REQUESTS,),
    "tpm": (INPUT, OUTPUT),
    "itpm": (INPUT,),
    "otpm": (OUTPUT,),
}
# The day's limits, where a day is counted as a rolling window (`day.DayRing`).
DAY_MEASURES: dict[str, tuple[int, ...]] = {"rpd": (REQUESTS,), "tpd": (INPUT, OUTPUT)}


@dataclass
class Word:
    """The provider's count of one of the ring's counts, as of slice `slot`.

    Two upper bounds come of it, and a window counts the lower of the two:
    - the provider's own figure: `value`, what it counted in its window ending at `slot`, not
      counting what this pool admitted after `slot`, plus all that the pool admitted since (a
      few of those the provider had counted already: the safe side);
    - the pool's own figure plus `outside`: what the provider counted beyond everything the
      pool had admitted until the word came (another application, a key not yet known to share
      the organization).
    From slice `until` on, at most `rest` of `value` is left (a 429's "try again in 2s" says
    room for the refused request comes back then); from slice `free` on, nothing counted before
    the word is (a header's reset: the window is fully restored; never later than one window
    on). `ours`: what the ring counted in the window ending at `slot` when the word came."""

    slot: int
    value: int
    ours: int
    until: int
    rest: int
    free: int
    outside: int = 0

    def dump(self) -> list[int]:
        return [self.slot, self.value, self.ours, self.until, self.rest, self.free, self.outside]

    def cap(self, j: int) -> int:
        return self.value if j < self.until else self.rest

    def beyond(self, j: int) -> int:
        """What the provider counted beyond our admissions, still in window j."""
        return self.outside if j < self.until else max(0, self.outside - (self.value - self.rest))

    def count(self, j: int, pre: int, post: int) -> int:
        """Window j's count with this word applied, from what the pool admitted in it up to
        the word's slice (`pre`) and after it (`post`)."""
        if j >= self.free:
            return post  # the provider's reset: what it counted before the word is gone
        cap = self.cap(j)
        theirs = min(cap, pre + max(0, cap - self.ours)) + post
        return min(theirs, pre + post + self.beyond(j))


class Ring:
    __slots__ = ("period", "width", "span", "slices", "words", "measures")

    def __init__(self, period: float = MINUTE, width: float = MINUTE_SLICE,
                 slices: dict[int, list[int]] | None = None, words: dict[str, Word] | None = None,
                 measures: dict[str, tuple[int, ...]] | None = None) -> None:
        self.period = period
        self.width = width
        self.measures = MEASURES if measures is None else measures
        # The most slices one window of period + margin can touch (one more when unaligned).
        self.span = math.ceil((period + MARGIN) / width - 1e-9) + 1
        self.slices = slices if slices is not None else {}
        self.words = words if words is not None else {}  # minute limit kind -> Word

    def copy(self) -> Ring:
        return Ring(self.period, self.width, {s: v[:] for s, v in self.slices.items()},
                    {k: Word(*w.dump()) for k, w in self.words.items()}, self.measures)

    def slot(self, t: float) -> int:
        return math.floor(t / self.width)

    def start(self, slot: int) -> float:
        """The first whole millisecond of `slot` (the moment a call reserved there is sent).

        A ledger stores times to the millisecond (`Admission.dump`), and a slot's exact start
        (slot * width) is seldom one when the width is learned (a rolling day's period / 128):
        stored, it would round into the slot before, and the call's settle, release or re-check
        would look for it in the wrong slice (where it is not). So a slot starts at a whole
        millisecond that `slot()` maps to it."""
        t = math.ceil(slot * self.width * 1000 - 1e-6) / 1000
        while math.floor(t / self.width) < slot:
            t = round(t + 0.001, 3)
        return t

    # ----- what was admitted -----
    def add(self, slot: int, cost: tuple[int, ...]) -> None:
        cell = self.slices.setdefault(slot, [0] * COUNTS)
        for i, value in enumerate(cost):
            cell[i] = max(0, cell[i] + value)
        if not any(cell):
            del self.slices[slot]

    def correct(self, slot: int, delta: tuple[int, ...]) -> None:
        """Correct an admission in the slice it was counted in; a slice that has left the
        ring needs no correction: no window holds it any more."""
        if slot in self.slices:
            self.add(slot, delta)

    def prune(self, now: float) -> None:
        """Forget slices and words that no window from now on can contain."""
        current = self.slot(now)
        for s in [s for s in self.slices if s + self.span <= current]:
            del self.slices[s]
        for kind in [k for k, w in self.words.items() if min(w.free, w.slot + self.span) <= current]:
            del self.words[kind]

    def ours(self, first: int, last: int, kind: str) -> int:
        """What this pool admitted in slices first..last (inclusive), as limit `kind` counts."""
        counts = self.measures[kind]
        return sum(sum(cell[i] for i in counts) for s, cell in self.slices.items() if first <= s <= last)

    # ----- the provider's word -----
    def hear(self, kind: str, *, slot: int, value: int, free_at: float, rest: int | None = None,
             rest_at: float | None = None, total: int | None = None, upto: int | None = None) -> None:
        """The provider counted `value` in its window ending with slice `slot` (our later
        admissions excluded), `total` with them up to slice `upto`; at most `rest` of `value`
        is left from `rest_at` on, and none from `free_at` on (each capped at one window after
        `slot`)."""
        current = self.words.get(kind)
        if current is not None and current.slot > slot:
            return  # an older report than one already heard
        value = max(0, int(value))
        free = max(slot + 1, min(self.slot(free_at) + 1, slot + self.span))
        until = free if rest_at is None else max(slot + 1, min(self.slot(rest_at) + 1, free))
        rest = value if rest is None else max(0, min(value, int(rest)))
        ours = self.ours(slot - self.span + 1, slot, kind)
        upto = slot if upto is None else upto
        total = value if total is None else max(0, int(total))
        outside = max(0, total - self.ours(slot - self.span + 1, upto, kind))
        self.words[kind] = Word(slot, value, ours, until, rest, free, outside)

    # ----- window sums -----
    def trailing(self, slot: int) -> dict[str, int]:
        """Each minute limit's count in the window ending with `slot` (an upper bound of the
        provider's)."""
        return {kind: self._sum_at(slot, kind) for kind in self.measures}

    def _sum_at(self, j: int, kind: str) -> int:
        """S(j) alone (`_sums(j, j, kind)[0]`) in one pass over the slices: the hot path asks
        for one window per limit on every acquire."""
        lo = j - self.span + 1
        counts = self.measures[kind]
        word = self.words.get(kind)
        if word is not None and word.slot <= j - self.span:
            word = None
        before_word = j if word is None else min(j, word.slot)
        total = pre = 0
        for s, cell in self.slices.items():
            if lo <= s <= j:
                value = cell[counts[0]] if len(counts) == 1 else sum(cell[i] for i in counts)
                total += value
                if s <= before_word:
                    pre += value
        return total if word is None else word.count(j, pre, total - pre)

    def _sums(self, first: int, last: int, kind: str) -> list[int]:
        """S(j) for j in first..last: limit `kind`'s count in the window (j - span, j], the
        provider's word applied."""
        span = self.span
        lo = first - span + 1
        n = last - lo + 1
        counts = self.measures[kind]
        own = [0] * (n + 1)  # prefix sums over slots lo-1 .. last
        for s, cell in self.slices.items():
            if lo <= s <= last:
                own[s - lo + 1] += sum(cell[i] for i in counts)
        for k in range(1, n + 1):
            own[k] += own[k - 1]

        def upto(s: int) -> int:  # our admissions in slots lo..s
            return own[max(0, min(s, last) - lo + 1)]

        word = self.words.get(kind)
        out = []
        for j in range(first, last + 1):
            plain = upto(j) - upto(j - span)
            if word is None or word.slot <= j - span:
                out.append(plain)
                continue
            before_word = min(j, word.slot)
            out.append(word.count(j, upto(before_word) - upto(j - span), upto(j) - upto(before_word)))
        return out

    def has_after(self, slot: int) -> bool:
        return any(s > slot for s in self.slices)

    # ----- where a call fits -----
    def fits_at(self, slot: int, cost: dict[str, int], limits: dict[str, float]) -> bool:
        """Whether `cost` (per minute limit) admitted at `slot` keeps every window within `limits`."""
        if not self.has_after(slot):
            # Nothing admitted after this slot: later windows only lose entries.
            return all(
                cost[kind] == 0 or self._sum_at(slot, kind) + cost[kind] <= limit
                for kind, limit in limits.items()
                if math.isfinite(limit)
            )
        return self.first_fit(slot, cost, limits, last=slot) == slot

    def first_fit(self, first: int, cost: dict[str, int], limits: dict[str, float], *,
                  last: int | None = None) -> int | None:
        """The first slot >= `first` (and <= `last`) where `cost` fits every window it would
        join, for every limit; None if none.

        Window sums S(j), then a sliding maximum of S over the `span` windows that an entry at
        slot a joins: O(slices scanned)."""
        active = [k for k, lim in limits.items() if cost.get(k) and math.isfinite(lim)]
        if any(cost[k] > limits[k] for k in active):
            return None
        if not active:
            return first
        end = max((s for s in self.slices if s > first - self.span), default=first)
        end = max(end, *(w.slot for w in self.words.values())) if self.words else end
        # Past `end + span` every window is empty: what a word counted has left it by then.
        top = end + self.span if last is None else min(last, end + self.span)
        if top < first:
            return None
        hi = top + self.span - 1
        sums = {k: self._sums(first, hi, k) for k in active}
        rooms = {k: limits[k] - cost[k] for k in active}

        def bad(i: int) -> float:
            # How far over its room the tightest limit is in window i (<= 0 is fine).
            return max(sums[k][i] - rooms[k] for k in active)

        count = hi - first + 1
        window: deque[int] = deque()  # indices of S with decreasing badness
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


def pack(slices: dict[int, list[int]]) -> list[int]:
    """Slices as one flat list: per slice in order, (slot - previous slot, counts...). About a
    third of the size of a JSON object, and quicker to read."""
    out: list[int] = []
    previous = 0
    for slot in sorted(slices):
        out.append(slot - previous)
        out += slices[slot]
        previous = slot
    return out


def unpack(packed) -> dict[int, list[int]]:
    slices: dict[int, list[int]] = {}
    slot = 0
    step = COUNTS + 1
    for i in range(0, len(packed or ()), step):
        slot += packed[i]
        slices[slot] = list(packed[i + 1 : i + step])
    return slices
