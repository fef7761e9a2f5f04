"""Players: guests kept in the session, signed-up users, and claiming a guest's progress."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.db.models.functions import Greatest

from quests.models import Player, QuestRun, RunStatus
from quests.services.callsigns import InvalidCallsign, callsign_clean, callsign_generate, callsign_key
from quests.services.flight_school import reviews_merge
from quests.services.leagues import league_leave, league_recount
from quests.services.xp import xp_credit

SESSION_KEY = "quests_player_id"
TAKEN = "That callsign is taken, or looks too much like one that is. Please choose another."
# Sign-up's one answer for a name that cannot be had, whatever the reason: it never tells an
# account's username apart from a pilot's callsign, a look-alike or a reserved name.
UNAVAILABLE = "That name is not available: it is taken, or looks too much like one that is. Please choose another."


class CallsignTaken(InvalidCallsign):
    pass


def callsign_check(*, callsign: str, player: Player | None = None) -> str:
    """The cleaned callsign when `player` may take it; InvalidCallsign or CallsignTaken if not.

    Taken means: another player's callsign, or a staff account's username, has the same key
    (case and look-alike characters aside). The unique column catches what a race lets through.
    """
    cleaned = callsign_clean(callsign)
    key = callsign_key(cleaned)
    others = Player.objects.filter(callsign_key=key)
    if player is not None and player.pk:
        others = others.exclude(pk=player.pk)
    if others.exists() or key in _staff_keys(exclude_user_id=player.user_id if player else None):
        raise CallsignTaken(TAKEN)
    return cleaned


def _staff_keys(*, exclude_user_id: int | None) -> set[str]:
    # Staff usernames are reserved even before their owners ever play; there are few of them.
    staff = get_user_model().objects.filter(Q(is_staff=True) | Q(is_superuser=True))
    if exclude_user_id is not None:
        staff = staff.exclude(pk=exclude_user_id)
    return {callsign_key(name) for name in staff.values_list(get_user_model().USERNAME_FIELD, flat=True)}


def _create_player(*, preferred: str | None = None, **fields) -> Player:
    """A new player under `preferred` when it is free, else under a fresh generated callsign."""
    names = ([preferred] if preferred else []) + [callsign_generate() for _ in range(8)]
    for name in names:
        try:
            name = callsign_check(callsign=name)
        except InvalidCallsign:
            continue
        try:
            with transaction.atomic():
                return Player.objects.create(callsign=name, **fields)
        except IntegrityError:
            continue  # taken by a concurrent request since the check: try the next name
    raise RuntimeError("Could not find a free callsign.")


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
        player = _create_player()
        request.session[SESSION_KEY] = player.pk
    return player


def player_for_user(*, user: AbstractBaseUser) -> Player:
    """The user's player; a new one named after the username when that callsign is free."""
    player = Player.objects.filter(user=user).first()
    if player is not None:
        return player
    try:
        return _create_player(preferred=user.get_username(), user=user)
    except IntegrityError:  # created by a concurrent request of the same user
        return Player.objects.get(user=user)


def player_rename(*, player: Player, callsign: str) -> Player:
    """Give the player a new callsign; InvalidCallsign (or CallsignTaken) when it cannot be had."""
    cleaned = callsign_check(callsign=callsign, player=player)
    try:
        with transaction.atomic():
            Player.objects.filter(pk=player.pk).update(callsign=cleaned, callsign_key=callsign_key(cleaned))
    except IntegrityError:
        raise CallsignTaken(TAKEN) from None
    player.callsign, player.callsign_key = cleaned, callsign_key(cleaned)
    return player


def player_sign_up(*, user: AbstractBaseUser, guest_id: int | None) -> Player:
    """Save a new account and its pilot in one transaction; the username becomes the callsign.

    Two sign-ups racing for look-alike names both pass the form's check; the unique key lets
    one through and the other raises CallsignTaken with nothing saved.
    """
    try:
        with transaction.atomic():
            user.save()
            player = player_claim_guest(user=user, guest_id=guest_id)
            return player_rename(player=player, callsign=user.get_username())
    except IntegrityError:  # the username itself, taken by a concurrent sign-up
        raise CallsignTaken(TAKEN) from None


def player_claim_guest(*, user: AbstractBaseUser, guest_id: int | None) -> Player:
    """Give a user the guest's progress: the guest becomes the user's player, or, when the
    user already has one, the guest's runs move over and the guest is removed.

    Moved runs are credited again under the account's fair-play rules (services.xp), oldest
    first: a mission both had played, or a quest's daily cap already reached on the account,
    earns nothing twice. So many guest sessions merged into one account pay no more than one.
    """
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
        # One daily run per player and day: the guest's copy of a day's daily the account played
        # stays in the log as an ordinary run (it earns nothing again when it is the same content).
        account_days = QuestRun.objects.filter(player=existing, daily__isnull=False).values("daily__day")
        QuestRun.objects.filter(player=guest, daily__day__in=account_days).update(daily=None)
        moved = list(
            QuestRun.objects.filter(player=guest, status=RunStatus.ANSWERED).order_by("answered_at", "pk")
        )
        QuestRun.objects.filter(player=guest).update(player=existing, xp_awarded=0)
        xp = 0
        for run in moved:
            credit, note = xp_credit(player_id=existing.pk, run=run, earned=run.xp_awarded, at=run.answered_at)
            QuestRun.objects.filter(pk=run.pk).update(
                xp_awarded=credit, xp_note=note if run.xp_awarded else run.xp_note
            )
            xp += credit
        xp += reviews_merge(guest=guest, account=existing)
        newer = guest.last_played_on and (not existing.last_played_on or guest.last_played_on > existing.last_played_on)
        Player.objects.filter(pk=existing.pk).update(
            xp=F("xp") + xp,
            runs_completed=F("runs_completed") + guest.runs_completed,
            perfect_runs=F("perfect_runs") + guest.perfect_runs,
            correct_answers=F("correct_answers") + guest.correct_answers,
            best_streak=Greatest(F("best_streak"), guest.best_streak),
            streak_freeze_held=existing.streak_freeze_held or guest.streak_freeze_held,
            **({"streak_days": guest.streak_days, "last_played_on": guest.last_played_on} if newer else {}),
        )
        league_leave(player=guest)
        guest.delete()
        existing.refresh_from_db()
        league_recount(player=existing)
        return existing
