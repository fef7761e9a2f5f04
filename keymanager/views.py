"""/api/status: the pool's health as JSON, for monitors and load balancers."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.utils.cache import add_never_cache_headers, patch_vary_headers
from django.views.decorators.http import require_GET

from keymanager.selectors import pool_status


def _bearer(request: HttpRequest) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


@require_GET
def status(request: HttpRequest) -> JsonResponse:
    """Counts for everyone; per-key detail for staff sessions and holders of STATUS_TOKEN.

    A bearer token that does not match is refused (401) rather than treated as anonymous,
    so a monitor with a stale token notices instead of silently losing the detail.
    """
    token = _bearer(request)
    expected = getattr(settings, "STATUS_TOKEN", "") or ""
    if token is not None:
        if not expected or not hmac.compare_digest(token.encode(), expected.encode()):
            response = JsonResponse({"error": "invalid status token"}, status=401)
            response["WWW-Authenticate"] = 'Bearer realm="api-status"'
            add_never_cache_headers(response)
            return response
        detail = True
    else:
        detail = bool(request.user.is_authenticated and request.user.is_staff)
    response = JsonResponse(pool_status(detail=detail))
    add_never_cache_headers(response)  # Cache-Control: no-store among others
    patch_vary_headers(response, ["Authorization", "Cookie"])
    return response
