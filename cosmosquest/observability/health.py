"""/healthz: the process answers. /readyz: it can serve (database, cache, the cluster's heartbeat).

For load balancers and systemd: plain JSON, no login, no session, never cached; /readyz answers
503 naming the check that failed. The cluster check reads django-q2's own heartbeat (each
running cluster saves its status to the shared cache every half second or so, for 3 seconds).
"""

from __future__ import annotations

import logging
import time
import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers

logger = logging.getLogger("cosmosquest.health")

# Seconds a load balancer should wait before asking again after a 503.
RETRY_AFTER = 5


def _answer(payload: dict, status: int = 200) -> JsonResponse:
    response = JsonResponse(payload, status=status)
    add_never_cache_headers(response)
    if status == 503:
        response["Retry-After"] = str(RETRY_AFTER)
    return response


def healthz(request: HttpRequest) -> JsonResponse:
    """The process runs and answers; touches nothing else."""
    return _answer({"status": "ok"})


def _timed(check) -> dict:
    started = time.perf_counter()
    try:
        result = check()
    except Exception as exc:  # any failure of a dependency is an answer, never a 500
        logger.warning("readyz: %s failed: %s", check.__name__.lstrip("_"), type(exc).__name__)
        result = {"ok": False, "error": type(exc).__name__}
    result["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return result


def _database() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"ok": True}


def _cache() -> dict:
    key = f"readyz:{uuid.uuid4().hex}"
    cache.set(key, 1, timeout=10)
    found = cache.get(key)
    cache.delete(key)
    return {"ok": found == 1} if found == 1 else {"ok": False, "error": "value not read back"}


def cluster_heartbeats() -> list:
    """django-q2's status of every cluster that saved one lately (empty when none runs)."""
    from django_q.status import Stat

    return list(Stat.get_all())


def _cluster() -> dict:
    max_age = settings.READYZ_CLUSTER_MAX_AGE
    stats = cluster_heartbeats()
    if not stats:
        return {"ok": max_age == 0, "clusters": 0, "last_heartbeat_age": None}
    age = min((timezone.now() - stat.timestamp).total_seconds() for stat in stats)
    return {"ok": max_age == 0 or age <= max_age, "clusters": len(stats), "last_heartbeat_age": round(age, 1)}


def readyz(request: HttpRequest) -> JsonResponse:
    checks = {"database": _timed(_database), "cache": _timed(_cache)}
    checks["cluster"] = _timed(_cluster) if checks["cache"]["ok"] else {"ok": False, "error": "cache unavailable"}
    ready = all(check["ok"] for check in checks.values())
    return _answer({"status": "ready" if ready else "unready", "checks": checks}, 200 if ready else 503)
