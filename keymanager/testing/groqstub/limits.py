"""Rate limiting per (organization, model), with a choice of algorithm.

Groq budgets are per organization and model (docs/provider-facts.md), so one limiter exists per pair
and every key of the organization draws from it. Groq does not publish how it counts, so the
stand-in offers two common shapes, both over the same four limits:

- ``rolling`` (``SlidingWindow``): at most N in any trailing window, exact.
- ``bucket`` (``TokenBucket``): capacity N refilled at N per window, continuously; it lets a
  full burst through at once and then one more every window/N.

Its tokenizer is its own (``prompt_tokens``), not any client's estimate: a key pool learns what
the stand-in counted from ``usage`` and the ``x-ratelimit-*`` headers, as it must with Groq.
"""

from __future__ import annotations

import math
import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any

# Free-tier table from docs/provider-facts.md: rpm / rpd / tpm / tpd per (organization, model).
FREE_TIER: dict[str, dict[str, int]] = {
    "openai/gpt-oss-20b": {"rpm": 30, "rpd": 1000, "tpm": 8000, "tpd": 200000},
    "openai/gpt-oss-120b": {"rpm": 30, "rpd": 1000, "tpm": 8000, "tpd": 200000},
    "qwen/qwen3.6-27b": {"rpm": 30, "rpd": 1000, "tpm": 8000, "tpd": 200000},
    "llama-3.3-70b-versatile": {"rpm": 30, "rpd": 1000, "tpm": 12000, "tpd": 100000},
    "llama-3.1-8b-instant": {"rpm": 30, "rpd": 14400, "tpm": 6000, "tpd": 500000},
}
# Used for a served model that no table mentions, so every model has all four limits.
FALLBACK = {"rpm": 30, "rpd": 1000, "tpm": 8000, "tpd": 200000}

# (limit name, phrase in Groq's 429 message, error type)
PHRASES = {
    "rpm": ("requests per minute (RPM)", "requests"),
    "rpd": ("requests per day (RPD)", "requests"),
    "tpm": ("tokens per minute (TPM)", "tokens"),
    "tpd": ("tokens per day (TPD)", "tokens"),
}


def go_duration(seconds: float) -> str:
    """Format like Go's ``time.Duration.String`` at 10 ms resolution, as Groq's reset headers do.

    ``2m59.56s``, ``6s``, ``400ms``, ``1h2m3.5s``, ``1h0m0s``; zero or negative -> ``0s``.
    """
    if seconds <= 0:
        return "0s"
    if seconds < 0.9995:
        return f"{max(1, round(seconds * 1000))}ms"
    # Round once, in centiseconds, so 59.999 becomes "1m0s" instead of "60s".
    cs = round(seconds * 100)
    hours, cs = divmod(cs, 360000)
    minutes, cs = divmod(cs, 6000)
    secs = f"{cs // 100}.{cs % 100:02d}".rstrip("0").rstrip(".")
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def message_text(content: Any) -> str:
    """Text of one message's content: a string, or OpenAI-style content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


_PIECES = re.compile(r"[A-Za-z]+|[0-9]+|[^\sA-Za-z0-9]")


def text_tokens(text: str) -> int:
    """The stand-in's tokenizer, loosely BPE-like: a word is one token per 5 letters (at
    least one), a number one per 3 digits, every other visible character (punctuation,
    accents, CJK, emoji) one token of its own; white space is free."""
    total = 0
    for piece in _PIECES.findall(text):
        if piece[0].isascii() and piece[0].isalpha():
            total += math.ceil(len(piece) / 5)
        elif piece[0].isascii() and piece[0].isdigit():
            total += math.ceil(len(piece) / 3)
        else:
            total += 1
    return total


def prompt_tokens(messages: list[Any]) -> int:
    """Sum over messages of the content's tokens plus 4 for the message's framing."""
    total = 0
    for msg in messages:
        text = message_text(msg.get("content")) if isinstance(msg, dict) else ""
        total += text_tokens(text) + 4
    return total


def resolve_limits(model: str, org_limits: dict | None, default_limits: dict | None) -> dict[str, int]:
    """Org override on top of the default table on top of the fallback, limit by limit."""
    table = FREE_TIER if default_limits is None else default_limits
    merged = dict(FALLBACK)
    merged.update(table.get(model, {}))
    merged.update((org_limits or {}).get(model, {}))
    return {k: int(merged[k]) for k in ("rpm", "rpd", "tpm", "tpd")}


class Entry:
    """One admitted request: admission time and the tokens it currently holds."""

    __slots__ = ("t", "tokens", "in_min", "in_day")

    def __init__(self, t: float, tokens: int) -> None:
        self.t = t
        self.tokens = tokens
        self.in_min = True
        self.in_day = True


@dataclass
class Refusal:
    limit: str  # "rpm" | "rpd" | "tpm" | "tpd"
    limit_value: int
    used: int
    requested: int
    wait: float  # seconds until the request would fit


@dataclass
class SlidingWindow:
    """Sliding windows for one (organization, model). Callers hold the stub's lock."""

    limits: dict[str, int]
    window: float
    day: float
    minute_q: deque[Entry] = field(default_factory=deque)
    day_q: deque[Entry] = field(default_factory=deque)
    min_tokens: int = 0
    day_tokens: int = 0

    def prune(self, now: float) -> None:
        while self.minute_q and self.minute_q[0].t <= now - self.window:
            e = self.minute_q.popleft()
            e.in_min = False
            self.min_tokens -= e.tokens
        while self.day_q and self.day_q[0].t <= now - self.day:
            e = self.day_q.popleft()
            e.in_day = False
            self.day_tokens -= e.tokens

    @staticmethod
    def _wait_count(q: deque[Entry], limit: int, span: float, now: float) -> float:
        # The (len - limit)-th oldest entry must expire before one more request fits.
        idx = len(q) - limit
        if idx < 0:
            return 0.0
        return q[idx].t + span - now if idx < len(q) else span

    @staticmethod
    def _wait_tokens(q: deque[Entry], used: int, need: int, limit: int, span: float, now: float) -> float:
        for e in q:  # oldest first: each expiry frees its tokens
            if used + need <= limit:
                break
            used -= e.tokens
            if used + need <= limit:
                return e.t + span - now
        return 0.0 if used + need <= limit else span

    def check(self, now: float, need: int) -> Refusal | None:
        """The refusal with the longest wait, or None if the request fits all four limits."""
        self.prune(now)
        lim = self.limits
        refusals: list[Refusal] = []
        if len(self.minute_q) >= lim["rpm"]:
            w = self._wait_count(self.minute_q, lim["rpm"], self.window, now)
            refusals.append(Refusal("rpm", lim["rpm"], len(self.minute_q), 1, w))
        if len(self.day_q) >= lim["rpd"]:
            w = self._wait_count(self.day_q, lim["rpd"], self.day, now)
            refusals.append(Refusal("rpd", lim["rpd"], len(self.day_q), 1, w))
        if self.min_tokens + need > lim["tpm"]:
            w = self._wait_tokens(self.minute_q, self.min_tokens, need, lim["tpm"], self.window, now)
            refusals.append(Refusal("tpm", lim["tpm"], self.min_tokens, need, w))
        if self.day_tokens + need > lim["tpd"]:
            w = self._wait_tokens(self.day_q, self.day_tokens, need, lim["tpd"], self.day, now)
            refusals.append(Refusal("tpd", lim["tpd"], self.day_tokens, need, w))
        if not refusals:
            return None
        return max(refusals, key=lambda r: r.wait)  # max() keeps the first of equal waits

    def admit(self, now: float, need: int) -> Entry:
        entry = Entry(now, need)
        self.minute_q.append(entry)
        self.day_q.append(entry)
        self.min_tokens += need
        self.day_tokens += need
        return entry

    def settle(self, entry: Entry, actual: int) -> None:
        """Replace a reservation by the actual usage, releasing what was not used."""
        delta = actual - entry.tokens
        entry.tokens = actual
        if entry.in_min:
            self.min_tokens += delta
        if entry.in_day:
            self.day_tokens += delta

    def over_budget(self, now: float) -> bool:
        """Recount the minute window from its entries (not the running sums) against the limits.

        The day window is checked from its length and running sum: rescanning up to RPD entries
        on every admission would make long benchmarks quadratic.
        """
        lim = self.limits
        in_min = [e for e in self.minute_q if e.t > now - self.window]
        return (
            len(in_min) > lim["rpm"]
            or len(self.day_q) > lim["rpd"]
            or sum(e.tokens for e in in_min) > lim["tpm"]
            or self.day_tokens > lim["tpd"]
        )

    def headers(self, now: float) -> dict[str, str]:
        """Groq's x-ratelimit-* headers for the current state (call after admitting, if any).

        Reset values are the time until the window is fully restored, i.e. until the newest
        entry leaves it.
        """
        lim = self.limits
        reset_req = self.day_q[-1].t + self.day - now if self.day_q else 0.0
        reset_tok = self.minute_q[-1].t + self.window - now if self.minute_q else 0.0
        return {
            "x-ratelimit-limit-requests": str(lim["rpd"]),
            "x-ratelimit-remaining-requests": str(max(0, lim["rpd"] - len(self.day_q))),
            "x-ratelimit-reset-requests": go_duration(reset_req),
            "x-ratelimit-limit-tokens": str(lim["tpm"]),
            "x-ratelimit-remaining-tokens": str(max(0, lim["tpm"] - self.min_tokens)),
            "x-ratelimit-reset-tokens": go_duration(reset_tok),
        }


Bucket = SlidingWindow  # the name earlier versions used


class _Level:
    """One token bucket: `capacity`, refilled at capacity per `period`, continuously."""

    __slots__ = ("capacity", "rate", "level", "at")

    def __init__(self, capacity: int, period: float, now: float) -> None:
        self.capacity = float(capacity)
        self.rate = capacity / period
        self.level = float(capacity)
        self.at = now

    def refill(self, now: float) -> None:
        if now <= self.at:
            return  # a simulation may look back in time; a bucket never un-fills
        self.level = min(self.capacity, self.level + (now - self.at) * self.rate)
        self.at = now

    def wait(self, need: float) -> float:
        return 0.0 if self.level >= need else (need - self.level) / self.rate

    def full_in(self) -> float:
        return (self.capacity - self.level) / self.rate


class TokenBucket:
    """Token buckets for one (organization, model): RPM, RPD, TPM, TPD each a bucket of the
    limit's size refilled over its period (GCRA with a full burst). Same interface as
    SlidingWindow. Callers hold the stub's lock."""

    def __init__(self, limits: dict[str, int], window: float, day: float) -> None:
        self.limits = limits
        self.window = window
        self.day = day
        self.levels: dict[str, _Level] = {}
        self.seen: deque[tuple[float, int]] = deque()  # admissions in the last window, for stats
        self.min_tokens = 0

    def _level(self, kind: str, now: float) -> _Level:
        level = self.levels.get(kind)
        if level is None:
            period = self.window if kind in ("rpm", "tpm") else self.day
            level = self.levels[kind] = _Level(self.limits[kind], period, now)
        level.refill(now)
        return level

    def prune(self, now: float) -> None:
        while self.seen and self.seen[0][0] <= now - self.window:
            self.min_tokens -= self.seen.popleft()[1]

    @property
    def minute_q(self) -> deque:
        return self.seen

    def check(self, now: float, need: int) -> Refusal | None:
        self.prune(now)
        refusals = []
        for kind in ("rpm", "rpd", "tpm", "tpd"):
            level = self._level(kind, now)
            cost = 1 if kind in ("rpm", "rpd") else need
            if level.level < cost:
                used = int(math.ceil(level.capacity - level.level))
                refusals.append(Refusal(kind, self.limits[kind], used, cost, level.wait(cost)))
        if not refusals:
            return None
        return max(refusals, key=lambda r: r.wait)

    def admit(self, now: float, need: int) -> Entry:
        for kind in ("rpm", "rpd", "tpm", "tpd"):
            self._level(kind, now).level -= 1 if kind in ("rpm", "rpd") else need
        entry = Entry(now, need)
        self.seen.append((now, need))
        self.min_tokens += need
        return entry

    def settle(self, entry: Entry, actual: int) -> None:
        """Give back what a reservation did not use (never above capacity)."""
        delta = entry.tokens - actual
        entry.tokens = actual
        for kind in ("tpm", "tpd"):
            level = self.levels.get(kind)
            if level is not None:
                level.level = min(level.capacity, level.level + delta)

    def over_budget(self, now: float) -> bool:
        return any(level.level < -1e-9 for level in self.levels.values())

    def headers(self, now: float) -> dict[str, str]:
        rpd, tpm = self._level("rpd", now), self._level("tpm", now)
        return {
            "x-ratelimit-limit-requests": str(self.limits["rpd"]),
            "x-ratelimit-remaining-requests": str(max(0, math.floor(rpd.level))),
            "x-ratelimit-reset-requests": go_duration(rpd.full_in()),
            "x-ratelimit-limit-tokens": str(self.limits["tpm"]),
            "x-ratelimit-remaining-tokens": str(max(0, math.floor(tpm.level))),
            "x-ratelimit-reset-tokens": go_duration(tpm.full_in()),
        }


LIMITERS = {"rolling": SlidingWindow, "bucket": TokenBucket}
