"""Reading the providers' rate-limit headers and 429 messages, each in its provider's meaning.

The same header names mean different windows at Groq and at OpenAI (docs/provider-facts.md,
Rate limits): `HEADER_WINDOWS` says which limit each pair of headers reports, per provider.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|us|µs|ns|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
_TRY_AGAIN = re.compile(r"try again in ((?:\d+(?:\.\d+)?(?:h|ms|us|µs|ns|m|s))+)", re.IGNORECASE)


def parse_go_duration(value: str | None) -> float | None:
    """`2m59.56s` -> 179.56, `400ms` -> 0.4, `6s` -> 6.0; None when unparseable."""
    if not value:
        return None
    text = value.strip()
    if text in ("0", "0s"):
        return 0.0
    pos, total = 0, 0.0
    for match in _GO_DURATION.finditer(text):
        if match.start() != pos:
            return None
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    return total if pos == len(text) and pos > 0 else None


def _int(value: str | None) -> int | None:
    try:
        return int(float(value)) if value not in (None, "") else None
    except ValueError:
        return None


@dataclass(frozen=True)
class RateLimitHeaders:
    limit_requests: int | None = None
    remaining_requests: int | None = None
    reset_requests: float | None = None
    limit_tokens: int | None = None
    remaining_tokens: int | None = None
    reset_tokens: float | None = None
    retry_after: float | None = None

    @property
    def present(self) -> bool:
        return self.remaining_requests is not None or self.remaining_tokens is not None


def parse_rate_limit_headers(headers: Mapping[str, str] | None) -> RateLimitHeaders:
    if not headers:
        return RateLimitHeaders()
    get = headers.get
    retry_after = None
    raw_retry = get("retry-after")
    if raw_retry:
        try:
            retry_after = max(0.0, float(raw_retry))
        except ValueError:
            retry_after = None  # HTTP-date form: Groq does not send it; fall back to other hints
    return RateLimitHeaders(
        limit_requests=_int(get("x-ratelimit-limit-requests")),
        remaining_requests=_int(get("x-ratelimit-remaining-requests")),
        reset_requests=parse_go_duration(get("x-ratelimit-reset-requests")),
        limit_tokens=_int(get("x-ratelimit-limit-tokens")),
        remaining_tokens=_int(get("x-ratelimit-remaining-tokens")),
        reset_tokens=parse_go_duration(get("x-ratelimit-reset-tokens")),
        retry_after=retry_after,
    )


def retry_after_from_message(message: str) -> float | None:
    """Groq's 429 text says "Please try again in 2m3.5s"."""
    match = _TRY_AGAIN.search(message or "")
    return parse_go_duration(match.group(1)) if match else None


_ORGANIZATION = re.compile(r"in organization `([^`]+)`")
_LIMIT_KIND = re.compile(r"\((RPM|RPD|TPM|TPD|ITPM|OTPM)\)")
_NUMBERS = re.compile(r"Limit\s+(\d+)\s*,\s*Used\s+(\d+)\s*,\s*Requested\s+(\d+)", re.IGNORECASE)
_TOO_LARGE = re.compile(r"Limit\s+(\d+)\s*,\s*Requested\s+(\d+)", re.IGNORECASE)

# Per provider: which limit kind the `requests` and the `tokens` headers report.
HEADER_WINDOWS: dict[str, dict[str, str]] = {
    "groq": {"requests": "rpd", "tokens": "tpm"},
    "openai": {"requests": "rpm", "tokens": "tpm"},
}


@dataclass(frozen=True)
class WindowReport:
    """One window's figures from a reply's headers, as a limit kind of the ledger."""

    kind: str
    limit: int | None
    remaining: int | None
    reset: float | None


def window_reports(provider: str, headers: RateLimitHeaders) -> list[WindowReport]:
    """What the headers say, window by window, in the provider's own meaning."""
    meaning = HEADER_WINDOWS.get(provider, HEADER_WINDOWS["groq"])
    reports = [
        WindowReport(meaning["requests"], headers.limit_requests, headers.remaining_requests, headers.reset_requests),
        WindowReport(meaning["tokens"], headers.limit_tokens, headers.remaining_tokens, headers.reset_tokens),
    ]
    return [r for r in reports if r.remaining is not None or r.limit is not None]


def reset_for(provider: str, kind: str, headers: RateLimitHeaders) -> float | None:
    """The header's reset for limit `kind`, where this provider reports that window."""
    for report in window_reports(provider, headers):
        if report.kind == kind:
            return report.reset
    return None


@dataclass(frozen=True)
class RateLimitMessage:
    """What a Groq 429 body says: "Rate limit reached for model `M` in organization `org_X`
    service tier `on_demand` on requests per minute (RPM): Limit 30, Used 30, Requested 1.
    Please try again in 2s." Every field is None when the message does not say it."""

    organization: str | None = None
    kind: str | None = None  # "rpm" | "rpd" | "tpm" | "tpd" | "itpm" | "otpm"
    limit: int | None = None
    used: int | None = None
    requested: int | None = None
    try_again: float | None = None


def parse_rate_limit_message(message: str) -> RateLimitMessage:
    text = message or ""
    org = _ORGANIZATION.search(text)
    kind = _LIMIT_KIND.search(text)
    numbers = _NUMBERS.search(text)
    too_large = None if numbers else _TOO_LARGE.search(text)
    return RateLimitMessage(
        organization=org.group(1).strip()[:100] or None if org else None,
        kind=kind.group(1).lower() if kind else None,
        limit=int(numbers.group(1)) if numbers else int(too_large.group(1)) if too_large else None,
        used=int(numbers.group(2)) if numbers else None,
        requested=int(numbers.group(3)) if numbers else int(too_large.group(2)) if too_large else None,
        try_again=retry_after_from_message(text),
    )
