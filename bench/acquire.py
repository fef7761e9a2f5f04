"""Key selection overhead as the usage log grows: acquire + record cycles against `SELECT 1`.

One cycle is what the pool adds to every LLM call: `selection.acquire` (one read, one
compare-and-swap on a budget row) and `outcomes.record_success` (the usage-log row, one append
to the budget's inbox), with no HTTP in between. Workers are OS processes; each runs for
--seconds. In the same run each worker also times bare `SELECT 1` round trips on its own
connection: the floor of any database work, the baseline the targets are ratios of.

The usage log is filled with --history rows (created in the last 24 hours, spread over the
keys) before each step, growing from one step to the next, so the same database shows what
history costs. Budgets are set (ceilings far above the load), as with real Groq keys.

    .venv/bin/python bench/acquire.py                            # PostgreSQL and SQLite
    .venv/bin/python bench/acquire.py --db postgres --history 0,100000,1000000,10000000
    .venv/bin/python bench/acquire.py --db sqlite --workers 1,4 --seconds 5 --history 0,100000
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import configure_environment, create_database, percentile, setup_django  # noqa: E402

MODEL = "openai/gpt-oss-20b"
ORGS = 4
BIG = {"rpm": 10**6, "rpd": 10**8, "tpm": 10**9, "tpd": 2 * 10**9}


def prepare() -> None:
    setup_django()
    from django.db import connections

    from keymanager.services.ceilings import limit_set
    from keymanager.services.keys import key_add
    from keymanager.testing.groqstub import make_key

    for n in range(ORGS):
        key_add(provider="groq", name=f"key-{n}", secret=make_key(), organization=f"org_{n}")
    limit_set(provider="groq", model=MODEL, **BIG)
    connections.close_all()


def fill_history(db: str, total: int) -> float:
    """Grow the usage log to `total` rows within the last 24 hours; returns seconds taken."""
    setup_django()
    from django.db import connection

    from keymanager.models import Key, UsageLog

    have = UsageLog.objects.count()
    if total <= have:
        return 0.0
    started = time.monotonic()
    keys = list(Key.objects.values_list("pk", "organization"))
    table = UsageLog._meta.db_table
    with connection.cursor() as cursor:
        for key_id, org in keys:
            n = (total - have) // len(keys)
            if db == "postgres":
                cursor.execute(
                    f"""INSERT INTO {table} (request_id, key_id, provider, organization, model, purpose, outcome,
                        http_status, error_code, prompt_tokens, completion_tokens, total_tokens, budget_tokens,
                        latency_ms, attempt, created_at, finished_at)
                    SELECT gen_random_uuid(), %s, 'groq', %s, %s, 'bench-history', 'success', 200, '', 60, 140,
                        200, 200, 300, 1, now() - (g %% 86000) * interval '1 second',
                        now() - (g %% 86000) * interval '1 second'
                    FROM generate_series(1, %s) AS g""",
                    [key_id, org, MODEL, n],
                )
            else:
                cursor.execute(
                    f"""WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < %s)
                    INSERT INTO {table} (request_id, key_id, provider, organization, model, purpose, outcome,
                        http_status, error_code, prompt_tokens, completion_tokens, total_tokens, budget_tokens,
                        latency_ms, attempt, created_at, finished_at)
                    SELECT lower(hex(randomblob(16))), %s, 'groq', %s, %s, 'bench-history', 'success', 200, '', 60,
                        140, 200, 200, 300, 1,
                        strftime('%%Y-%%m-%%d %%H:%%M:%%f', 'now', '-' || (i %% 86000) || ' seconds'),
                        strftime('%%Y-%%m-%%d %%H:%%M:%%f', 'now', '-' || (i %% 86000) || ' seconds')
                    FROM g""",
                    [n, key_id, org, MODEL],
                )
        if db == "postgres":
            cursor.execute(f"ANALYZE {table}")
        else:
            cursor.execute("ANALYZE")
    connection.close()
    return time.monotonic() - started


def worker(seconds: float, barrier, results) -> None:
    setup_django()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from keymanager.conf import pool_settings
    from keymanager.services.headers import RateLimitHeaders
    from keymanager.services.leases import Ask, NoKey
    from keymanager.services.outcomes import record_success
    from keymanager.services.providers import CallResult
    from keymanager.services.selection import acquire

    conf = pool_settings()
    result = CallResult("ok", MODEL, 20, 10, 30, RateLimitHeaders(), 1)

    def cycle() -> bool:
        lease = acquire(Ask(provider="groq", model=MODEL, prompt_count=100, max_tokens=200, strategy=conf.strategy,
                            request_id=uuid.uuid4(), attempt=1, max_wait=20.0))
        if isinstance(lease, NoKey):
            return False
        record_success(lease, result)
        return True

    connection.ensure_connection()
    for _ in range(8):  # warm: every key stamped, every budget row in place
        cycle()
    with CaptureQueriesContext(connection) as captured:
        for _ in range(20):
            cycle()
    queries = len(captured.captured_queries) / 20
    cycles, floor, misses = [], [], 0
    barrier.wait()  # every worker has started Django and connected: start together
    end = time.time() + seconds
    while time.time() < end:
        t0 = time.perf_counter()
        if not cycle():
            misses += 1
        cycles.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        floor.append(time.perf_counter() - t0)
    connection.close()
    results.put((cycles, floor, misses, queries))


def run(workers: int, seconds: float) -> dict:
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(workers), ctx.Queue()
    procs = [ctx.Process(target=worker, args=(seconds, barrier, results)) for _ in range(workers)]
    for proc in procs:
        proc.start()
    parts = [results.get() for _ in procs]
    for proc in procs:
        proc.join()
    cycles = [c for part in parts for c in part[0]]
    floor = [f for part in parts for f in part[1]]
    return {
        "workers": workers,
        "cycles_per_s": len(cycles) / seconds,
        "p50_ms": percentile(cycles, 0.5) * 1000,
        "p99_ms": percentile(cycles, 0.99) * 1000,
        "floor_p50_ms": percentile(floor, 0.5) * 1000,
        "floor_p99_ms": percentile(floor, 0.99) * 1000,
        "misses": sum(part[2] for part in parts),
        "queries": max(part[3] for part in parts),
    }


def in_fresh_process(fn, *args):
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:  # Django's settings are read once per process
        return pool.apply(fn, args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="postgres,sqlite")
    parser.add_argument("--workers", default="1,4,16")
    parser.add_argument("--history", default="0,100000,1000000,10000000",
                        help="usage-log rows in the last 24 h, one step each (growing)")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    rows = []
    for db in args.db.split(","):
        configure_environment(db, name="cosmosquest_bench_acquire")
        create_database(db)
        in_fresh_process(prepare)
        for history in (int(h) for h in args.history.split(",")):
            took = in_fresh_process(fill_history, db, history)
            print(f"... {db}: usage log at {history:,} rows (filled in {took:.0f} s)", flush=True)
            for workers in (int(w) for w in args.workers.split(",")):
                print(f"... {db} {history:,} rows, {workers} workers", flush=True)
                rows.append({"db": db, "history": history, **run(workers, args.seconds)})
    print(f"\nacquire + record cycles, {args.seconds:.0f} s per row, cores={os.cpu_count()}")
    head = (
        f"{'db':9} {'log rows':>10} {'workers':>7} {'cycles/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'SELECT1 p50':>11} "
        f"{'SELECT1 p99':>11} {'p99/floor p99':>13} {'queries':>7} {'misses':>6}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['db']:9} {r['history']:>10,} {r['workers']:>7} {r['cycles_per_s']:>9.0f} {r['p50_ms']:>7.2f} "
            f"{r['p99_ms']:>7.2f} {r['floor_p50_ms']:>11.3f} {r['floor_p99_ms']:>11.3f} "
            f"{r['p99_ms'] / r['floor_p99_ms']:>13.1f} {r['queries']:>7.1f} {r['misses']:>6}"
        )
    # The targets of issue 9, as ratios within this run.
    for db in {r["db"] for r in rows}:
        mine = [r for r in rows if r["db"] == db]
        base = {r["workers"]: r for r in mine if r["history"] == min(x["history"] for x in mine)}
        top = {r["workers"]: r for r in mine if r["history"] == max(x["history"] for x in mine)}
        for w in sorted(base):
            ratio = top[w]["p50_ms"] / base[w]["p50_ms"]
            print(f"{db}: {w} worker(s): p50 at {max(x['history'] for x in mine):,} rows is {ratio:.2f}x "
                  f"the p50 at {min(x['history'] for x in mine):,}")


if __name__ == "__main__":
    main()
