"""One clock for every host: the database's.

Slots, windows and cooldowns are times, and they are shared by every worker on every host
through the database. If each host used its own clock, a host running a second behind would
put a request into a window that another host's requests already filled. So the pool's time is
the database server's: each process measures its offset to it (PostgreSQL's `clock_timestamp()`,
half the round trip taken off) when it first asks and again every `REFRESH` seconds, and adds it
to its own clock. SQLite is one host's file, so its host's clock is the database's.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from django.db import connection

REFRESH = 60.0  # seconds between two measurements of the offset
_lock = threading.Lock()
_offset = 0.0
_measured_at = -REFRESH  # monotonic time of the last measurement


def _measure() -> float:
    if connection.vendor != "postgresql":
        return 0.0
    with connection.cursor() as cursor:
        before = time.time()
        cursor.execute("SELECT EXTRACT(EPOCH FROM clock_timestamp())")
        server = float(cursor.fetchone()[0])
        after = time.time()
    return server - (before + after) / 2


def offset() -> float:
    """Seconds to add to this host's clock to read the database's (measured now and then)."""
    global _offset, _measured_at
    if time.monotonic() - _measured_at >= REFRESH:
        with _lock:
            if time.monotonic() - _measured_at >= REFRESH:
                _offset = _measure()
                _measured_at = time.monotonic()
    return _offset


def now() -> float:
    """The pool's time, in epoch seconds."""
    return time.time() + offset()


def now_datetime() -> datetime:
    return datetime.fromtimestamp(now(), UTC)


def as_datetime(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def forget() -> None:
    """Measure again at the next call (tests; a process that changed databases)."""
    global _measured_at
    with _lock:
        _measured_at = -REFRESH
