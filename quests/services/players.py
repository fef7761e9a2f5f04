"""Players: guests kept in the session, signed-up users, and claiming a guest's progress."""

from __future__ import annotations

import random
import re

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Greatest

from quests.models import Player, QuestRun

SESSION_KEY = "quests_player_id"
CALLSIGN_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{1,22}[A-Za-z0-9]$")

_ADJECTIVES = ["Nova", "Comet", "Orbit", "Quasar", "Pulsar", "Nebula", "Zenith", "Aurora", "Photon", "Vega"]
_NOUNS = ["Falcon", "Voyager", "Pioneer", "Kestrel", "Raven", "Drifter", "Ranger", "Skipper", "Lynx", "Otter"]


class InvalidCallsign(ValueError):
    pass


def callsign_generate(*, rng: random.Random | None = None) -> str:
    rng = rng or random.SystemRandom()
    return f"{rng.choice(_ADJECTIVES)}-{rng.choice(_NOUNS)}-{rng.randint(10, 99)}"


def callsign_clean(value: str) -> str:
    value = " ".join((value or "").split())
    if not CALLSIGN_RE.match(value):
        raise InvalidCallsign(
            "A callsign has 3 to 24 characters: letters, digits, spaces, dots, dashes or underscores, "
            "starting and ending with a letter or digit."
        )
    return value


def player_current(request) -> Player | None:
    """The player of this request, without creating one."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return Player.objects.filter(user=user).first() or player_for_user(user=user)
    player_id = request.session.get(SESSION_KEY)
    if not player_id:
        return None
    return Player.objects.filter(pk=player_id, user__isnull=True).first()


def player_current_or_create(request) -> Player:
    """The player of this request; a new guest with a fresh callsign if there is none yet."""
    player = player_current(request)
    if player is None:
        player = Player.objects.create(callsign=callsign_generate())
        request.session[SESSION_KEY] = player.pk
    return player


def player_for_user(*, user: AbstractBaseUser) -> Player:
    player, _ = Player.objects.get_or_create(user=user, defaults={"callsign": user.get_username()[:24]})
    return player


def player_rename(*, player: Player, callsign: str) -> Player:
    player.callsign = callsign_clean(callsign)
    Player.objects.filter(pk=player.pk).update(callsign=player.callsign)
    return player


def player_claim_guest(*, user: AbstractBaseUser, guest_id: int | None) -> Player:
    """Give a user the guest's progress: the guest becomes the user's player, or, when the
    user already has one, the guest's runs and totals move over and the guest is removed."""
    with transaction.atomic():
        guest = (
            Player.objects.select_for_update().filter(pk=guest_id, user__isnull=True).first() if guest_id else None
        )
        existing = Player.objects.select_for_update().filter(user=user).first()
        if guest is None:
            return existing or player_for_user(user=user)
        if existing is None:
            Player.objects.filter(pk=guest.pk).update(user=user)
            guest.user = user
            return guest
        QuestRun.objects.filter(player=guest).update(player=existing)
        newer = guest.last_played_on and (not existing.last_played_on or guest.last_played_on > existing.last_played_on)
        Player.objects.filter(pk=existing.pk).update(
            xp=F("xp") + guest.xp,
            runs_completed=F("runs_completed") + guest.runs_completed,
            perfect_runs=F("perfect_runs") + guest.perfect_runs,
            correct_answers=F("correct_answers") + guest.correct_answers,
            best_streak=Greatest(F("best_streak"), guest.best_streak),
            **({"streak_days": guest.streak_days, "last_played_on": guest.last_played_on} if newer else {}),
        )
        guest.delete()
        existing.refresh_from_db()
        return existing
