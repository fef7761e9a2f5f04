"""Code that the reliability tests run in spawned OS processes.

Kept apart from the test modules because a spawned process imports its target's module before
Django is set up, so this module imports nothing from the project at the top.
"""

from __future__ import annotations

from tests.workers import setup_django

MESSAGES = [{"role": "user", "content": "Name a moon of Jupiter."}]


def call_forever(db_name: str, overrides: dict) -> None:
    """A worker serving calls until it is killed."""
    setup_django(db_name, overrides)
    from keymanager.services import PoolExhausted, complete

    while True:
        try:
            complete(messages=MESSAGES, max_tokens=20, purpose="killed-worker")
        except PoolExhausted:
            pass


def serve_when_told(db_name: str, overrides: dict, ready, go, results, calls: int) -> None:
    """A web worker: set up, say so, wait for its turn, serve `calls` quest-1 calls."""
    setup_django(db_name, overrides)
    from django.db import connection

    from keymanager.services import PoolExhausted, complete

    ready.set()
    go.wait(timeout=120)
    used = []
    for _ in range(calls):
        try:
            result = complete(messages=MESSAGES, max_tokens=20, quest=1, purpose="shared-cooldown")
            used.append((result.key_id, result.attempts))
        except PoolExhausted:
            used.append((None, 0))
    connection.close()
    results.put(used)
