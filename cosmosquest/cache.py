"""The shared cache behind limits that must hold across workers and hosts.

Django's DatabaseCache is shared (every worker on every host reads one table), but its `incr`
is a read followed by a `set`: two workers counting at once both read 4 and both write 5, and
the `set` also moves the entry's expiry to the default timeout, so a counter meant to last an
hour would forget itself after five idle minutes. This subclass increments under a row lock
(SELECT ... FOR UPDATE on PostgreSQL; SQLite's IMMEDIATE transactions serialize writers) and
leaves the expiry alone, which is what Redis's INCRBY does when REDIS_URL selects Redis instead.
"""

from __future__ import annotations

import base64
import math
import pickle
import time
from datetime import UTC, datetime

from django.conf import settings
from django.core.cache.backends.db import DatabaseCache
from django.db import DatabaseError, IntegrityError, connections, models, router, transaction
from django.utils.timezone import now as tz_now
from limits.storage import MovingWindowSupport, Storage


class AtomicDatabaseCache(DatabaseCache):
    def incr(self, key, delta=1, version=None):
        key = self.make_and_validate_key(key, version=version)
        db = router.db_for_write(self.cache_model_class)
        connection = connections[db]
        quote = connection.ops.quote_name
        table = quote(self._table)
        lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
        with transaction.atomic(using=db), connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {quote('value')}, {quote('expires')} FROM {table} WHERE {quote('cache_key')} = %s{lock}",
                [key],
            )
            row = cursor.fetchone()
            if row is None or self._expired(connection, row[1]):
                raise ValueError(f"Key '{key}' not found")
            value = pickle.loads(base64.b64decode(connection.ops.process_clob(row[0]).encode()))
            new_value = value + delta
            encoded = base64.b64encode(pickle.dumps(new_value, self.pickle_protocol)).decode("latin1")
            cursor.execute(
                f"UPDATE {table} SET {quote('value')} = %s WHERE {quote('cache_key')} = %s", [encoded, key]
            )
        return new_value

    def decr(self, key, delta=1, version=None):
        return self.incr(key, -delta, version=version)

    @staticmethod
    def _expired(connection, expires) -> bool:
        expression = models.Expression(output_field=models.DateTimeField())
        for converter in connection.ops.get_db_converters(expression) + expression.get_db_converters(connection):
            expires = converter(expires, expression, connection)
        return expires < tz_now()


class CacheTableWindows(Storage, MovingWindowSupport):
    """`limits`' moving-window storage on the cache table, for deployments without Redis.

    One row per window, its value the pickled list of the entries' times (newest first, at most
    `limit` of them), so `cache.get` reads it and `cache.clear` empties it like any entry. An
    entry is taken under the row's lock (SELECT ... FOR UPDATE; SQLite's IMMEDIATE transactions
    serialize writers), so two workers never both take the last one. Redis deployments use
    `limits`' own RedisStorage, whose Lua scripts do the same in one round trip.
    """

    STORAGE_SCHEME = None

    def __init__(self, cache: DatabaseCache) -> None:
        super().__init__()
        self.cache = cache

    @property
    def base_exceptions(self) -> type[Exception]:
        return DatabaseError

    def _table(self) -> tuple[str, object]:
        db = router.db_for_write(self.cache.cache_model_class)
        return db, connections[db]

    def _entries(self, cursor, connection, key: str, *, lock: bool) -> tuple[bool, list[float]]:
        quote = connection.ops.quote_name
        suffix = " FOR UPDATE" if lock and connection.features.has_select_for_update else ""
        cursor.execute(
            f"SELECT {quote('value')}, {quote('expires')} FROM {quote(self.cache._table)} "
            f"WHERE {quote('cache_key')} = %s{suffix}",
            [key],
        )
        row = cursor.fetchone()
        if row is None:
            return False, []
        if AtomicDatabaseCache._expired(connection, row[1]):
            return True, []
        value = pickle.loads(base64.b64decode(connection.ops.process_clob(row[0]).encode()))
        return True, list(value) if isinstance(value, list) else []

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        if amount > limit:
            return False
        cache_key = self.cache.make_and_validate_key(key)
        db, connection = self._table()
        quote = connection.ops.quote_name
        table = quote(self.cache._table)
        for _ in range(3):
            now = time.time()
            try:
                with transaction.atomic(using=db), connection.cursor() as cursor:
                    exists, entries = self._entries(cursor, connection, cache_key, lock=True)
                    live = [at for at in entries if at > now - expiry]
                    if len(live) + amount > limit:
                        return False
                    value = base64.b64encode(pickle.dumps(([now] * amount + live)[:limit])).decode("latin1")
                    expires = connection.ops.adapt_datetimefield_value(
                        datetime.fromtimestamp(math.ceil(now + expiry), tz=UTC if settings.USE_TZ else None)
                    )
                    if exists:
                        cursor.execute(
                            f"UPDATE {table} SET {quote('value')} = %s, {quote('expires')} = %s "
                            f"WHERE {quote('cache_key')} = %s",
                            [value, expires, cache_key],
                        )
                    else:
                        cursor.execute(
                            f"INSERT INTO {table} ({quote('cache_key')}, {quote('value')}, {quote('expires')}) "
                            "VALUES (%s, %s, %s)",
                            [cache_key, value, expires],
                        )
                    return True
            except IntegrityError:
                continue  # another worker created the row first: take it under its lock
        return False

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        now = time.time()
        db, connection = self._table()
        with transaction.atomic(using=db), connection.cursor() as cursor:
            _, entries = self._entries(cursor, connection, self.cache.make_and_validate_key(key), lock=False)
        live = [at for at in entries if at > now - expiry]
        return (min(live), len(live)) if live else (now, 0)

    def clear(self, key: str) -> None:
        self.cache.delete(key)

    def check(self) -> bool:
        try:
            self.cache.get("limits-check")
        except DatabaseError:
            return False
        return True

    # Fixed windows are not used here (every limit is a moving window); the base class asks for them.
    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        self.cache.add(key, 0, expiry)
        return self.cache.incr(key, amount)

    def get(self, key: str) -> int:
        return int(self.cache.get(key) or 0)

    def get_expiry(self, key: str) -> float:
        return time.time()

    def reset(self) -> int | None:
        raise NotImplementedError


UNREACHABLE = "database unreachable"


def shared_cache_problem() -> str | None:
    """What keeps the shared cache (every limit's windows) from working, or None.

    The cache table is created by `manage.py createcachetable`, not by `migrate`: a release
    that skipped it leaves every limit unreadable (launches get the archive, sign-ups wait).
    """
    from django.core.cache import caches

    backend = caches["default"]
    if isinstance(backend, DatabaseCache):
        db = router.db_for_read(backend.cache_model_class)
        try:
            tables = connections[db].introspection.table_names()
        except DatabaseError:
            return UNREACHABLE
        if backend._table not in tables:
            return f"cache table {backend._table!r} missing: run `manage.py createcachetable`"
        return None
    try:
        backend.get("cosmosquest:cache-check")
    except Exception as exc:  # a Redis client raises its own errors; any of them means "not working"
        return f"cache unreachable ({exc.__class__.__name__})"
    return None
