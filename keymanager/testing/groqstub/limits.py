"""Rate limiting per (organization, model), with a choice of algorithm per window.

Groq budgets are per organization and model (docs/provider-facts.md), so one limiter exists per
pair and every key of the organization draws from it. Groq does not publish how it counts, so
each limit is a meter of one of two shapes:

- ``rolling`` (`RollingMeter`): at most N in any trailing window, exact;
- ``bucket`` (`BucketMeter`): capacity N refilled at N per window, continuously; it lets a full
  burst through at once and then one more every window/N.

A limiter (`Limiter`) is the four limits (RPM, RPD, TPM, TPD, plus input and output tokens per
minute, ITPM and OTPM, where an organization has them) with a shape each: ``rolling`` (all
rolling), ``bucket`` (all buckets) or ``mixed`` (rolling minutes, and days that refill
continuously, as Groq's documented daily request budget does).

Its tokenizer is its own (``prompt_tokens``), not any client's: a key pool learns what the
stand-in counted from ``usage`` and the ``x-ratelimit-*`` headers, as it must with Groq.
"""

from __future__ import annotations

import math
import re
from collections import deque
from dataclasses import dataclass
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
KINDS = ("rpm", "rpd", "tpm", "tpd", "itpm", "otpm")
MINUTE_KINDS = ("rpm", "tpm", "itpm", "otpm")

# (limit name, phrase in Groq's 429 message, error type)
PHRASES = {
    "rpm": ("requests per minute (RPM)", "requests"),
    "rpd": ("requests per day (RPD)", "requests"),
    "tpm": ("tokens per minute (TPM)", "tokens"),
    "tpd": ("tokens per day (TPD)", "tokens"),
    "itpm": ("input tokens per minute (ITPM)", "tokens"),
    "otpm": ("output tokens per minute (OTPM)", "tokens"),
}
# OpenAI says "per min" where Groq says "per minute".
OPENAI_PHRASES = {kind: (phrase.replace("per minute", "per min"), type_) for kind, (phrase, type_) in PHRASES.items()}


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


def message_tokens(message: Any) -> int:
    """One message's content tokens plus 4 for its framing."""
    text = message_text(message.get("content")) if isinstance(message, dict) else ""
    return text_tokens(text) + 4


def prompt_tokens(messages: list[Any]) -> int:
    """Sum over messages of the content's tokens plus 4 for the message's framing."""
    return sum(message_tokens(msg) for msg in messages)


def resolve_limits(model: str, org_limits: dict | None, default_limits: dict | None) -> dict[str, int]:
    """Org override on top of the default table on top of the fallback, limit by limit."""
    table = FREE_TIER if default_limits is None else default_limits
    merged = dict(FALLBACK)
    merged.update(table.get(model, {}))
    merged.update((org_limits or {}).get(model, {}))
    return {k: int(merged[k]) for k in KINDS if merged.get(k) is not None}


class RollingMeter:
    """At most `limit` in any trailing `period`, exact."""

    shape = "rolling"

    def __init__(self, limit: int, period: float) -> None:
        self.limit = limit
        self.period = period
        self.q: deque[list] = deque()  # [time, amount, still in the window]
        self.total = 0

    def prune(self, now: float) -> None:
        while self.q and self.q[0][0] <= now - self.period:
            cell = self.q.popleft()
            cell[2] = False
            self.total -= cell[1]

    def used(self, now: float) -> int:
        self.prune(now)
        return self.total

    def wait(self, now: float, need: int) -> float:
        """Seconds until `need` more fits (0: now)."""
        self.prune(now)
        if self.total + need <= self.limit:
            return 0.0
        if need > self.limit:
            return self.period
        left = self.total
        for t, amount, _ in self.q:  # oldest first: each expiry frees its amount
            left -= amount
            if left + need <= self.limit:
                return t + self.period - now
        return self.period

    def admit(self, now: float, amount: int) -> list:
        cell = [now, amount, True]
        self.q.append(cell)
        self.total += amount
        return cell

    def settle(self, cell: list, amount: int) -> None:
        if cell[2]:
            self.total += amount - cell[1]
        cell[1] = amount

    def over(self, now: float) -> bool:
        self.prune(now)
        return self.total > self.limit

    def remaining(self, now: float) -> int:
        return max(0, self.limit - self.used(now))

    def reset(self, now: float) -> float:
        """Seconds until the window is fully restored: the newest entry leaves it."""
        self.prune(now)
        return self.q[-1][0] + self.period - now if self.q else 0.0

    def set_limit(self, limit: int) -> None:
        self.limit = limit


class BucketMeter:
    """A token bucket: `limit` capacity, refilled at limit per `period`, continuously."""

    shape = "bucket"

    def __init__(self, limit: int, period: float) -> None:
        self.limit = limit
        self.period = period
        self.level = float(limit)
        self.at: float | None = None

    @property
    def rate(self) -> float:
        return self.limit / self.period

    def refill(self, now: float) -> None:
        if self.at is None:
            self.at = now
        if now <= self.at:
            return  # a simulation may look back in time; a bucket never un-fills
        self.level = min(float(self.limit), self.level + (now - self.at) * self.rate)
        self.at = now

    def used(self, now: float) -> int:
        self.refill(now)
        return int(math.ceil(self.limit - self.level))

    def wait(self, now: float, need: int) -> float:
        self.refill(now)
        if need > self.limit:
            return self.period
        return 0.0 if self.level >= need else (need - self.level) / self.rate

    def admit(self, now: float, amount: int) -> list:
        self.refill(now)
        self.level -= amount
        return [now, amount]

    def settle(self, cell: list, amount: int) -> None:
        self.level = min(float(self.limit), self.level + cell[1] - amount)
        cell[1] = amount

    def over(self, now: float) -> bool:
        return self.level < -1e-9

    def remaining(self, now: float) -> int:
        self.refill(now)
        return max(0, math.floor(self.level))

    def reset(self, now: float) -> float:
        self.refill(now)
        return (self.limit - self.level) / self.rate

    def set_limit(self, limit: int) -> None:
        # A new tier: the capacity changes; what was used stays used.
        self.level += limit - self.limit
        self.limit = limit


SHAPES = {
    "rolling": {kind: "rolling" for kind in KINDS},
    "bucket": {kind: "bucket" for kind in KINDS},
    "mixed": {kind: ("rolling" if kind in MINUTE_KINDS else "bucket") for kind in KINDS},
}
METERS = {"rolling": RollingMeter, "bucket": BucketMeter}


@dataclass
class Refusal:
    limit: str  # a kind: "rpm" | "rpd" | "tpm" | "tpd" | "itpm" | "otpm"
    limit_value: int
    used: int
    requested: int
    wait: float  # seconds until the request would fit


class Entry:
    """One admitted request: its cells in each meter (to settle them)."""

    __slots__ = ("t", "cells", "prompt", "output")

    def __init__(self, t: float, cells: dict[str, list], prompt: int, output: int) -> None:
        self.t = t
        self.cells = cells
        self.prompt = prompt
        self.output = output

    @property
    def tokens(self) -> int:
        return self.prompt + self.output


class Limiter:
    """The limits of one (organization, model), each counted by a meter of its shape. Callers
    hold the stub's lock."""

    def __init__(self, limits: dict[str, int], window: float, day: float, shape: str = "rolling") -> None:
        if shape not in SHAPES:
            raise ValueError(f"limiter must be one of {', '.join(SHAPES)}, not {shape!r}")
        self.limits = dict(limits)
        self.window = window
        self.day = day
        self.shape = shape
        self.meters = {
            kind: METERS[SHAPES[shape][kind]](value, window if kind in MINUTE_KINDS else day)
            for kind, value in self.limits.items()
        }
        self.seen: deque[tuple[float, int]] = deque()  # admissions in the last window, for stats
        self.min_tokens = 0

    @staticmethod
    def amounts(prompt: int, output: int) -> dict[str, int]:
        return {"rpm": 1, "rpd": 1, "tpm": prompt + output, "tpd": prompt + output, "itpm": prompt, "otpm": output}

    def _stats_prune(self, now: float) -> None:
        while self.seen and self.seen[0][0] <= now - self.window:
            self.min_tokens -= self.seen.popleft()[1]

    @property
    def minute_q(self) -> deque:
        return self.seen

    def check(self, now: float, prompt: int, output: int = 0) -> Refusal | None:
        """The refusal with the longest wait, or None if the request fits every limit."""
        self._stats_prune(now)
        amounts = self.amounts(prompt, output)
        refusals = []
        for kind, meter in self.meters.items():
            wait = meter.wait(now, amounts[kind])
            if wait > 0:
                refusals.append(Refusal(kind, meter.limit, meter.used(now), amounts[kind], wait))
        if not refusals:
            return None
        return max(refusals, key=lambda r: r.wait)  # max() keeps the first of equal waits

    def admit(self, now: float, prompt: int, output: int = 0) -> Entry:
        amounts = self.amounts(prompt, output)
        cells = {kind: meter.admit(now, amounts[kind]) for kind, meter in self.meters.items()}
        self.seen.append((now, prompt + output))
        self.min_tokens += prompt + output
        return Entry(now, cells, prompt, output)

    def settle(self, entry: Entry, prompt: int, output: int) -> None:
        """Replace a reservation by the actual usage, releasing what was not used."""
        amounts = self.amounts(prompt, output)
        for kind, cell in entry.cells.items():
            self.meters[kind].settle(cell, amounts[kind])
        entry.prompt, entry.output = prompt, output

    def over_budget(self, now: float) -> bool:
        return any(meter.over(now) for meter in self.meters.values())

    def set_limits(self, limits: dict[str, int]) -> None:
        """Another tier: every limit given takes its new value at once."""
        for kind, value in limits.items():
            self.limits[kind] = int(value)
            if kind in self.meters:
                self.meters[kind].set_limit(int(value))
            else:
                self.meters[kind] = METERS[SHAPES[self.shape][kind]](int(value), self.window if kind in MINUTE_KINDS
                                                                     else self.day)

    def headers(self, now: float, flavor: str = "groq") -> dict[str, str]:
        """The x-ratelimit-* headers in the flavor's meaning: Groq reports requests per day and
        tokens per minute, OpenAI requests and tokens per minute."""
        requests = self.meters["rpm" if flavor == "openai" else "rpd"]
        tokens = self.meters["tpm"]
        return {
            "x-ratelimit-limit-requests": str(requests.limit),
            "x-ratelimit-remaining-requests": str(requests.remaining(now)),
            "x-ratelimit-reset-requests": go_duration(requests.reset(now)),
            "x-ratelimit-limit-tokens": str(tokens.limit),
            "x-ratelimit-remaining-tokens": str(tokens.remaining(now)),
            "x-ratelimit-reset-tokens": go_duration(tokens.reset(now)),
        }


def make_limiter(shape: str):
    """A factory with the old classes' signature: (limits, window, day)."""
    if shape not in SHAPES:
        raise ValueError(f"limiter must be one of {', '.join(SHAPES)}, not {shape!r}")

    def build(limits: dict[str, int], window: float, day: float) -> Limiter:
        return Limiter(limits, window, day, shape)

    return build


LIMITERS = {shape: make_limiter(shape) for shape in SHAPES}
SlidingWindow = LIMITERS["rolling"]  # the names earlier versions used
TokenBucket = LIMITERS["bucket"]
Bucket = SlidingWindow
