"""Logging in, for the game and the admin alike.

- The username is capped at the user model's length before anything reads it. Django's
  AuthenticationForm only sets the input's maxlength attribute, so a longer name reached
  `authenticate()`, and django-axes wrote it to a varchar(255): a 500 on PostgreSQL.
- Failed logins are counted per address (IPv4, or IPv6 /56) and per IPv6 /48, whatever the
  usernames (django-axes counts each username and address pair; guessing 30 usernames twice
  each passed it). While a window is full, login POSTs from there get a 429 page. A sign-up
  refused for a taken name tells as much as a failed login and counts here too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.signals import user_login_failed
from django.core.validators import MaxLengthValidator
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from cosmosquest.proxy import client_ip
from cosmosquest.throttle import Limit, Rate, Refusal, ThrottleUnavailable, address_units, check, record

logger = logging.getLogger("cosmosquest.accounts")


def username_max_length() -> int:
    model = get_user_model()
    return model._meta.get_field(model.USERNAME_FIELD).max_length or 150


class UsernameCapMixin:
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        cap = username_max_length()
        field = self.fields["username"]
        field.max_length = cap
        field.validators.append(MaxLengthValidator(cap))
        field.widget.attrs["maxlength"] = str(cap)


class CappedAuthenticationForm(UsernameCapMixin, AuthenticationForm):
    pass


class CappedAdminAuthenticationForm(UsernameCapMixin, AdminAuthenticationForm):
    pass


def auth_failure_limits(address: str | None) -> list[Limit]:
    units = address_units(address)
    limits = [Limit("auth_failures.address", units["address"], Rate.parse(settings.AUTH_FAILURE_RATE_ADDRESS))]
    if "network" in units:
        limits.append(Limit("auth_failures.network", units["network"], Rate.parse(settings.AUTH_FAILURE_RATE_NETWORK)))
    return limits


def auth_failure_record(address: str | None) -> None:
    try:
        record(auth_failure_limits(address))
    except ThrottleUnavailable as exc:
        logger.error("failed-login limits unavailable (%s): not counted", exc)


def auth_failure_refusal(address: str | None) -> Refusal | None:
    """The window that holds this address back, if one is full. A store that cannot be read
    holds nobody: logins stay possible (django-axes still guards each username)."""
    try:
        return check(auth_failure_limits(address))
    except ThrottleUnavailable as exc:
        logger.error("failed-login limits unavailable (%s): not checked", exc)
        return None


@receiver(user_login_failed)
def _count_failed_login(sender, credentials=None, request=None, **kwargs) -> None:
    if request is not None:
        auth_failure_record(client_ip(request))


def throttled_response(request: HttpRequest, refusal: Refusal) -> HttpResponse:
    minutes = max(1, -(-refusal.seconds_left // 60))
    response = render(
        request,
        "registration/throttled.html",
        {"minutes": minutes},
        status=429,
    )
    response["Retry-After"] = str(max(1, refusal.seconds_left))
    return response


class LoginThrottleMiddleware:
    """Refuse login and sign-up POSTs from an address whose failed-login window is full."""

    URL_NAMES = ("admin:login", "quests:login", "quests:signup")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self._paths: frozenset[str] | None = None

    def paths(self) -> frozenset[str]:
        if self._paths is None:
            self._paths = frozenset(reverse(name) for name in self.URL_NAMES)
        return self._paths

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "POST" and request.path in self.paths():
            refusal = auth_failure_refusal(client_ip(request))
            if refusal is not None:
                return throttled_response(request, refusal)
        return self.get_response(request)
