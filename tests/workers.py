"""Code that runs in other OS processes during tests (spawned, so it sets Django up itself)."""

from __future__ import annotations

import os


def setup_django(db_name: str, overrides: dict) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django
    from django.conf import settings

    django.setup()
    # Point at the test database the parent created; connections open lazily, after this.
    settings.DATABASES["default"]["NAME"] = db_name
    for name, value in overrides.items():
        setattr(settings, name, value)


def call_pool(db_name: str, overrides: dict, calls: int, worker: int) -> dict:
    """Run `calls` logical calls through complete(); count how each ended."""
    setup_django(db_name, overrides)
    from django.db import connection

    from keymanager.services import PoolExhausted, complete

    counts = {"served": 0, "exhausted": 0, "other": 0}
    for i in range(calls):
        try:
            complete(
                messages=[{"role": "user", "content": f"Worker {worker} call {i}: name a comet."}],
                max_tokens=40,
                purpose="concurrency-test",
            )
            counts["served"] += 1
        except PoolExhausted:
            counts["exhausted"] += 1
        except Exception as exc:  # counted, and reported to the parent
            counts["other"] += 1
            counts.setdefault("errors", []).append(repr(exc)[:200])
    connection.close()
    return counts
