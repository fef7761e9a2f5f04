"""The day windows (requests and tokens per day): budgets that refill continuously.

Groq's daily request budget refills continuously, not 24 hours after each request: its
documented example states 14,370 of 14,400 requests remaining with a reset of 2m59.56s, 30
requests restored in about 180 s, one every 86,400 / 14,400 = 6 s (docs/provider-facts.md).
A 24-hour rolling sum of our own admissions would hold an organization for most of a day after
a burst that the provider gives back within minutes. So each day limit is a `Bucket`: a deficit
(what is used and not yet restored) that refills at limit / period per second.

The provider's word sets the deficit outright, down or up: its `remaining` (plus what the pool
admitted after that reply) is the deficit, and its `reset` says when the bucket is full again,
which gives the period (`period_from_word`). A 429's "try again in 7m12s" sets the deficit so the
refused request fits exactly then, never a full day later. Where the provider says nothing (TPD
on Groq), the bucket refills at the period learned from the request headers (a day by default),
and after a refusal one call at a time confirms the room the refill promises (`Bucket.doubt`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

DAY = 86400.0
# The smallest deficit from which a word's reset tells the period: below it, the rounding of
# `remaining` to whole requests says too little about the rate.
PERIOD_EVIDENCE = 20
EPSILON = 1e-6  # of a request or a token: rounding, never room


@dataclass
class Bucket:
    """One day limit's deficit `used` as of `at` (seconds, the pool's clock).

    Reservations may lie in the future: `at` then is the latest admission's time, and the
    deficit seen from any earlier moment is `used` (no refill is credited before `at`), an
    upper bound that keeps every admission safe whatever order they were made in.
    """

    used: float = 0.0
    at: float = 0.0
    doubt: float = 0.0  # when a refusal said the refill was not there (0: none since a success)

    def copy(self) -> Bucket:
        return Bucket(self.used, self.at, self.doubt)

    def dump(self) -> list[float]:
        return [round(self.used, 3), round(self.at, 3), round(self.doubt, 3)]

    def deficit(self, t: float, rate: float) -> float:
        return max(0.0, self.used - max(0.0, t - self.at) * rate)

    def admit(self, t: float, cost: float, rate: float) -> None:
        if t >= self.at:
            self.used, self.at = self.deficit(t, rate) + cost, t
        else:
            self.used += cost

    def correct(self, delta: float) -> None:
        """A finished call's real count replaces its reservation (a release is negative)."""
        self.used = max(0.0, self.used + delta)

    def earliest(self, t: float, cost: float, limit: float, rate: float) -> float | None:
        """The first moment >= t at which `cost` fits under `limit`; None if never."""
        if cost > limit:
            return None
        # EPSILON: a deficit is a float (refill credited by the second); the sums and the
        # release of the same call must not leave it a hair above where it was.
        if not math.isfinite(limit) or self.deficit(t, rate) + cost <= limit + EPSILON:
            return t
        if rate <= 0:
            return None
        return max(t, self.at + (self.used + cost - limit) / rate)

    def set_used(self, used: float, at: float) -> None:
        self.used, self.at = max(0.0, used), at


def period_from_word(limit: int, remaining: int, reset: float | None) -> float | None:
    """The refill period a header implies: the deficit (limit - remaining) is restored in
    `reset` seconds, so the whole limit in limit * reset / deficit. None when the deficit is
    too small to tell. For a provider that counts a rolling window the reset is the age of the
    newest entry, and this errs long (a slower refill): the safe side."""
    deficit = limit - remaining
    if reset is None or reset <= 0 or deficit < PERIOD_EVIDENCE:
        return None
    return limit * reset / deficit


# ----- a day counted as a rolling window ----------------------------------------------------
# Groq's documented day refills continuously; another provider may count its day as a rolling
# window (at most N in any trailing day), which a bucket model over-promises after a burst. The
# headers tell the two apart: a bucket's reset grows with what is used (reset / deficit is one
# request's refill time, constant), a rolling window's reset is the age of its newest entry
# (about a full period right after the pool's own call, whatever is used). Until they tell, the
# day is a bucket, as Groq documents it; meanwhile a coarse rolling ring of the day is kept too,
# so the pool can switch at once.
DAY_SLICES = 128
SHAPE_SAMPLES = 8
BUCKET, ROLLING = "bucket", "rolling"


def _spread(values: list[float]) -> float:
    mean = sum(values) / len(values)
    return (max(values) - min(values)) / mean if mean > 0 else 0.0


def shape_from(samples: list[list[float]]) -> str | None:
    """The day's shape from recent (deficit, reset) pairs of the request headers; None while
    they cannot tell (too few, or the deficit has hardly varied)."""
    usable = [(d, r) for d, r in samples if d >= 1 and r > 0]
    if len(usable) < 4 or _spread([d for d, _ in usable]) < 0.3:
        return None
    if _spread([r / d for d, r in usable]) < 0.25:
        return BUCKET
    if _spread([r for _, r in usable]) < 0.25:
        return ROLLING
    return None
