"""The pool's settings, read from settings.KEYMANAGER (each value env-overridable there)."""

from __future__ import annotations

from dataclasses import dataclass, fields

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

STRATEGIES = ("smart", "quest")


@dataclass(frozen=True)
class PoolSettings:
    strategy: str = "smart"
    max_retries: int = 3
    rate_limit_cooldown: float = 60.0
    error_cooldown: float = 30.0
    error_cooldown_cap: float = 900.0
    max_errors_before_cooldown: int = 3
    spend_cap_cooldown: float = 3600.0
    wait_budget: float = 20.0
    request_timeout: float = 15.0
    default_model: str = "openai/gpt-oss-20b"
    alternate_model: str = "openai/gpt-oss-120b"
    openai_model: str = "gpt-4o-mini"


def pool_settings() -> PoolSettings:
    raw = dict(getattr(settings, "KEYMANAGER", {}))
    known = {f.name for f in fields(PoolSettings)}
    unknown = set(raw) - known
    if unknown:
        raise ImproperlyConfigured(f"Unknown KEYMANAGER settings: {', '.join(sorted(unknown))}")
    conf = PoolSettings(**raw)
    if conf.strategy not in STRATEGIES:
        raise ImproperlyConfigured(
            f"KEYMANAGER strategy must be one of {', '.join(STRATEGIES)}, not {conf.strategy!r}."
        )
    if conf.max_retries < 0 or conf.wait_budget <= 0 or conf.request_timeout <= 0:
        raise ImproperlyConfigured("KEYMANAGER max_retries must be >= 0, wait_budget and request_timeout > 0.")
    return conf


def default_model(provider: str = "groq") -> str:
    """The model a call uses when it names none: the Groq default, or OpenAI's fallback model."""
    conf = pool_settings()
    return conf.openai_model if provider == "openai" else conf.default_model
