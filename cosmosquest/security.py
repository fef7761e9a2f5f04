"""Response headers that Django 5.2's SecurityMiddleware does not set itself.

Django already sends X-Content-Type-Options, Referrer-Policy, Cross-Origin-Opener-Policy and
(through XFrameOptionsMiddleware) X-Frame-Options. This adds a Content-Security-Policy and a
Permissions-Policy. Django gains its own CSP support only in 6.0, and one header string does
not need a dependency: every page of the game, the admin and the API dashboard loads its
scripts from files under /static/, so scripts are 'self' only. Styles allow inline attributes
because progress bars set their width in a style attribute.
"""

from __future__ import annotations

from collections.abc import Callable

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest, HttpResponse

DEFAULT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)
DEFAULT_PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()"


class SecurityHeadersMiddleware:
    """Set CSP and Permissions-Policy unless a view set its own."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.csp = getattr(settings, "CONTENT_SECURITY_POLICY", DEFAULT_CSP)
        self.permissions = getattr(settings, "PERMISSIONS_POLICY", DEFAULT_PERMISSIONS_POLICY)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if self.csp:
            response.headers.setdefault("Content-Security-Policy", self.csp)
        if self.permissions:
            response.headers.setdefault("Permissions-Policy", self.permissions)
        return response


class ThrottledModelBackend(AxesStandaloneBackend, ModelBackend):
    """Django's ModelBackend behind django-axes' lockout check, as one backend.

    axes asks for its backend in front of ModelBackend; two backends would make every bare
    `login(request, user)` (the game's sign-up) name a backend. A locked-out pair raises
    PermissionDenied here, which `authenticate()` turns into a failed login that axes' middleware
    answers with 429. Calls without a request (scripts, the test client's `login()`) have no
    address to throttle by and go straight to ModelBackend.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is not None:
            AxesStandaloneBackend.authenticate(self, request, username=username, password=password, **kwargs)
        return ModelBackend.authenticate(self, request, username=username, password=password, **kwargs)
