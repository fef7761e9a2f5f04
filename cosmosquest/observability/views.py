"""/metrics in Prometheus's text format, for a bearer token or from configured networks.

Access: `Authorization: Bearer <METRICS_TOKEN>` (STATUS_TOKEN when METRICS_TOKEN is unset),
compared in constant time, or a client address inside METRICS_ALLOWED_NETWORKS. The address is
the connection's own (REMOTE_ADDR), never a forwarded header: behind a proxy on the same host
every request comes from 127.0.0.1, so list only networks that reach gunicorn directly.

What is served: the database-backed collectors (the same on every host), plus this host's
per-process histograms; under gunicorn and the cluster those live in prometheus-client's
multiprocess files (PROMETHEUS_MULTIPROC_DIR in each process; METRICS_MULTIPROC_DIRS lists
every directory this host's /metrics adds up, the web's and the cluster's).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.utils.cache import add_never_cache_headers, patch_vary_headers
from django.views.decorators.http import require_safe
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.multiprocess import MultiProcessCollector

from cosmosquest.observability.collectors import ClusterCollector, GameCollector, PoolCollector

logger = logging.getLogger("cosmosquest.metrics")

# The 0.0.4 text format: what every Prometheus 2.x (Debian's 2.42 included) reads; the names here
# are plain ASCII, so the 1.0.0 format's escaping rules would change nothing.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4

DATABASE_COLLECTORS = (PoolCollector, GameCollector, ClusterCollector)


def _bearer(request: HttpRequest) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def metrics_token() -> str:
    return settings.METRICS_TOKEN or settings.STATUS_TOKEN or ""


def _from_allowed_network(request: HttpRequest) -> bool:
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in settings.METRICS_ALLOWED_NETWORKS)


def allowed(request: HttpRequest) -> bool:
    token, expected = _bearer(request), metrics_token()
    if token is not None:
        return bool(expected) and hmac.compare_digest(token.encode(), expected.encode())
    return _from_allowed_network(request)


def registry() -> CollectorRegistry:
    """A registry for one scrape: this host's per-process metrics and the database's figures."""
    scrape = CollectorRegistry(auto_describe=False)
    directories = [d for d in settings.METRICS_MULTIPROC_DIRS if os.path.isdir(d)]
    if directories:
        for directory in directories:
            MultiProcessCollector(scrape, path=directory)
    else:
        # One process (runserver, tests): its own metrics, from the default registry.
        scrape.register(_ProcessMetrics())
    for collector in DATABASE_COLLECTORS:
        scrape.register(collector())
    return scrape


class _ProcessMetrics:
    def collect(self):
        return REGISTRY.collect()


@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    if not allowed(request):
        response = HttpResponse("metrics: send Authorization: Bearer <METRICS_TOKEN>\n", status=401,
                                content_type="text/plain; charset=utf-8")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    try:
        body = generate_latest(registry())
    except DatabaseError as exc:
        logger.warning("/metrics: database unreachable (%s)", type(exc).__name__)
        response = HttpResponse("metrics: database unreachable\n", status=503, content_type="text/plain; charset=utf-8")
        response["Retry-After"] = "10"
        return response
    response = HttpResponse(body, content_type=CONTENT_TYPE)
    add_never_cache_headers(response)
    patch_vary_headers(response, ["Authorization"])
    return response
