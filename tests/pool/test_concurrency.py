"""Many threads and many OS processes choosing keys at once, with demand above the budgets.

The stand-in must see no request beyond any organization's budget (no 429 at all), and
the usage log must hold exactly one row per request the stand-in received.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections import Counter

import pytest
from django.db import connection, connections

from keymanager.models import Outcome, UsageLog
from tests.workers import call_pool

LIMITS = {"rpm": 10, "rpd": 1000, "tpm": 100000, "tpd": 1000000}


def check_budgets(stub, orgs: int, served: int) -> None:
    stats = stub.stats()
    assert stats["by_status"].get("429", 0) == 0, stats["by_status"]
    assert stats["over_budget"] == 0
    admitted = {org: models["openai/gpt-oss-20b"]["admitted"] for org, models in stats["by_org"].items()}
    assert all(n <= LIMITS["rpm"] for n in admitted.values()), admitted
    # Demand far above the budgets: every organization's minute is used to the full.
    assert served == sum(admitted.values()) == orgs * LIMITS["rpm"]
    assert UsageLog.objects.count() == stats["requests"]
    assert UsageLog.objects.filter(outcome=Outcome.SUCCESS).count() == served
    assert not UsageLog.objects.filter(outcome=Outcome.PENDING).exists()
    # Shown with `pytest -s`: the figures behind the assertions.
    print(
        f"\n[{connection.vendor}] served {served}, requests seen by the stand-in {stats['requests']}, "
        f"429s {stats['by_status'].get('429', 0)}, over budget {stats['over_budget']}, "
        f"usage-log rows {UsageLog.objects.count()}, admitted per organization {sorted(admitted.values())}"
    )


@pytest.mark.django_db(transaction=True)
def test_threads_never_overrun_a_budget(pool_factory, settings):
    settings.KEYMANAGER = {**settings.KEYMANAGER, "wait_budget": 0.5}
    pool = pool_factory(orgs=3, limits=LIMITS)
    results: Counter = Counter()
    lock = threading.Lock()

    def worker(n: int) -> None:
        from keymanager.services import PoolExhausted, complete

        try:
            for i in range(25):
                try:
                    complete(messages=[{"role": "user", "content": f"thread {n} call {i}"}], max_tokens=40)
                    outcome = "served"
                except PoolExhausted:
                    outcome = "exhausted"
                with lock:
                    results[outcome] += 1
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results["served"] + results["exhausted"] == 200
    print(f"\n8 threads x 25 calls: {dict(results)}")
    check_budgets(pool.stub, orgs=3, served=results["served"])


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_processes_never_overrun_a_budget(pool_factory, settings):
    # PostgreSQL: SKIP LOCKED row locks; SQLite (a file in tests): IMMEDIATE transactions.
    pool = pool_factory(orgs=4, limits=LIMITS)
    overrides = {
        "GROQ_BASE_URL": pool.stub.url,
        "KEYMANAGER": {**settings.KEYMANAGER, "wait_budget": 0.5},
    }
    db_name = connection.settings_dict["NAME"]
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(8) as procs:
        outcomes = procs.starmap(call_pool, [(db_name, overrides, 50, w) for w in range(8)])
    totals = Counter()
    for result in outcomes:
        totals.update({k: v for k, v in result.items() if k != "errors"})
    assert totals["other"] == 0, [r.get("errors") for r in outcomes]
    assert totals["served"] + totals["exhausted"] == 400
    print(f"\n8 processes x 50 calls: {dict(totals)}")
    check_budgets(pool.stub, orgs=4, served=totals["served"])
