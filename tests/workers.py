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


def reserve_in_turn(db_name: str, overrides: dict, ready, go, done_before, done, results, worker: int) -> None:
    """Wait for this worker's turn (the one before it has reserved), reserve a slot, report it."""
    setup_django(db_name, overrides)
    import uuid

    from django.db import connection

    from keymanager.services.leases import Ask
    from keymanager.services.selection import acquire

    ready.set()
    go.wait(timeout=120)
    if done_before is not None:
        done_before.wait(timeout=120)
    lease = acquire(Ask(provider="groq", model="openai/gpt-oss-20b", prompt_count=50, max_tokens=0,
                        request_id=uuid.uuid4(), attempt=1, max_wait=600.0))
    results.put((worker, getattr(lease, "send_at", None)))
    done.set()
    connection.close()


def reserve_at_once(db_name: str, overrides: dict, ready, go, results, worker: int) -> None:
    """Reserve a slot the moment every worker is released together; report (commit time, slot)."""
    setup_django(db_name, overrides)
    import uuid

    from django.db import connection

    from keymanager import clock
    from keymanager.services.leases import Ask
    from keymanager.services.selection import acquire

    connection.ensure_connection()
    clock.now()  # measured before the race, like a warm worker
    ready.set()
    go.wait(timeout=120)
    lease = acquire(Ask(provider="groq", model="openai/gpt-oss-20b", prompt_count=50, max_tokens=0,
                        request_id=uuid.uuid4(), attempt=1, max_wait=900.0))
    results.put((worker, clock.now(), getattr(lease, "send_at", None)))
    connection.close()


def call_with_clock_off(db_name: str, overrides: dict, offset: float, start_at: float, calls: int, worker: int) -> dict:
    """A host whose clock is `offset` seconds off: its time.time() says so, for everything in
    this process. Starts at `start_at` (real epoch seconds), then makes `calls` calls."""
    import time

    real = time.time
    time.time = lambda: real() + offset
    setup_django(db_name, overrides)
    from django.db import connection

    from keymanager.services import PoolExhausted, complete

    while real() < start_at:
        time.sleep(0.01)
    counts = {"served": 0, "exhausted": 0}
    for i in range(calls):
        try:
            complete(messages=[{"role": "user", "content": f"Host {worker} call {i}"}], max_tokens=20)
            counts["served"] += 1
        except PoolExhausted:
            counts["exhausted"] += 1
    connection.close()
    return counts
