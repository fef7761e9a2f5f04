"""Crashes and sharing across OS processes: a worker SIGKILL'd in the middle of a call leaves no
stuck key or reservation, and two worker processes (as gunicorn runs them) share a cooldown the
moment one of them records it. Workers are spawned and use the test database."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time

import pytest
from django.db import connection

from keymanager.models import Budget, Cooldown, Key, Outcome, UsageLog
from keymanager.selectors import budget_usage
from keymanager.services import PoolExhausted, complete
from tests.pool.test_reliability_workers import call_forever, serve_when_told

MODEL = "openai/gpt-oss-20b"
ROOMY = {"rpm": 1000, "rpd": 100000, "tpm": 1000000, "tpd": 10000000}
MESSAGES = [{"role": "user", "content": "Name a moon of Jupiter."}]

pytestmark = pytest.mark.slow  # worker processes are spawned, each importing Django afresh


# --- helpers ---------------------------------------------------------------------------------


def spawn(target, *args) -> multiprocessing.Process:
    proc = multiprocessing.get_context("spawn").Process(target=target, args=args, daemon=True)
    proc.start()
    return proc


def wait_for(predicate, worker: multiprocessing.Process, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert worker.is_alive(), f"worker exited early with code {worker.exitcode}"
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def overrides_for(pool, settings, **pool_conf) -> dict:
    return {"GROQ_BASE_URL": pool.stub.url, "KEYMANAGER": {**settings.KEYMANAGER, **pool_conf}}


# --- tests -----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_call_leaves_only_an_admission_that_expires(pool_factory, settings):
    # The pool may send 2 requests a minute for this organization (the stand-in allows more).
    pool = pool_factory(orgs=1, limits={**ROOMY, "rpm": 2})
    pool.stub.enqueue({"sleep": 60})  # the first request hangs: the worker is inside the HTTP call
    worker = spawn(call_forever, connection.settings_dict["NAME"], overrides_for(pool, settings))
    wait_for(lambda: pool.stub.stats()["requests"] == 1, worker)
    os.kill(worker.pid, signal.SIGKILL)
    worker.join(timeout=30)
    assert worker.exitcode == -signal.SIGKILL

    # Nothing half-written: the attempt's row is written when it ends, and it never ended.
    assert not UsageLog.objects.exists()
    key = Key.objects.get()
    assert key.enabled and key.consecutive_errors == 0
    assert not Cooldown.objects.exists()
    # The dead worker's admission is in its organization's budget (Groq counted the request).
    assert budget_usage(Budget.objects.get()).requests_minute == 1

    # The key is not stuck: the next call is served at once, on the same key.
    assert complete(messages=MESSAGES, max_tokens=20).key_id == key.pk
    # A third call in the minute would go past 2 RPM: refused at once, saying when the dead
    # admission ages out of the minute.
    with pytest.raises(PoolExhausted) as exhausted:
        complete(messages=MESSAGES, max_tokens=20)
    assert 55 < exhausted.value.retry_after <= 61
    stats = pool.stub.stats()
    assert stats["requests"] == 2 and UsageLog.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_workers_killed_at_random_points_leave_the_pool_consistent(pool_factory, settings):
    pool = pool_factory(orgs=2, limits=ROOMY, latency=0.01)
    kills = 0
    for stop_after in (3, 11):  # kill points land in different phases of a call each time
        seen = pool.stub.stats()["requests"]
        worker = spawn(call_forever, connection.settings_dict["NAME"], overrides_for(pool, settings))
        wait_for(lambda seen=seen, stop_after=stop_after: pool.stub.stats()["requests"] >= seen + stop_after, worker)
        os.kill(worker.pid, signal.SIGKILL)
        worker.join(timeout=30)
        kills += 1

    # No lock outlives its process (PostgreSQL rolls the session back, SQLite's file lock goes
    # with the process): the next call is served.
    result = complete(messages=MESSAGES, max_tokens=20)
    assert result.attempts == 1
    stats = pool.stub.stats()
    rows = UsageLog.objects.count()
    print(f"\n[{connection.vendor}] {kills} kills: requests {stats['requests']}, rows {rows}")
    # Every finished request has its row; a kill during a call loses that one attempt's row
    # (its admission stays in the budget until it ages out), never more, and none is pending.
    assert stats["requests"] - kills <= rows <= stats["requests"]
    assert not UsageLog.objects.filter(outcome=Outcome.PENDING).exists()
    assert stats["over_budget"] == 0
    assert Key.objects.filter(enabled=True).count() == 2


@pytest.mark.django_db(transaction=True)
def test_two_worker_processes_share_a_cooldown_at_once(pool_factory, settings):
    # Quest-based rotation: quest 1 goes to the first key (org_a) whenever it can serve, so
    # worker B would send there unless it sees the cooldown worker A just recorded.
    pool = pool_factory(orgs=2, limits=ROOMY)
    first, second = pool.keys
    pool.stub.enqueue(
        {"status": 429, "headers": {"retry-after": "30"}, "body": {"error": {
            "message": f"Rate limit reached for model `{MODEL}` in organization `org_a` service tier `on_demand` "
                       "on requests per minute (RPM): Limit 30, Used 30, Requested 1. Please try again in 30s.",
            "type": "requests", "code": "rate_limit_exceeded"}}},
        key=pool.secrets[first.pk],
    )
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    overrides = overrides_for(pool, settings, strategy="quest")
    db_name = connection.settings_dict["NAME"]
    ready_a, go_a, ready_b, go_b = ctx.Event(), ctx.Event(), ctx.Event(), ctx.Event()
    worker_a = spawn(serve_when_told, db_name, overrides, ready_a, go_a, results, 1)
    worker_b = spawn(serve_when_told, db_name, overrides, ready_b, go_b, results, 5)
    assert ready_a.wait(90) and ready_b.wait(90)  # both up before any cooldown exists

    go_a.set()
    used_a = results.get(timeout=90)
    go_b.set()  # B starts the moment A is done: no wait for anything to expire or refresh
    used_b = results.get(timeout=90)
    worker_a.join(30)
    worker_b.join(30)

    # A met the 429 on the first key and was served by the second in the same call.
    assert used_a == [(second.pk, 2)]
    assert Cooldown.objects.filter(organization="org_a", key__isnull=True, model=MODEL).exists()
    # B never tried the cooled organization: every call served by the second key, first try.
    assert used_b == [(second.pk, 1)] * 5
    by_key = pool.stub.stats()["by_key"]
    assert by_key[pool.secrets[first.pk][-4:]]["requests"] == 1
    assert by_key[pool.secrets[second.pk][-4:]]["requests"] == 6
