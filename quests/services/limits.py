"""How many missions that cost an LLM call one caller may cause, and how many accounts one
address may open.

A live mission is one completion; a buffered mission handed out is one too, since a refill
writes its replacement. Both count here, against the same limits:
- a guest: per session (a new session is a new guest), per address and per IPv6 /48;
- a signed-in player: per account, and per address and /48 under wider limits than guests, so
  a crowd of accounts opened from one place is held there too. A new account's quota starts
  low and grows with play (`account_rate`).

Counted as moving windows in the shared store (cosmosquest.throttle), so every worker on every
host sees one count and no window edge lets a burst through. Beyond a limit the player gets the
archive, never an error. When the store cannot be read the answer is "limited": the archive is
always there, the quota is not.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.utils import timezone

from cosmosquest.throttle import Limit, Rate, Refusal, ThrottleUnavailable, address_units, take
from quests.conf import game_settings
from quests.models import Player

logger = logging.getLogger("quests")

__all__ = ["Refusal", "account_is_new", "account_rate", "live_limits", "live_take", "signup_limits", "signup_take"]


def account_is_new(player: Player) -> bool:
    """An account younger than `new_player_hours`: the lower quota, and the guests' reserve."""
    if player.is_guest:
        return False
    joined = player.user.date_joined
    return timezone.now() - joined < timedelta(hours=game_settings().new_player_hours)


def account_rate(player: Player) -> Rate:
    """A signed-in player's quota: `live_rate_new_player` while the account is new, then one
    more per mission answered (in the same period), up to `live_rate_player`."""
    conf = game_settings()
    full, start = Rate.parse(conf.live_rate_player), Rate.parse(conf.live_rate_new_player)
    if account_is_new(player):
        return start
    grown = start.count + player.runs_completed
    return full if grown >= full.count else Rate(count=grown, seconds=start.seconds)


def live_limits(*, player: Player, address: str | None) -> list[Limit]:
    """Every window a mission that costs an LLM call is counted in, for this caller."""
    conf = game_settings()
    units = address_units(address)
    if player.is_guest:
        limits = [
            Limit("live.session", f"guest:{player.pk}", Rate.parse(conf.live_rate_guest)),
            Limit("live.address", units["address"], Rate.parse(conf.live_rate_address)),
        ]
        if "network" in units:
            limits.append(Limit("live.network", units["network"], Rate.parse(conf.live_rate_network)))
        return limits
    limits = [
        Limit("live.player", f"player:{player.pk}", account_rate(player)),
        Limit("live.player_address", units["address"], Rate.parse(conf.live_rate_player_address)),
    ]
    if "network" in units:
        limits.append(Limit("live.player_network", units["network"], Rate.parse(conf.live_rate_player_network)))
    return limits


def live_take(*, player: Player, address: str | None) -> Refusal | None:
    """Count one mission that costs an LLM call against every limit of this caller, or refuse
    (nothing counted) with the first limit that is full."""
    limits = live_limits(player=player, address=address)
    try:
        return take(limits)
    except ThrottleUnavailable as exc:
        logger.error("live-mission limits unavailable (%s): serving the archive", exc)
        return Refusal(name="store", limit=0, seconds_left=0)


def signup_limits(*, address: str | None) -> list[Limit]:
    conf = game_settings()
    units = address_units(address)
    limits = [Limit("signup.address", units["address"], Rate.parse(conf.signup_rate_address))]
    if "network" in units:
        limits.append(Limit("signup.network", units["network"], Rate.parse(conf.signup_rate_network)))
    return limits


def signup_take(*, address: str | None) -> Refusal | None:
    """Count one new account from this address, or refuse with the limit that is full. Raises
    ThrottleUnavailable when the store cannot be read: no account is opened uncounted."""
    return take(signup_limits(address=address))
