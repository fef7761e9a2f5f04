"""Time of one /metrics scrape with a large usage log (target: under 100 ms with 1,000,000 rows).

A fresh database with 8 keys in 4 organizations, budgets, cooldowns, 20,000 game runs and N usage
rows spread over the last 30 days; the rollup task runs first, as its schedule (every 5 minutes)
keeps it in production. Then /metrics is asked for through Django's test client (the whole
view: access check, every database collector, the text exposition), and, as the baseline in the
same run, /api/status.

    BENCH_DB_NAME=wt_ops_bench .venv/bin/python bench/metrics_scrape.py --rows 1000000
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import configure_environment, create_database, percentile, setup_django  # noqa: E402

MODEL = "openai/gpt-oss-20b"


def fill(rows: int, runs: int) -> None:
    from django.db import connection
    from django.utils import timezone

    from keymanager.models import Key, UsageLog
    from keymanager.services.keys import key_add
    from keymanager.services.outcomes import cool_down
    from keymanager.testing.groqstub import make_key
    from quests.models import Player, Quest, QuestRun

    for n in range(8):
        key_add(provider="groq", name=f"key-{n}", secret=make_key(), organization=f"org_{n % 4}")
    cool_down(provider="groq", organization="org_1", model=MODEL, reason="rate_limit", seconds=600)
    table = UsageLog._meta.db_table
    keys = list(Key.objects.values_list("pk", "organization"))
    with connection.cursor() as cursor:
        for key_id, org in keys:
            cursor.execute(
                f"""INSERT INTO {table} (request_id, trace_id, key_id, provider, organization, model, purpose, quest,
                    outcome, http_status, error_code, prompt_tokens, completion_tokens, total_tokens, budget_tokens,
                    latency_ms, attempt, created_at, finished_at)
                SELECT gen_random_uuid(), '', %s, 'groq', %s, %s, 'quest', 1 + g %% 5,
                    CASE WHEN g %% 97 = 0 THEN 'rate_limited' ELSE 'success' END, 200, '', 900, 1400, 2300, 2300,
                    300 + g %% 900, 1 + (g %% 13 = 0)::int, now() - (g %% 2592000) * interval '1 second',
                    now() - (g %% 2592000) * interval '1 second'
                FROM generate_series(1, %s) AS g""",
                [key_id, org, MODEL, rows // len(keys)],
            )
        cursor.execute(f"ANALYZE {table}")
    now = timezone.now()
    player = Player.objects.create(callsign="Bench-Pilot")
    quest = Quest.objects.order_by("number").first()
    QuestRun.objects.bulk_create(
        [QuestRun(quest=quest, player=player, source=("live", "buffer", "archive")[i % 3], status="answered",
                  answered_at=now)
         for i in range(runs)],
        batch_size=2000,
    )
    with connection.cursor() as cursor:
        cursor.execute("UPDATE quests_questrun SET served_at = created_at + (id % 9) * interval '1 second'")
        cursor.execute("ANALYZE quests_questrun")


def timed(client, url: str, token: str, n: int) -> list[float]:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        response = client.get(url, HTTP_AUTHORIZATION=f"Bearer {token}")
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.status_code
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20_000)
    parser.add_argument("--scrapes", type=int, default=30)
    args = parser.parse_args()
    token = "bench-metrics-token-0123456789abcdef"
    configure_environment("postgres", name=os.environ.get("BENCH_DB_NAME", "cosmosquest_bench"),
                          METRICS_TOKEN=token, STATUS_TOKEN=token, ALLOWED_HOSTS="testserver")
    create_database("postgres")
    setup_django()
    from django.test import Client

    from keymanager.models import UsageLog
    from keymanager.services.rollups import rollup_usage

    started = time.monotonic()
    fill(args.rows, args.runs)
    rollup_usage()
    print(f"{UsageLog.objects.count():,} usage rows, filled and rolled up in {time.monotonic() - started:.0f} s")
    client = Client()
    timed(client, "/metrics", token, 3)  # warm: imports, connection, plans
    metrics = timed(client, "/metrics", token, args.scrapes)
    status = timed(client, "/api/status", token, args.scrapes)
    body = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}").content
    lines = body.count(b"\n")
    print(f"/metrics:    median {statistics.median(metrics):6.1f} ms  p95 {percentile(metrics, 0.95):6.1f} ms  "
          f"({len(body):,} bytes, {lines:,} lines)")
    print(f"/api/status: median {statistics.median(status):6.1f} ms  p95 {percentile(status, 0.95):6.1f} ms  (baseline)")


if __name__ == "__main__":
    main()
