"""/api/status: the pool's health as JSON, for monitors and load balancers."""

from __future__ import annotations

import hmac
import logging

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers, patch_vary_headers
from django.views.decorators.http import require_safe

from cosmosquest.cache import shared_cache_problem
from keymanager.selectors import pool_status

logger = logging.getLogger("keymanager.status")

# Seconds a monitor should wait before asking again while the database is unreachable.
UNAVAILABLE_RETRY_AFTER = 10


def _bearer(request: HttpRequest) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def _json(payload: dict, *, status: int = 200) -> JsonResponse:
    response = JsonResponse(payload, status=status)
    add_never_cache_headers(response)  # Cache-Control: no-store among others
    patch_vary_headers(response, ["Authorization", "Cookie"])
    return response


@require_safe  # GET, and HEAD for monitors (the same answer without its body)
def status(request: HttpRequest) -> JsonResponse:
    """Counts for everyone; per-key detail for staff with the "view key" permission (the
    API dashboard's rule) and for holders of STATUS_TOKEN.

    A bearer token that does not match is refused (401) rather than treated as anonymous,
    so a monitor with a stale token notices instead of silently losing the detail. With the
    database unreachable the answer is still JSON: 503 with Retry-After.
    """
    token = _bearer(request)
    expected = getattr(settings, "STATUS_TOKEN", "") or ""
    if token is not None and not (expected and hmac.compare_digest(token.encode(), expected.encode())):
        response = _json({"error": "invalid status token"}, status=401)
        response["WWW-Authenticate"] = 'Bearer realm="api-status"'
        return response
    try:
        # request.user reads the session and the user from the database: inside the try.
        user = request.user
        detail = token is not None or (user.is_staff and user.has_perm("keymanager.view_key"))
        payload = pool_status(detail=detail)
        # The shared cache holds every limit: without it no launch goes live (see cosmosquest/cache.py).
        problem = shared_cache_problem()
        payload["cache"] = {"ok": True} if problem is None else {"ok": False, "problem": problem}
        if problem is not None and payload.get("status") == "ok":
            payload["status"] = "degraded"
        return _json(payload)
    except (OperationalError, InterfaceError) as exc:
        logger.warning("/api/status: database unreachable (%s)", exc.__class__.__name__)
        response = _json(
            {"status": "down", "error": "database unreachable", "generated_at": timezone.now().isoformat()},
            status=503,
        )
        response["Retry-After"] = str(UNAVAILABLE_RETRY_AFTER)
        return response
