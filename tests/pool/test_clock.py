"""One clock for every host: slots and windows are times on the database's clock, so hosts whose
own clocks are seconds apart never put more into a window than it allows; and reservations
made at the same instant by many processes get distinct slots in first-come order."""

from __future__ import annotations

import multiprocessing
import time

import pytest
from django.db import connection

from keymanager import clock
from keymanager.services import complete
from tests.conftest import MODEL
from tests.workers import call_with_clock_off, reserve_at_once

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.slow]
ROOMY = {"rpm": 10_000, "rpd": 10**6, "tpm": 10**8, "tpd": 10**9}


def test_the_pools_clock_is_the_databases_whatever_this_hosts_says(monkeypatch):
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 30.0)  # this host runs 30 s fast
    clock.forget()
    try:
        assert abs(clock.now() - real()) < 0.5
    finally:
        monkeypatch.undo()
        clock.forget()


def test_hosts_whose_clocks_are_seconds_apart_never_overfill_a_window(pool_factory, settings):
    settings.KEYMANAGER = {**settings.KEYMANAGER, "wait_budget": 70.0}
    pool = pool_factory(orgs=1, limits={**ROOMY, "rpm": 2})
    overrides = {"GROQ_BASE_URL": pool.stub.url, "KEYMANAGER": settings.KEYMANAGER}
    ctx = multiprocessing.get_context("spawn")
    start = time.time() + 8.0
    name = connection.settings_dict["NAME"]
    # The host 1.5 s behind fills the minute first; the one 1.5 s ahead comes next, and on its own
    # clock would send 3 s too early, into the same minute as seen by the provider.
    with ctx.Pool(2) as hosts:
        behind = hosts.apply_async(call_with_clock_off, (name, overrides, -1.5, start, 2, 0))
        ahead = hosts.apply_async(call_with_clock_off, (name, overrides, +1.5, start + 2.0, 2, 1))
        results = [behind.get(150), ahead.get(150)]
    stats = pool.stub.stats()
    assert [r["served"] for r in results] == [2, 2]
    assert stats["by_status"].get("429", 0) == 0 and stats["over_budget"] == 0
    assert stats["by_org"]["org_a"][MODEL]["max_rpm_seen"] == 2


def test_reservations_made_at_the_same_instant_get_distinct_slots_in_order(pool_factory, settings):
    pool = pool_factory(orgs=1, limits={**ROOMY, "rpm": 2})
    complete(messages=[{"role": "user", "content": "x"}], max_tokens=20)
    complete(messages=[{"role": "user", "content": "y"}], max_tokens=20)  # the minute is full
    ctx = multiprocessing.get_context("spawn")
    overrides = {"GROQ_BASE_URL": pool.stub.url, "KEYMANAGER": settings.KEYMANAGER}
    results, go = ctx.Queue(), ctx.Event()
    readies, workers = [], []
    for n in range(8):
        ready = ctx.Event()
        proc = ctx.Process(target=reserve_at_once, daemon=True,
                           args=(connection.settings_dict["NAME"], overrides, ready, go, results, n))
        proc.start()
        readies.append(ready)
        workers.append(proc)
    assert all(r.wait(90) for r in readies)
    go.set()  # all eight race for the same row at once
    got = [results.get(timeout=90) for _ in workers]
    for proc in workers:
        proc.join(30)
    slots = sorted(slot for _, _, slot in got)
    assert all(slot is not None for slot in slots)
    # Two a minute, eight callers: four minutes, each holding two, none wasted, none overfilled.
    first = slots[0]
    for i, slot in enumerate(slots):
        assert first + (i // 2) * 60.0 - 1.0 <= slot <= first + (i // 2) * 60.6 + 1.0, slots
    # Whoever committed first got the earlier slot.
    by_commit = [slot for _, _, slot in sorted(got, key=lambda r: r[1])]
    assert all(b >= a - 0.5 for a, b in zip(by_commit, by_commit[1:], strict=False)), got
    assert pool.stub.stats()["requests"] == 2  # reserving sends nothing
