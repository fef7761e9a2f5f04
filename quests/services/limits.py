"""How many live missions one caller may cause: a guest per session and per client address,
a signed-in player per account.

Counted by django-ratelimit in the shared cache (settings.CACHES: the database's cache table,
or Redis), so every worker on every host sees one count. Beyond a limit the player gets the
buffer or the archive, never an error; the counters only count launches that would otherwise
have spent quota.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from django_ratelimit.core import get_usage

from quests.conf import game_settings
from quests.models import Player

GROUP = "quests.live"


@dataclass(frozen=True)
class Refusal:
    scope: str  # "session", "address" or "player"
    limit: int
    seconds_left: int


def address_network(address: str | None) -> str:
    """The unit one client controls: an IPv4 address, or an IPv6 /64 (one subscriber's block,
    whose addresses a client can rotate through at will)."""
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return "unknown"
    if ip.version == 4:
        return str(ip)
    if ip.ipv4_mapped is not None:  # ::ffff:192.0.2.1 is that IPv4 client
        return str(ip.ipv4_mapped)
    return str(ipaddress.ip_network(f"{ip}/64", strict=False).network_address)


def live_take(*, player: Player, address: str | None) -> Refusal | None:
    """Count one live mission against this caller's limits; the first limit it exceeds, if any.

    A guest's session is its guest player (a new session is a new guest), so a client that drops
    its cookies is held by the address limit instead. Signed-in players have their own, higher
    limit and are not counted per address: a crowd of guests behind one address cannot use up
    a signed-in player's missions.
    """
    conf = game_settings()
    if player.is_guest:
        checks = [
            ("session", f"guest:{player.pk}", conf.live_rate_guest),
            ("address", f"net:{address_network(address)}", conf.live_rate_address),
        ]
    else:
        checks = [("player", f"player:{player.pk}", conf.live_rate_player)]
    for scope, value, rate in checks:
        usage = get_usage(None, group=f"{GROUP}.{scope}", key=lambda _group, _request, v=value: v, rate=rate, increment=True)
        # None: RATELIMIT_ENABLE is off. When the shared store cannot be read, django-ratelimit
        # says "limit" (it fails closed): the archive is always there, the quota is not.
        if usage is not None and usage["should_limit"]:
            return Refusal(scope=scope, limit=usage["limit"], seconds_left=max(0, usage["time_left"]))
    return None
