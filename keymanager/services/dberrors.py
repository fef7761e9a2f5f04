"""Which database errors are worth retrying: contention, not an unreachable database."""

from __future__ import annotations

from django.db import InterfaceError, OperationalError

# PostgreSQL: serialization failure, deadlock, lock not available, statement/lock timeout.
TRANSIENT_SQLSTATES = {"40001", "40P01", "55P03", "57014"}
SQLITE_TRANSIENT = ("database is locked", "database table is locked", "database schema has changed")


def is_contention(exc: BaseException) -> bool:
    """True for a lock timeout, deadlock or busy database: the same work may succeed at
    once on a retry. False for everything else, a lost or refused connection included."""
    if isinstance(exc, InterfaceError) or not isinstance(exc, OperationalError):
        return False
    cause = exc.__cause__ or exc.__context__
    sqlstate = getattr(cause, "sqlstate", None) or getattr(getattr(cause, "diag", None), "sqlstate", None)
    if sqlstate:
        return sqlstate in TRANSIENT_SQLSTATES
    text = str(exc).lower()
    return any(marker in text for marker in SQLITE_TRANSIENT)
