"""What must hold under PgBouncer's transaction pooling, where each transaction may run on
another server connection (tests/ops/test_pgbouncer.py runs this file through a real PgBouncer;
on a direct connection it holds trivially)."""

from __future__ import annotations

import uuid

import pytest
from django.db import connections

from keymanager.models import UsageLog

pytestmark = pytest.mark.django_db(transaction=True)


def test_iterating_a_large_query_survives_another_transaction_taking_its_server_connection():
    UsageLog.objects.bulk_create(
        [UsageLog(request_id=uuid.uuid4(), provider="groq", organization="org_a", model="m") for _ in range(40)]
    )
    rows = UsageLog.objects.order_by("pk").iterator(chunk_size=5)
    first = next(rows)
    # Another client opens a transaction: PgBouncer hands it the most recently used server
    # connection, the one a server-side cursor would live on.
    other = connections.create_connection("default")
    try:
        other.set_autocommit(False)
        with other.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM keymanager_usagelog")
            assert cursor.fetchone()[0] == 40
            rest = list(rows)
        other.rollback()
    finally:
        other.close()
    assert [first.pk, *(r.pk for r in rest)] == list(UsageLog.objects.order_by("pk").values_list("pk", flat=True))


def test_session_time_zone_is_utc_on_every_server_connection():
    from django.utils import timezone

    before = timezone.now()
    UsageLog.objects.create(request_id=uuid.uuid4(), provider="groq", organization="org_a", model="m")
    stored = UsageLog.objects.get()
    assert abs((stored.created_at - before).total_seconds()) < 5
    if connections["default"].vendor == "postgresql":
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT current_setting('TimeZone')")
            assert cursor.fetchone()[0] == "UTC"
