"""Key selection overhead: acquire + record cycles against the floor of a bare `SELECT 1`.

One cycle is what the pool adds to every LLM call: the locked choose-and-stamp transaction
(`selection.acquire`) and the write of the result (`outcomes.record_success`), with no HTTP in
between. Workers are OS processes; each runs for --seconds. In the same run each worker also
times bare `SELECT 1` round trips on its own connection: the floor of any database work.

Two budget settings: `counted` (limits set, so every acquire aggregates the sliding windows
of the usage log, as with Groq keys) and `unlimited` (no limits, as with OpenAI keys).

    .venv/bin/python bench/acquire.py                   # PostgreSQL and SQLite, 1/4/16 workers
    .venv/bin/python bench/acquire.py --db postgres --workers 16 --seconds 5
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


def prepare(limits: str) -> None:
    setup_django()
    from django.db import connections

    from keymanager.models import Limit
    from keymanager.services.keys import key_add
    from keymanager.testing.groqstub import make_key

    for n in range(ORGS):
        org = f"org_{n}"
        key_add(provider="groq", name=f"key-{n}", secret=make_key(), organization=org)
        values = BIG if limits == "counted" else {"rpm": None, "rpd": None, "tpm": None, "tpd": None}
        Limit.objects.update_or_create(provider="groq", organization=org, model=MODEL, defaults=values)
    connections.close_all()


def worker(seconds: float, barrier, results) -> None:
    setup_django()
    from django.db import connection

    from keymanager.services.config import pool_settings
    from keymanager.services.headers import RateLimitHeaders
    from keymanager.services.outcomes import record_success
    from keymanager.services.providers import CallResult
    from keymanager.services.selection import NoKey, acquire

    conf = pool_settings()
    result = CallResult("ok", MODEL, 20, 10, 30, RateLimitHeaders(), 1)
    cycles, floor, misses = [], [], 0
    connection.ensure_connection()
    barrier.wait()  # every worker has started Django and connected: start together
    end = time.time() + seconds
    while time.time() < end:
        t0 = time.perf_counter()
        lease = acquire(
            provider="groq", model=MODEL, tokens=300, strategy=conf.strategy, request_id=uuid.uuid4(), attempt=1
        )
        if isinstance(lease, NoKey):
            misses += 1
        else:
            record_success(lease, result)
        cycles.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        floor.append(time.perf_counter() - t0)
    connection.close()
    results.put((cycles, floor, misses))


def run(db: str, limits: str, workers: int, seconds: float) -> dict:
    create_database(db)
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:  # a fresh process: Django's settings are read once per process
        pool.apply(prepare, (limits,))
    barrier, results = ctx.Barrier(workers), ctx.Queue()
    procs = [ctx.Process(target=worker, args=(seconds, barrier, results)) for _ in range(workers)]
    for proc in procs:
        proc.start()
    parts = [results.get() for _ in procs]
    for proc in procs:
        proc.join()
    cycles = [c for part in parts for c in part[0]]
    floor = [f for part in parts for f in part[1]]
    misses = sum(part[2] for part in parts)
    return {
        "db": db,
        "limits": limits,
        "workers": workers,
        "cycles_per_s": len(cycles) / seconds,
        "p50_ms": percentile(cycles, 0.5) * 1000,
        "p99_ms": percentile(cycles, 0.99) * 1000,
        "floor_p50_ms": percentile(floor, 0.5) * 1000,
        "floor_p99_ms": percentile(floor, 0.99) * 1000,
        "misses": misses,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="postgres,sqlite")
    parser.add_argument("--workers", default="1,4,16")
    parser.add_argument("--limits", default="counted,unlimited")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    rows = []
    for db in args.db.split(","):
        configure_environment(db, name="cosmosquest_bench_acquire")
        for limits in args.limits.split(","):
            for workers in (int(w) for w in args.workers.split(",")):
                print(f"... {db} {limits} {workers} workers", flush=True)
                rows.append(run(db, limits, workers, args.seconds))
    print(f"\nacquire + record cycles, {args.seconds:.0f} s per row, cores={os.cpu_count()}")
    head = (
        f"{'db':9} {'limits':10} {'workers':>7} {'cycles/s':>9} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'SELECT1 p50':>11} {'SELECT1 p99':>11} {'p99/floor p99':>13} {'misses':>6}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['db']:9} {r['limits']:10} {r['workers']:>7} {r['cycles_per_s']:>9.0f} {r['p50_ms']:>7.2f} "
            f"{r['p99_ms']:>7.2f} {r['floor_p50_ms']:>11.3f} {r['floor_p99_ms']:>11.3f} "
            f"{r['p99_ms'] / r['floor_p99_ms']:>13.1f} {r['misses']:>6}"
        )


if __name__ == "__main__":
    main()
