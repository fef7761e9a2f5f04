"""The shared cache behind limits that must hold across workers and hosts.

Django's DatabaseCache is shared (every worker on every host reads one table), but its `incr`
is a read followed by a `set`: two workers counting at once both read 4 and both write 5, and
the `set` also moves the entry's expiry to the default timeout, so a counter meant to last an
hour would forget itself after five idle minutes. django-ratelimit refuses that backend for
exactly this reason (check django_ratelimit.E003). This subclass increments under a row lock
(SELECT ... FOR UPDATE on PostgreSQL; SQLite's IMMEDIATE transactions serialize writers) and
leaves the expiry alone, which is what Redis's INCRBY does when REDIS_URL selects Redis instead.
"""

from __future__ import annotations

import base64
import pickle

from django.core.cache.backends.db import DatabaseCache
from django.db import connections, models, router, transaction
from django.utils.timezone import now as tz_now


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
