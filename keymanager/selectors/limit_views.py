"""Reads about rate limits: the shipped first guesses, admins' ceilings, and how each limit
of a budget came to be what it is."""

from __future__ import annotations

from dataclasses import dataclass

from keymanager import clock
from keymanager.ledger import CEILING, CEILING_KINDS, GUESS, KINDS, NO_PEERS, Ledger
from keymanager.models import Limit, Provider

# Groq's published free-tier values (docs/provider-facts.md): RPM, RPD, TPM, TPD per (organization,
# model). First guesses only: the provider's headers and 429s replace them, and a guess may
# be passed by one probing call at a time (an organization on another tier has other limits).
GROQ_FREE_TIER: dict[str, dict[str, int]] = {
    "openai/gpt-oss-20b": {"rpm": 30, "rpd": 1000, "tpm": 8000, "tpd": 200000},
    "openai/gpt-oss-120b": {"rpm": 30, "rpd": 1000, "tpm": 8000, "tpd": 200000},
    "qwen/qwen3.6-27b": {"rpm": 30, "rpd": 1000, "tpm": 8000, "tpd": 200000},
    "llama-3.3-70b-versatile": {"rpm": 30, "rpd": 1000, "tpm": 12000, "tpd": 100000},
    "llama-3.1-8b-instant": {"rpm": 30, "rpd": 14400, "tpm": 6000, "tpd": 500000},
}
# A Groq model the table does not know: the strictest published values.
GROQ_UNKNOWN_MODEL = {"rpm": 30, "rpd": 1000, "tpm": 6000, "tpd": 100000}


FLEX = "@flex"  # a budget for the flex service tier: `model@flex`
FLEX_FACTOR = 10  # flex gives about ten times the on-demand limits (docs/provider-facts.md)


def guesses(provider: str, model: str) -> dict[str, int | None]:
    """The shipped first guess per limit; OpenAI ships none (unlimited until told or refused).
    Input and output tokens per minute are limits only some organizations have: no guess."""
    if provider != Provider.GROQ:
        return dict.fromkeys(KINDS)
    base, flex = (model[: -len(FLEX)], True) if model.endswith(FLEX) else (model, False)
    shipped = GROQ_FREE_TIER.get(base, GROQ_UNKNOWN_MODEL)
    return {kind: (shipped[kind] * (FLEX_FACTOR if flex else 1) if kind in shipped else None) for kind in KINDS}


def ceilings(provider: str, organization: str, model: str) -> dict[str, int]:
    """An admin's ceilings for one budget: the organization's own Limit row, else the default."""
    rows = {
        row.organization: row
        for row in Limit.objects.filter(provider=provider, model=model, organization__in=("", organization))
    }
    row = rows.get(organization) or rows.get("")
    if row is None:
        return {}
    return {kind: getattr(row, kind) for kind in CEILING_KINDS if getattr(row, kind) is not None}


@dataclass(frozen=True)
class LimitView:
    """One limit of one budget as admins see it: value, where it came from, and when."""

    kind: str
    value: int | None
    source: str  # "default", "probe", "header", "429", "admin", "" (none)
    learned_at: float | None
    hard: bool

    @property
    def source_label(self) -> str:
        return {
            GUESS: "shipped default (first guess)",
            "probe": "raised by probing (unconfirmed)",
            "header": "x-ratelimit header",
            "429": "429 body",
            "429-aged": "429 body, over an hour ago (a guess again)",
            CEILING: "admin ceiling",
            "": "none",
        }.get(self.source, self.source)


def limit_views(ledger: Ledger, provider: str, model: str, now: float | None = None) -> list[LimitView]:
    """Per kind, the value the pool works with and its origin (same rule as Ledger.limits).
    Input and output token limits show only where the provider stated them."""
    now = clock.now() if now is None else now
    shipped = guesses(provider, model)
    working = ledger.limits(shipped, NO_PEERS, now)
    views = []
    for kind in KINDS:
        value, hard = working[kind]
        learned = ledger.learned.get(kind)
        if kind not in CEILING_KINDS and learned is None:
            continue
        ceiling = ledger.ceilings.get(kind)
        stated = learned is not None and learned.holds(now)
        if ceiling is not None and not (stated and learned.value < ceiling):
            source, at = CEILING, None
        elif learned is not None:
            source, at = learned.source, learned.at
            if learned.source == "429" and not stated:
                source = "429-aged"
        elif shipped.get(kind) is not None:
            source, at = GUESS, None
        else:
            source, at = "", None
        views.append(LimitView(kind, None if value == float("inf") else int(value), source, at, hard))
    return views
