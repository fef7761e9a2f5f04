"""The pool's settings, read from settings.KEYMANAGER (each value env-overridable there).

Every value has a rule here; `settings_problems()` applies them for the start-up system check
(keymanager.checks) and `pool_settings()` refuses the same values at call time.
"""

from __future__ import annotations

import math
from collections.abc import Callable
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


# A rule: (kind, check, what the value must be). Kinds: "int", "float", "str".
Rule = tuple[str, Callable[[object], bool], str]


def _at_least(low: float) -> Callable[[object], bool]:
    return lambda v: v >= low


def _above(low: float) -> Callable[[object], bool]:
    return lambda v: v > low


def _non_empty(v: object) -> bool:
    return bool(str(v).strip())


RULES: dict[str, Rule] = {
    "strategy": ("str", lambda v: v in STRATEGIES, f"one of {', '.join(STRATEGIES)}"),
    "max_retries": ("int", _at_least(0), "a whole number, 0 or more"),
    "rate_limit_cooldown": ("float", _above(0), "a number of seconds above 0"),
    "error_cooldown": ("float", _above(0), "a number of seconds above 0"),
    "error_cooldown_cap": ("float", _above(0), "a number of seconds above 0"),
    "max_errors_before_cooldown": ("int", _at_least(1), "a whole number, 1 or more"),
    "spend_cap_cooldown": ("float", _above(0), "a number of seconds above 0"),
    "wait_budget": ("float", _above(0), "a number of seconds above 0"),
    "request_timeout": ("float", _above(0), "a number of seconds above 0"),
    "default_model": ("str", _non_empty, "a model name"),
    "alternate_model": ("str", _non_empty, "a model name"),
    "openai_model": ("str", _non_empty, "a model name"),
}

# The pool's settings that live beside KEYMANAGER (read by alerts, retention and the dashboard).
FLAT_RULES: dict[str, Rule] = {
    "KEYMANAGER_ALERT_MIN_OUTAGE": ("int", _at_least(0), "a whole number of seconds, 0 or more"),
    "KEYMANAGER_USAGE_RETENTION_DAYS": ("int", _at_least(1), "a whole number of days, 1 or more"),
    "KEYMANAGER_DASHBOARD_REFRESH_SECONDS": ("int", _at_least(1), "a whole number of seconds, 1 or more"),
}


def env_name(field: str) -> str:
    """The environment variable that sets KEYMANAGER[field] (see cosmosquest/settings.py)."""
    return f"KEYMANAGER_{field.upper()}"


def _problem(value: object, rule: Rule) -> str | None:
    kind, ok, must_be = rule
    if kind == "int":
        typed = isinstance(value, int) and not isinstance(value, bool)
    elif kind == "float":
        typed = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    else:
        typed = isinstance(value, str)
    if not typed or not ok(value):
        return f"must be {must_be}, not {value!r}"
    return None


def _typed_only(name: str) -> Rule:
    # A setting added without a rule is still type-checked (tests insist every field has a rule).
    default = {f.name: f.default for f in fields(PoolSettings)}[name]
    kind = "int" if isinstance(default, int) else "float" if isinstance(default, float) else "str"
    return (kind, lambda v: True, f"a {'whole number' if kind == 'int' else 'number' if kind == 'float' else 'text'}")


def settings_problems() -> list[tuple[str, str]]:
    """(environment variable, what is wrong) for every pool setting out of its range."""
    raw = getattr(settings, "KEYMANAGER", {})
    if not isinstance(raw, dict):
        return [("KEYMANAGER", "must be a dict of the pool's settings")]
    known = {f.name for f in fields(PoolSettings)}
    problems = [("KEYMANAGER", f"has an unknown setting {name!r}") for name in sorted(set(raw) - known)]
    for name in sorted(known & set(raw)):
        problem = _problem(raw[name], RULES.get(name) or _typed_only(name))
        if problem:
            problems.append((env_name(name), problem))
    cooldown, cap = raw.get("error_cooldown", 30.0), raw.get("error_cooldown_cap", 900.0)
    if not any(var in (env_name("error_cooldown"), env_name("error_cooldown_cap")) for var, _ in problems):
        if cap < cooldown:
            problems.append((env_name("error_cooldown_cap"), f"must be at least KEYMANAGER_ERROR_COOLDOWN ({cooldown})"))
    for name, rule in FLAT_RULES.items():
        if hasattr(settings, name):
            problem = _problem(getattr(settings, name), rule)
            if problem:
                problems.append((name, problem))
    return problems


def pool_settings() -> PoolSettings:
    problems = settings_problems()
    if problems:
        raise ImproperlyConfigured("; ".join(f"{var} {problem}" for var, problem in problems))
    return PoolSettings(**getattr(settings, "KEYMANAGER", {}))


def default_model(provider: str = "groq") -> str:
    """The model a call uses when it names none: the Groq default, or OpenAI's fallback model."""
    conf = pool_settings()
    return conf.openai_model if provider == "openai" else conf.default_model
