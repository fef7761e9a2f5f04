"""Opening an account: a check that a person filled the form in, and the per-address limits.

The check needs no third party and no JavaScript: the form carries a signed token of the time
it was shown, and a field people never see (a honeypot). A form sent back within
`signup_min_seconds` of being shown, or with the hidden field filled in, was not filled in by a
person; a token is good once, for `signup_max_age_seconds`. A script that waits passes it, which
is what the limits are for: `signup_rate_address` new accounts per address and
`signup_rate_network` per IPv6 /48 (quests.services.limits), in moving windows.
"""

from __future__ import annotations

import secrets
import time

from django.contrib.auth.models import AbstractBaseUser
from django.core import signing

from cosmosquest.throttle import Limit, Rate, Refusal, ThrottleUnavailable, take
from quests.conf import game_settings
from quests.models import Player
from quests.services.limits import signup_take
from quests.services.players import player_sign_up

SALT = "quests.signup.challenge"
HONEYPOT = "flight_plan"
TOKEN = "form_token"

NOT_A_PERSON = "We could not accept this sign-up. Please fill in the form again."
TOO_QUICK = "That was quicker than anyone can type. Please check the form and create your account again."
STALE = "This form has expired or was already used. Please create your account again."


class SignupRefused(Exception):
    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.name)
        self.refusal = refusal


class SignupUnavailable(Exception):
    """The limits cannot be counted now (the shared cache is down): no account is opened."""


def challenge_token(*, now: float | None = None) -> str:
    """A token for one sign-up form: when it was shown, and a nonce that makes it good once."""
    return signing.dumps({"nonce": secrets.token_urlsafe(12), "shown": now or time.time()}, salt=SALT, compress=True)


def challenge_problem(*, token: str, honeypot: str, now: float | None = None) -> str | None:
    """Why this submission was not a person filling in the form (a message), or None."""
    conf = game_settings()
    if honeypot:
        return NOT_A_PERSON
    try:
        data = signing.loads(token or "", salt=SALT, max_age=conf.signup_max_age_seconds)
        shown, nonce = float(data["shown"]), str(data["nonce"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return STALE
    age = (now or time.time()) - shown
    if age > conf.signup_max_age_seconds:
        return STALE
    if age < conf.signup_min_seconds:
        return TOO_QUICK
    once = Limit("signup.token", nonce, Rate(count=1, seconds=conf.signup_max_age_seconds))
    try:
        if take([once]) is not None:
            return STALE
    except ThrottleUnavailable as exc:
        raise SignupUnavailable(str(exc)) from exc
    return None


def signup_open(*, user: AbstractBaseUser, guest_id: int | None, address: str | None) -> Player:
    """Count the new account against its address's limits, then open it (player_sign_up).
    SignupRefused when a limit is full; SignupUnavailable when they cannot be counted."""
    try:
        refusal = signup_take(address=address)
    except ThrottleUnavailable as exc:
        raise SignupUnavailable(str(exc)) from exc
    if refusal is not None:
        raise SignupRefused(refusal)
    return player_sign_up(user=user, guest_id=guest_id)
