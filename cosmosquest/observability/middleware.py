"""Middleware: /healthz and /readyz answered first, then one request id per web request."""

from __future__ import annotations

import time

from django.http import HttpRequest, HttpResponse
from prometheus_client import Histogram

from cosmosquest.observability.health import healthz, readyz
from keymanager.context import new_trace_id, reset_trace_id, set_trace_id, valid_trace_id

HEADER = "X-Request-ID"

request_seconds = Histogram(
    "cosmosquest_http_request_seconds",
    "Time to answer one web request in this process, by route and status class.",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0, 10.0),
)

HEALTH = {"/healthz": healthz, "/readyz": readyz}
METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


class HealthMiddleware:
    """First in MIDDLEWARE: a load balancer or systemd asking /healthz or /readyz gets its answer
    before host validation, the HTTPS redirect, sessions or anything else that could turn a
    healthy process into a 301 or a 400 (they ask by address, over plain HTTP)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        check = HEALTH.get(request.path_info)
        if check is not None:
            return check(request)
        return self.get_response(request)


class RequestIdMiddleware:
    """One id per web request: the proxy's `X-Request-ID` when it sent a well-formed one,
    else a new one. Set for the request's work (log lines, usage rows, the tasks it enqueues)
    and returned in the response's `X-Request-ID`. Also times the request per route."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        trace_id = valid_trace_id(request.headers.get(HEADER)) or new_trace_id()
        request.trace_id = trace_id
        token = set_trace_id(trace_id)
        started = time.perf_counter()
        status = 500
        try:
            response = self.get_response(request)
            status = response.status_code
            response[HEADER] = trace_id
            return response
        finally:
            reset_trace_id(token)
            match = getattr(request, "resolver_match", None)
            route = (match.route or match.view_name) if match else "unmatched"
            method = request.method if request.method in METHODS else "other"
            request_seconds.labels(route=route or "unmatched", method=method, status=f"{status // 100}xx").observe(
                time.perf_counter() - started
            )
