"""Limits that hold across workers and hosts: moving windows in the shared store.

Every limit of the project (live missions, buffered hand-outs, sign-ups, failed logins) is "at
most N in any period of P seconds", counted as a moving window: the times of the last N entries
are kept and an entry is taken only while fewer than N fall within the last P seconds. Fixed
windows let a client take N at the end of one window and N more at the start of the next; a
moving window never admits more than N in any P seconds, wherever the edges fall.

The windows live where the shared cache lives (settings.CACHES): the database's cache table
(cosmosquest.cache.CacheTableWindows) or Redis (`limits`' RedisStorage, one Lua script per
entry). `limits` (the library behind Flask-Limiter) supplies the storage interface and the Redis
scripts; keys and amounts are ours, so a limit that grows (a new account's quota) keeps its count.

Addresses are counted by the unit one client controls: an IPv4 address; for IPv6 the /56 a home
gets at least (its /64s are only its LANs), and also the /48 around it, which one site or a few
homes of one provider hold, under a wider limit of its own.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.db import DatabaseError
from django.dispatch import receiver
from limits.errors import StorageError
from limits.storage import MovingWindowSupport, RedisStorage
from redis.exceptions import RedisError

from cosmosquest.cache import AtomicDatabaseCache, CacheTableWindows

logger = logging.getLogger("cosmosquest.throttle")

PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
RATE = re.compile(r"(\d+)/(\d*)([smhd])")
KEY_PREFIX = "cq-window"
IPV6_ADDRESS_PREFIX = 56
IPV6_NETWORK_PREFIX = 48


class ThrottleUnavailable(RuntimeError):
    """The shared store cannot be read or written (cache table missing, Redis down)."""


@dataclass(frozen=True)
class Rate:
    count: int
    seconds: int

    @classmethod
    def parse(cls, text: str) -> Rate:
        """`5/h`, `100/d`, `20/15m`: a count per (a number of) seconds, minutes, hours or days."""
        match = RATE.fullmatch(str(text).strip())
        if match is None:
            raise ValueError(f"{text!r} is not a rate such as 5/h")
        count, multiple, unit = match.groups()
        seconds = int(multiple or 1) * PERIODS[unit]
        if seconds <= 0:
            raise ValueError(f"{text!r} has an empty period")
        return cls(count=int(count), seconds=seconds)

    def __str__(self) -> str:
        for unit, seconds in sorted(PERIODS.items(), key=lambda item: -item[1]):
            if self.seconds % seconds == 0:
                multiple = self.seconds // seconds
                return f"{self.count}/{'' if multiple == 1 else multiple}{unit}"
        return f"{self.count}/{self.seconds}s"  # pragma: no cover (every whole second matches "s")


@dataclass(frozen=True)
class Limit:
    """At most `rate` entries for `identity` in the window named `name`."""

    name: str  # which limit: "live.session", "signup.address", ...
    identity: str  # whose count: "guest:12", "ipv4:203.0.113.7", ...
    rate: Rate

    @property
    def key(self) -> str:
        # The count, not the period, may change (a quota that grows): the key keeps the period only.
        return f"{KEY_PREFIX}:{self.name}:{self.rate.seconds}:{self.identity}"


@dataclass(frozen=True)
class Refusal:
    name: str  # the limit that refused
    limit: int
    seconds_left: int


def address_units(address: str | None) -> dict[str, str]:
    """The units an address is counted by: {"address": ...} and, for IPv6, {"network": ...}.

    Anything that is not an address (no peer, a proxy that forwarded garbage) is one unit,
    "unknown", shared by all such callers.
    """
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return {"address": "unknown"}
    if ip.version == 6 and ip.ipv4_mapped is not None:  # ::ffff:192.0.2.1 is that IPv4 client
        ip = ip.ipv4_mapped
    if ip.version == 4:
        return {"address": f"ipv4:{ip}"}
    return {
        "address": f"ipv6:{ipaddress.ip_network(f'{ip}/{IPV6_ADDRESS_PREFIX}', strict=False)}",
        "network": f"ipv6:{ipaddress.ip_network(f'{ip}/{IPV6_NETWORK_PREFIX}', strict=False)}",
    }


@lru_cache(maxsize=1)
def windows() -> MovingWindowSupport:
    """The moving-window store of the shared cache."""
    backend = caches["default"]
    if isinstance(backend, AtomicDatabaseCache):
        return CacheTableWindows(backend)
    if isinstance(backend, RedisCache):
        location = settings.CACHES["default"]["LOCATION"]
        if not isinstance(location, str):
            location = location[0]
        return RedisStorage(location.split(",")[0], key_prefix=f"{backend.key_prefix or 'cosmosquest'}:limits")
    raise ImproperlyConfigured(
        "The default cache must be cosmosquest.cache.AtomicDatabaseCache or Django's RedisCache: "
        "limits counted anywhere else are not shared by every worker and host."
    )


@receiver(setting_changed)
def _forget_windows(*, setting: str, **kwargs) -> None:
    if setting == "CACHES":
        windows.cache_clear()


STORE_ERRORS = (DatabaseError, RedisError, StorageError, OSError)


def _seconds_left(limit: Limit) -> int:
    oldest, _ = windows().get_moving_window(limit.key, limit.rate.count, limit.rate.seconds)
    return max(0, round(oldest + limit.rate.seconds - time.time()))


def check(limits: Sequence[Limit]) -> Refusal | None:
    """The first of these limits that is full, without taking anything."""
    try:
        for limit in limits:
            _, used = windows().get_moving_window(limit.key, limit.rate.count, limit.rate.seconds)
            if used >= limit.rate.count:
                return Refusal(name=limit.name, limit=limit.rate.count, seconds_left=_seconds_left(limit))
    except STORE_ERRORS as exc:
        raise ThrottleUnavailable(str(exc)) from exc
    return None


def take(limits: Sequence[Limit]) -> Refusal | None:
    """One entry in every one of these windows, or in none: the first full one refuses.

    All are checked first, so a refusal by one does not use up the others. Each entry is then
    taken atomically; when a concurrent caller took the last entry of one window in between,
    that window refuses and the entries already taken stay counted (the store cannot give one
    back): a rare race that errs on the strict side, never past a limit.
    """
    refusal = check(limits)
    if refusal is not None:
        return refusal
    try:
        for limit in limits:
            if not windows().acquire_entry(limit.key, limit.rate.count, limit.rate.seconds):
                return Refusal(name=limit.name, limit=limit.rate.count, seconds_left=_seconds_left(limit))
    except STORE_ERRORS as exc:
        raise ThrottleUnavailable(str(exc)) from exc
    return None


def record(limits: Sequence[Limit]) -> None:
    """Count one event (a failed login) in each window that has room; a full one stays full."""
    try:
        for limit in limits:
            windows().acquire_entry(limit.key, limit.rate.count, limit.rate.seconds)
    except STORE_ERRORS as exc:
        raise ThrottleUnavailable(str(exc)) from exc


def used(limit: Limit) -> int:
    """Entries in the window now (for pages that say how much is left, and for tests)."""
    try:
        return windows().get_moving_window(limit.key, limit.rate.count, limit.rate.seconds)[1]
    except STORE_ERRORS as exc:
        raise ThrottleUnavailable(str(exc)) from exc
