"""The pool's second core against the stand-in: constant cost, reservations across processes,
limits and organizations learned from the provider, never told."""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
import time
import uuid

import pytest
from django.db import connection, transaction
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from model_bakery import baker

from keymanager.ledger import MINUTE, REFUSAL, Ledger
from keymanager.models import Budget, Key, OrganizationChange, OrganizationSource, UsageLog
from keymanager.selectors import budget_usage
from keymanager.services import PoolExhausted, acomplete, complete
from keymanager.services.keys import key_add, keys_import_env
from keymanager.services.leases import Ask
from keymanager.services.selection import acquire
from keymanager.testing.groqstub import GroqStub
from tests.conftest import MODEL, make_secret
from tests.workers import reserve_in_turn

pytestmark = pytest.mark.django_db(transaction=True)
MESSAGES = [{"role": "user", "content": "Name a ring of Saturn."}]
ROOMY = {"rpm": 10_000, "rpd": 10**6, "tpm": 10**8, "tpd": 10**9}


def served_and_refused(stub: GroqStub) -> tuple[int, int]:
    by_status = stub.stats()["by_status"]
    return by_status.get("200", 0), by_status.get("429", 0)


def test_a_call_costs_three_round_trips_whatever_the_usage_log_holds(pool_factory):
    pool_factory(orgs=3, limits=ROOMY)
    for _ in range(3):
        complete(messages=MESSAGES, max_tokens=20)  # budgets exist, keys stamped: the fast path from here
    with CaptureQueriesContext(connection) as empty:
        complete(messages=MESSAGES, max_tokens=20)
    baker.make(UsageLog, _quantity=5000, provider="groq", organization="org_a", model=MODEL, outcome="success")
    complete(messages=MESSAGES, max_tokens=20)  # (refreshes the few-seconds "any OpenAI key?" check)
    with CaptureQueriesContext(connection) as full:
        complete(messages=MESSAGES, max_tokens=20)
    # One read, one compare-and-swap, and the usage row with the append to the budget's inbox:
    # one statement on PostgreSQL, two on SQLite (no data-modifying WITH there).
    most = 3 if connection.vendor == "postgresql" else 4
    assert len(empty.captured_queries) == len(full.captured_queries) <= most, [q["sql"][:80] for q in full]
    assert not any("keymanager_usagelog" in q["sql"] and q["sql"].lstrip().startswith("SELECT") for q in full)


def test_a_missing_budget_row_is_created_again_not_believed_in(pool_factory):
    pool = pool_factory(orgs=1, limits=ROOMY)
    complete(messages=MESSAGES, max_tokens=20)
    Budget.objects.all().delete()  # e.g. the transaction that created it rolled back
    assert complete(messages=MESSAGES, max_tokens=20).key_id == pool.keys[0].pk
    assert Budget.objects.count() == 1


def test_reservations_are_served_in_arrival_order_across_processes(pool_factory, settings):
    pool = pool_factory(orgs=1, limits={**ROOMY, "rpm": 1})
    complete(messages=MESSAGES, max_tokens=20)  # the minute is full now
    ctx = multiprocessing.get_context("spawn")
    overrides = {"GROQ_BASE_URL": pool.stub.url, "KEYMANAGER": settings.KEYMANAGER}
    results = ctx.Queue()
    workers, dones = [], []
    readies, go = [], ctx.Event()
    for n in range(4):
        ready, done = ctx.Event(), ctx.Event()
        before = dones[-1] if dones else None
        proc = ctx.Process(target=reserve_in_turn, daemon=True,
                           args=(connection.settings_dict["NAME"], overrides, ready, go, before, done, results, n))
        proc.start()
        workers.append(proc)
        readies.append(ready)
        dones.append(done)
    assert all(r.wait(90) for r in readies)
    go.set()  # each worker reserves right after the one before it: arrival order 0, 1, 2, 3
    slots = dict(results.get(timeout=90) for _ in workers)
    for proc in workers:
        proc.join(30)
    order = [slots[n] for n in range(4)]
    assert all(s is not None for s in order)
    # 1 RPM: each later caller gets the next minute, in the order they came.
    gaps = [b - a for a, b in zip(order, order[1:], strict=False)]
    assert all(MINUTE <= g <= MINUTE + 1 for g in gaps), gaps
    assert pool.stub.stats()["requests"] == 1  # reserving sends nothing


def test_a_call_whose_slot_lies_beyond_its_wait_is_refused_at_once(pool_factory):
    pool_factory(orgs=1, limits={**ROOMY, "rpm": 1})
    complete(messages=MESSAGES, max_tokens=20)
    started = time.monotonic()
    with pytest.raises(PoolExhausted) as info:
        complete(messages=MESSAGES, max_tokens=20)
    assert time.monotonic() - started < 0.5  # not after waiting its 3 s budget out
    assert MINUTE - 2 < info.value.retry_after <= MINUTE + 1


def test_a_call_waits_for_its_reserved_slot_then_sends(pool_factory, settings):
    settings.KEYMANAGER = {**settings.KEYMANAGER, "wait_budget": 5.0}
    pool = pool_factory(orgs=1, limits={**ROOMY, "rpm": 1})
    lease = acquire(Ask(provider="groq", model=MODEL, prompt_count=50, max_tokens=0, request_id=uuid.uuid4(),
                        attempt=1, max_wait=1.0))
    # Pretend that admission was 58 s ago: move it in the ledger, as if time had passed.
    budget = Budget.objects.get()
    ledger = Ledger.loads(budget.state)
    ledger.minute.slices = {s - int(58 / ledger.minute.width): v for s, v in ledger.minute.slices.items()}
    Budget.objects.filter(pk=budget.pk).update(state=ledger.dumps(), version=budget.version + 1)
    started = time.monotonic()
    result = complete(messages=MESSAGES, max_tokens=20)
    waited = time.monotonic() - started
    assert result.key_id == lease.key_id and 1.5 < waited < 4.5
    assert pool.stub.stats()["by_status"].get("429", 0) == 0


def test_limits_are_learned_from_headers_and_429s_without_being_told(settings, caplog):
    settings.KEYMANAGER = {**settings.KEYMANAGER, "wait_budget": 1.0}
    key = make_secret()
    # The stand-in's limits are not the shipped guesses, and the pool is told none of them.
    with GroqStub(orgs={"org_x": {"keys": [key], "limits": {MODEL: {"rpm": 5, "rpd": 2000, "tpm": 12_000}}}}) as stub:
        settings.GROQ_BASE_URL = stub.url
        key_add(provider="groq", name="k", secret=key)
        outcomes = []
        for _ in range(9):
            try:
                complete(messages=MESSAGES, max_tokens=20)
                outcomes.append("served")
            except PoolExhausted:
                outcomes.append("exhausted")
        served, refused = served_and_refused(stub)
    assert outcomes == ["served"] * 5 + ["exhausted"] * 4
    assert (served, refused) == (5, 1)  # one 429 taught it; the rest were refused locally
    usage = budget_usage(Budget.objects.get())
    limits = usage.limits
    assert (limits["rpm"].value, limits["rpm"].source) == (5, REFUSAL)
    assert (limits["tpm"].value, limits["tpm"].source) == (12_000, "header")
    assert (limits["rpd"].value, limits["rpd"].source) == (2000, "header")
    assert (limits["tpd"].value, limits["tpd"].source) == (200_000, "default")
    assert any("429" in r.getMessage() and "RPM limit 5" in r.getMessage() for r in caplog.records)


def test_a_guess_below_the_real_limit_is_probed_past_one_call_at_a_time(settings):
    settings.KEYMANAGER = {**settings.KEYMANAGER, "wait_budget": 1.0}
    key = make_secret()
    with GroqStub(orgs={"org_x": {"keys": [key], "limits": {MODEL: {"rpm": 36}}}}) as stub:
        settings.GROQ_BASE_URL = stub.url
        key_add(provider="groq", name="k", secret=key)
        results = []
        for _ in range(40):
            try:
                complete(messages=MESSAGES, max_tokens=20)
                results.append(1)
            except PoolExhausted:
                results.append(0)
        served, refused = served_and_refused(stub)
    # The shipped guess is 30 RPM; the organization really has 36: all of it is used, and the
    # one request past it is the 429 that states the limit.
    assert served == sum(results) == 36 and refused == 1
    assert budget_usage(Budget.objects.get()).limits["rpm"].value == 36


@pytest.mark.parametrize(("other_rpd", "expected_429s"), [(2000, 1), (14_400, 2)])
def test_one_429_teaches_every_organization_on_the_same_published_limits(settings, other_rpd, expected_429s):
    settings.KEYMANAGER = {**settings.KEYMANAGER, "wait_budget": 1.0}
    first, second = make_secret(), make_secret()
    orgs = {
        "org_a": {"keys": [first], "limits": {MODEL: {"rpm": 5, "rpd": 2000, "tpm": 12_000}}},
        "org_b": {"keys": [second], "limits": {MODEL: {"rpm": 5, "rpd": other_rpd, "tpm": 12_000}}},
    }
    with GroqStub(orgs=orgs) as stub:
        settings.GROQ_BASE_URL = stub.url
        keys_import_env({"GROQ_API_KEY": first, "GROQ_API_KEY2": second})
        served = 0
        for _ in range(14):
            try:
                complete(messages=MESSAGES, max_tokens=20)
                served += 1
            except PoolExhausted:
                pass
        assert served_and_refused(stub) == (served, expected_429s)
    # Both organizations' full minute is used either way; on the same published limits the
    # first organization's 429 speaks for the second, whose headers say it is another tier.
    assert served == 10


def test_keys_found_to_share_an_organization_are_merged_into_one_budget(settings, caplog):
    settings.KEYMANAGER = {**settings.KEYMANAGER, "wait_budget": 1.0}
    first, second = make_secret(), make_secret()
    with GroqStub(orgs={"org_real": {"keys": [first, second], "limits": {MODEL: {"rpm": 4}}}}) as stub:
        settings.GROQ_BASE_URL = stub.url
        keys_import_env({"GROQ_API_KEY": first, "GROQ_API_KEY2": second})  # each assumed its own
        assert Key.objects.values("organization").distinct().count() == 2
        for _ in range(10):
            try:
                complete(messages=MESSAGES, max_tokens=20)
            except PoolExhausted:
                pass
        served, refused = served_and_refused(stub)
    keys = list(Key.objects.all())
    assert {k.organization for k in keys} == {"org_real"}
    assert {k.organization_source for k in keys} == {OrganizationSource.PROVIDER}
    assert OrganizationChange.objects.filter(to_organization="org_real").count() == 2
    assert list(Budget.objects.values_list("organization", flat=True)) == ["org_real"]
    assert served == 4 and refused <= 2  # each key's first 429 named the organization; none after
    assert any(r.levelname == "WARNING" and "org_real" in r.getMessage() for r in caplog.records)


def test_an_operator_can_state_the_organization_up_front(settings):
    first, second = make_secret(), make_secret()
    keys_import_env({"GROQ_API_KEY": first, "GROQ_API_KEY2": second, "GROQ_API_KEY2_ORG": "org_real",
                     "GROQ_API_KEY_ORG": "org_real"})
    assert set(Key.objects.values_list("organization", "organization_source")) == {
        ("org_real", OrganizationSource.OPERATOR)
    }
    # Stating it later merges what the pool already counted.
    third = key_add(provider="groq", name="late", secret=make_secret())
    from django.core.management import call_command

    call_command("keys", "set-org", str(third.pk), "org_real")
    third.refresh_from_db()
    assert (third.organization, third.organization_source) == ("org_real", OrganizationSource.OPERATOR)
    assert OrganizationChange.objects.filter(key=third, source=OrganizationSource.OPERATOR).exists()


@pytest.mark.parametrize("limiter", ["rolling", "bucket"])
def test_threads_never_overrun_either_limiter(settings, limiter):
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    settings.KEYMANAGER = {**settings.KEYMANAGER, "wait_budget": 1.5}
    keys = [make_secret() for _ in range(2)]
    orgs = {f"org_{n}": {"keys": [k], "limits": {MODEL: {"rpm": 6}}} for n, k in enumerate(keys)}
    with GroqStub(orgs=orgs, limiter=limiter, latency=0.05) as stub:
        settings.GROQ_BASE_URL = stub.url
        for n, k in enumerate(keys):
            key_add(provider="groq", name=f"k{n}", secret=k, organization=f"org_{n}")
        baker.make("keymanager.Limit", provider="groq", organization="", model=MODEL, rpm=6)

        def one(i):
            try:
                complete(messages=[{"role": "user", "content": f"call {i}"}], max_tokens=20)
                return 1
            except PoolExhausted:
                return 0
            finally:
                connections.close_all()

        with ThreadPoolExecutor(6) as threads:
            served = sum(threads.map(one, range(30)))
        ok, refused = served_and_refused(stub)
    assert served == ok == 12 and refused == 0


def test_the_compiled_read_returns_what_the_orm_query_does(pool_factory):
    from django.utils import timezone

    from keymanager.services.outcomes import cool_down
    from keymanager.services.pool_read import pool_queryset, read_pool

    pool = pool_factory(orgs=3, keys_per_org=2)
    complete(messages=MESSAGES, max_tokens=20)
    cool_down(provider="groq", key_id=pool.keys[0].pk, reason="errors", seconds=30)
    cool_down(provider="groq", organization=pool.keys[2].organization, model=MODEL, reason="rate_limit", seconds=90)
    cool_down(provider="groq", organization=pool.keys[4].organization, model="other-model", reason="rate_limit",
              seconds=90)
    Key.objects.filter(pk=pool.keys[5].pk).update(enabled=False)
    expected = list(pool_queryset("groq", MODEL, timezone.now()))
    got = read_pool("groq", MODEL)
    assert got == expected and len(got) == 5
    assert got[0]["key_cooling"] is not None and got[2]["org_cooling"] is not None
    assert got[4]["org_cooling"] is None  # a cooldown on another model does not hold it


def test_the_dashboard_card_shows_what_the_provider_last_reported(pool_factory, admin_client):
    from django.urls import reverse

    pool_factory(orgs=1)
    complete(messages=MESSAGES, max_tokens=20)
    usage = budget_usage(Budget.objects.get())
    html = admin_client.get(reverse("api-dashboard")).content.decode()
    assert f"{usage.reported_remaining_requests:,} req · {usage.reported_remaining_tokens:,} tok" in html


def test_acomplete_serves_async_callers_without_blocking_their_event_loop(settings):
    key = make_secret()
    with GroqStub(orgs={"org_x": {"keys": [key], "limits": {MODEL: ROOMY}}}, latency=0.4) as stub:
        settings.GROQ_BASE_URL = stub.url
        key_add(provider="groq", name="k", secret=key)
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.02)
                ticks += 1

        async def main():
            ticker = asyncio.create_task(tick())
            try:
                return await acomplete(messages=MESSAGES, max_tokens=20)
            finally:
                ticker.cancel()

        result = asyncio.run(main())
        served, _ = served_and_refused(stub)
    assert result.text and result.provider == "groq" and served == 1
    assert ticks >= 5  # the loop ran on through the 0.4 s reply (blocked, it would not tick at all)
    assert UsageLog.objects.filter(outcome="success").count() == 1


def test_a_lost_compare_and_swap_makes_this_process_spread_over_equal_organizations(pool_factory):
    """A worker whose write lost to another's stops choosing the row everyone reads as best."""
    from keymanager.services import selection

    pool_factory(orgs=1, limits=ROOMY)
    acquire(Ask(provider="groq", model=MODEL, prompt_count=100, max_tokens=0, request_id=uuid.uuid4(), attempt=1,
                max_wait=5.0))  # the budget row exists
    selection._spread_until = 0.0
    budget = Budget.objects.get()
    locked, release = threading.Event(), threading.Event()

    def other_worker() -> None:
        # Another process writes the row while this one is between its read and its write.
        with transaction.atomic():
            Budget.objects.select_for_update().filter(pk=budget.pk).update(version=F("version") + 1)
            locked.set()
            release.wait(5)
        connection.close()

    thread = threading.Thread(target=other_worker)
    thread.start()
    locked.wait(5)
    threading.Timer(0.5, release.set).start()
    lease = acquire(Ask(provider="groq", model=MODEL, prompt_count=100, max_tokens=0, request_id=uuid.uuid4(),
                        attempt=1, max_wait=5.0))
    thread.join()
    assert not isinstance(lease, selection.NoKey)  # it still got on, under the row's lock
    assert selection._spread_until > time.time()
    selection._spread_until = 0.0


def test_while_spreading_equal_organizations_are_chosen_at_random_else_least_recent_first(monkeypatch):
    from keymanager.ledger import Fit
    from keymanager.services import selection

    def org(name: str, used_at: float, room: float):
        o = selection._Org(name=name, budget_id=1, version=1, inbox_len=0, ledger=Ledger(), keys=[], org_cooling=0)
        key = {"pk": hash(name) % 1000, "order": 1, "key_cooling": None}
        o.keys, o.fit = [key], Fit(at=0.0, headroom=room)
        o.ledger.lru[key["pk"]] = used_at
        return o

    orgs = [org("a", 1.0, 0.9), org("b", 2.0, 0.9), org("c", 3.0, 0.9), org("d", 0.0, 0.5)]
    monkeypatch.setattr(selection, "_spread_until", 0.0)
    assert {selection._choose(orgs, None, 10.0).name for _ in range(40)} == {"a"}
    monkeypatch.setattr(selection, "_spread_until", 11.0)
    assert {selection._choose(orgs, None, 10.0).name for _ in range(200)} == {"a", "b", "c"}  # never d
