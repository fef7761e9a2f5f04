"""What each process observes of its own `complete()` calls, and the events it counts.

The latency histogram is per process (prometheus-client; in gunicorn and the django-q2 cluster
its multiprocess mode keeps one file per process, which /metrics adds up). Events that must read
the same on every host go to the database (services/events.py; a 429 is counted where it is
handled, in services/outcomes.py).
"""

from __future__ import annotations

import functools
import time

from prometheus_client import Histogram

from keymanager.conf import pool_settings
from keymanager.models import Provider
from keymanager.services.errors import PoolExhausted, RequestRejected
from keymanager.services.events import count_exhausted

# Seconds; a call may wait for its reserved slot up to the wait budget (20 s by default).
COMPLETE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 20.0, 30.0, 60.0)

complete_seconds = Histogram(
    "cosmosquest_pool_complete_seconds",
    "Time of one logical complete() call in this process, waiting for a slot included.",
    ["provider", "result"],
    buckets=COMPLETE_BUCKETS,
)


def observed(complete):
    """Wrap `complete()`: its time by result (served, exhausted, rejected, error), and a
    PoolExhausted counted in the database."""

    @functools.wraps(complete)
    def wrapper(**kwargs):
        started = time.monotonic()
        provider, result = "none", "error"
        try:
            served = complete(**kwargs)
            provider, result = served.provider, "served"
            return served
        except PoolExhausted:
            result = "exhausted"
            count_exhausted(provider=Provider.GROQ, model=kwargs.get("model") or pool_settings().default_model)
            raise
        except RequestRejected:
            result = "rejected"
            raise
        finally:
            complete_seconds.labels(provider=provider, result=result).observe(time.monotonic() - started)

    return wrapper
