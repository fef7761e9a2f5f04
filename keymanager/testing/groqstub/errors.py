"""Groq-shaped error replies: ``{"error": {"message", "type", "code"}}`` (docs/provider-facts.md, Errors)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .limits import Refusal



@dataclass
class Reply:
    """What the HTTP layer sends: a JSON body, an SSE stream, or an abrupt connection reset."""

    status: int
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    reset: bool = False  # abort the TCP connection instead of answering
    chunks: list[dict[str, Any]] | None = None  # SSE stream instead of a JSON body


UPGRADE = "Need more tokens? Upgrade to Dev Tier today at https://console.groq.com/settings/billing"


def _reply(status: int, message: str, type_: str, code: str | None, headers: dict | None = None) -> Reply:
    body: dict[str, Any] = {"error": {"message": message, "type": type_, "code": code}}
    return Reply(status, body, dict(headers or {}))


def invalid_key() -> Reply:
    # No x-ratelimit-* headers on 401, like Groq.
    return _reply(401, "Invalid API Key", "invalid_request_error", "invalid_api_key")


def bad_request(message: str) -> Reply:
    return _reply(400, message, "invalid_request_error", None)


def decommissioned(model: str) -> Reply:
    return _reply(
        400,
        f"The model `{model}` has been decommissioned and is no longer supported. Please refer to "
        "https://console.groq.com/docs/deprecations for a recommendation on which model to use instead.",
        "invalid_request_error",
        "model_decommissioned",
    )


def model_not_found(model: str) -> Reply:
    return _reply(
        404, f"The model `{model}` does not exist or you do not have access to it.",
        "invalid_request_error", "model_not_found",
    )


def blocked() -> Reply:
    return _reply(
        400,
        "Organization has been restricted: the spend limit was reached. Raise it at "
        "https://console.groq.com/settings/billing or contact support.",
        "invalid_request_error",
        "blocked_api_access",
    )


def too_large(model: str, org: str, tpm: int, requested: int) -> Reply:
    return _reply(
        413,
        f"Request too large for model `{model}` in organization `{org}` service tier `on_demand` on tokens per "
        f"minute (TPM): Limit {tpm}, Requested {requested}, please reduce your message size and try again. {UPGRADE}",
        "tokens",
        "request_too_large",
    )


def rate_limited(model: str, org: str, phrase: str, kind: str, r: Refusal, wait: str | None, headers: dict,
                 tier: str = "on_demand") -> Reply:
    again = f" Please try again in {wait}." if wait is not None else ""
    return _reply(
        429,
        f"Rate limit reached for model `{model}` in organization `{org}` service tier `{tier}` on {phrase}: "
        f"Limit {r.limit_value}, Used {r.used}, Requested {r.requested}.{again} {UPGRADE}",
        kind,
        "rate_limit_exceeded",
        headers,
    )


def rate_limited_vague(headers: dict) -> Reply:
    """A 429 that names neither the limit nor a wait (some proxies and providers send these)."""
    return _reply(429, "Rate limit reached. Please slow down.", "requests", "rate_limit_exceeded", headers)


def service_tier_unavailable(tier: str) -> Reply:
    return _reply(
        400,
        f"The `{tier}` service tier is not available for your organization. Upgrade at "
        "https://console.groq.com/settings/billing to use it.",
        "invalid_request_error",
        "service_tier_unavailable",
    )


def capacity() -> Reply:
    return _reply(
        498, "Flex tier capacity exceeded. This model is currently experiencing high demand; please try again later.",
        "capacity_exceeded", "capacity_exceeded",
    )


_GENERIC = {
    400: ("Bad request", "invalid_request_error", None),
    401: ("Invalid API Key", "invalid_request_error", "invalid_api_key"),
    403: ("Permission denied", "permission_error", "permission_denied"),
    404: ("Not found", "invalid_request_error", "not_found"),
    413: ("Request too large", "tokens", "request_too_large"),
    429: ("Rate limit reached", "requests", "rate_limit_exceeded"),
    498: ("Flex tier capacity exceeded", "capacity_exceeded", "capacity_exceeded"),
    500: ("Internal Server Error", "internal_server_error", "internal_server_error"),
    502: ("Bad Gateway", "internal_server_error", "bad_gateway"),
    503: ("Service Unavailable", "internal_server_error", "service_unavailable"),
}


def generic(status: int) -> Reply:
    """A plausible body for a scripted or injected status (5xx: ``type`` internal_server_error)."""
    default = ("Internal Server Error", "internal_server_error", "internal_server_error")
    message, type_, code = _GENERIC.get(status, default if status >= 500 else ("Error", "invalid_request_error", None))
    return _reply(status, message, type_, code)


def unknown_url(method: str, path: str) -> Reply:
    return _reply(
        404, f"Unknown request URL: {method} {path}. Please check the URL for typos, or see the docs.",
        "invalid_request_error", "unknown_url",
    )
