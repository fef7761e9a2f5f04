"""How fast /admin/api-dashboard/ renders with a large usage history.

Creates a fresh benchmark database (bench.common: PostgreSQL `cosmosquest_bench`, or an
SQLite file in the temp directory), 9 keys in 5 organizations with cooldowns, and N usage-log
rows (default 1,000,000) spread over the last 7 days, bulk-loaded (COPY on PostgreSQL,
executemany on SQLite). Runs the rollup task once, as the django-q2 schedule would, then
times full renders of the dashboard (and, for reference, the fragment its JavaScript
fetches, the key list, the usage log and /api/status) through Django's test client.

    .venv/bin/python bench/dashboard.py --db sqlite
    .venv/bin/python bench/dashboard.py --db postgres --rows 1000000 --repeat 30
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, configure_environment, create_database, percentile, setup_django  # noqa: E402


def load_rows(keys, count: int, days: int) -> float:
    from django.db import connection, transaction
    from django.utils import timezone

    from keymanager.dashboard.sample import COLUMNS, sample_rows

    now = timezone.now()
    rows = sample_rows(keys=keys, count=count, since=now - timedelta(days=days), until=now)
    started = time.perf_counter()
    table = "keymanager_usagelog"
    if connection.vendor == "postgresql":
        connection.ensure_connection()
        with transaction.atomic(), connection.connection.cursor() as cursor:
            with cursor.copy(f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
    else:
        # Django's SQLite storage formats: UUID as 32 hex digits, naive UTC date-times.
        uuid_at, times = COLUMNS.index("request_id"), {COLUMNS.index("created_at"), COLUMNS.index("finished_at")}

        def adapt(row):
            row = list(row)
            row[uuid_at] = row[uuid_at].hex
            for i in times:
                if row[i] is not None:
                    row[i] = str(row[i].replace(tzinfo=None))
            return row

        sql = f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES ({', '.join('%s' for _ in COLUMNS)})"
        batch: list = []
        with transaction.atomic(), connection.cursor() as cursor:
            for row in rows:
                batch.append(adapt(row))
                if len(batch) == 50_000:
                    cursor.executemany(sql, batch)
                    batch.clear()
            if batch:
                cursor.executemany(sql, batch)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE" if connection.vendor == "sqlite" else f"ANALYZE {table}")
    return time.perf_counter() - started


def make_keys():
    import secrets
    import string

    from keymanager.services.keys import key_add
    from keymanager.services.outcomes import cool_down

    alphabet = string.ascii_letters + string.digits
    keys = []
    for i in range(8):
        secret = "gsk_" + "".join(secrets.choice(alphabet) for _ in range(52))
        keys.append(key_add(provider="groq", name=f"groq-{i + 1}", secret=secret, organization=f"org_{'abcd'[i // 2]}"))
    secret = "sk-proj-" + "".join(secrets.choice(alphabet) for _ in range(48))
    keys.append(key_add(provider="openai", name="openai-1", secret=secret, organization="openai_org"))
    cool_down(provider="groq", key_id=keys[1].pk, reason="errors", seconds=600)
    cool_down(provider="groq", organization="org_c", model="openai/gpt-oss-20b", reason="rate_limit", seconds=45)
    return keys


def time_get(client, url: str, repeat: int) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(url)  # warm-up: templates, caches, connection
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(url)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    return {
        "median_ms": round(statistics.median(samples), 1),
        "p95_ms": round(percentile(samples, 0.95), 1),
        "min_ms": round(min(samples), 1),
        "queries": len(queries),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()

    configure_environment(args.db, ALLOWED_HOSTS="testserver,127.0.0.1,localhost")
    create_database(args.db)
    setup_django()

    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.test.utils import override_settings

    from keymanager.models import UsageLog, UsageRollup
    from keymanager.services.rollups import rollup_usage

    keys = make_keys()
    print(f"Loading {args.rows:,} usage-log rows over {args.days} days into {args.db}…", flush=True)
    load_s = load_rows(keys, args.rows, args.days)
    started = time.perf_counter()
    hours = rollup_usage()
    rollup_s = time.perf_counter() - started
    print(f"Loaded in {load_s:.1f} s; rolled up {hours} hours into {UsageRollup.objects.count():,} rows in {rollup_s:.1f} s.")

    user = get_user_model().objects.create_superuser("bench", "bench@example.com", "bench-password-123")
    client = Client()
    client.force_login(user)
    urls = {
        "dashboard": "/admin/api-dashboard/",
        "dashboard fragment (10 s refresh)": "/admin/api-dashboard/?fragment=1",
        "key list": "/admin/keymanager/key/",
        "usage log list": "/admin/keymanager/usagelog/",
        "/api/status (staff detail)": "/api/status",
    }
    storage = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    results = {}
    with override_settings(STORAGES={"default": {"BACKEND": "django.core.files.storage.FileSystemStorage"}, "staticfiles": storage}):
        for name, url in urls.items():
            results[name] = time_get(client, url, args.repeat)
            print(f"{name:36} median {results[name]['median_ms']:7.1f} ms  p95 {results[name]['p95_ms']:7.1f} ms  "
                  f"({results[name]['queries']} queries)", flush=True)  # fmt: skip
    summary = {
        "db": args.db,
        "usage_log_rows": UsageLog.objects.count(),
        "rollup_rows": UsageRollup.objects.count(),
        "load_s": round(load_s, 1),
        "rollup_s": round(rollup_s, 1),
        "repeat": args.repeat,
        "pages": results,
    }
    out = ROOT / "bench" / "results" / f"dashboard-{args.db}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2))
    print(f"Saved {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
