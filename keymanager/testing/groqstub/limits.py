"""Sliding-window rate limiting per (organization, model), as Groq applies it.

Groq budgets are per organization and model (GROQ_FACTS.md), so one ``Bucket`` exists per pair
and every key of the organization draws from it. The stub uses exact sliding windows rather than
Groq's (unpublished) replenishment scheme: it is stricter and deterministic, which is what a
test double for a key pool needs.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

# Free-tier table from GROQ_FACTS.md: rpm / rpd / tpm / tpd per (organization, model).
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


def prompt_tokens(messages: list[Any]) -> int:
    """Sum over messages of ``ceil(len(content) / 4) + 4``.

    This is the stub's tokenizer: a key pool that estimates with the same or a more generous
    formula never under-reserves against the stub.
    """
    total = 0
    for msg in messages:
        text = message_text(msg.get("content")) if isinstance(msg, dict) else ""
        total += math.ceil(len(text) / 4) + 4
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
class Bucket:
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
