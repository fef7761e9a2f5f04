"""Between a reservation and its slot, and after: a reserved call re-checks before it sends,
every refusal ends in a wait, nothing an absent caller held stays held, nothing is lost or
counted twice when organizations merge, and the budget's state stays bounded."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from django.db import connections

from keymanager import clock
from keymanager.models import Budget, Key, Limit, UsageLog
from keymanager.services import PoolExhausted, complete
from keymanager.services.budgets import ledger_of
from keymanager.services.headers import RateLimitHeaders
from keymanager.services.keys import key_disable, keys_import_env
from keymanager.services.leases import Ask, NoKey
from keymanager.services.organizations import key_move_organization
from keymanager.services.outcomes import cool_down, record_success
from keymanager.services.providers import CallResult
from keymanager.services.selection import acquire
from keymanager.testing.groqstub import GroqStub
from tests.conftest import MODEL, make_secret

pytestmark = pytest.mark.django_db(transaction=True)
MESSAGES = [{"role": "user", "content": "Name a moon of Uranus."}]
ROOMY = {"rpm": 10_000, "rpd": 10**6, "tpm": 10**8, "tpd": 10**9}


def ask(**fields) -> Ask:
    return Ask(**{"provider": "groq", "model": MODEL, "prompt_count": 20, "max_tokens": 100, "max_wait": 20.0,
                  "request_id": uuid.uuid4(), "attempt": 1, **fields})


def in_thread(work):
    box: dict = {}

    def run():
        try:
            box["result"] = work()
        except Exception as exc:  # noqa: BLE001 - handed to the test
            box["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, box


def requests_by_key(stub: GroqStub, key: Key, secret: str) -> int:
    return stub.stats()["by_key"].get(secret[-4:], {}).get("requests", 0)


@pytest.mark.parametrize("change", ["key disabled", "organization cooled"])
def test_a_reserved_call_is_not_sent_when_its_key_or_organization_changed_while_it_waited(pool_factory, settings,
                                                                                           change):
    settings.KEYMANAGER = {**settings.KEYMANAGER, "wait_budget": 6.0}
    pool = pool_factory(orgs=2, limits={**ROOMY, "rpm": 1})
    first, second = pool.keys
    complete(messages=MESSAGES, max_tokens=20)
    complete(messages=MESSAGES, max_tokens=20)  # both minutes full: the next call reserves a slot
    # Make one organization free up in 3 s and the other in 60 s: the call sleeps toward the first.
    for budget in Budget.objects.all():
        ledger = ledger_of(budget)
        ledger.minute.slices = {s - round(57 / ledger.minute.width): v for s, v in ledger.minute.slices.items()}
        Budget.objects.filter(pk=budget.pk).update(state=ledger.dumps(), inbox="", version=budget.version + 1)
        break
    soon = Key.objects.get(organization=budget.organization)
    sent_before = requests_by_key(pool.stub, soon, pool.secrets[soon.pk])
    thread, box = in_thread(lambda: complete(messages=MESSAGES, max_tokens=20))
    time.sleep(1.0)  # it is asleep, waiting for its slot
    if change == "key disabled":
        key_disable(key_id=soon.pk, reason="rotated")
    else:
        cool_down(provider="groq", organization=soon.organization, model=MODEL, reason="rate_limit", seconds=600)
    thread.join(10)
    # Its slot came, the re-check saw the change, and nothing was sent with that key.
    assert requests_by_key(pool.stub, soon, pool.secrets[soon.pk]) == sent_before
    assert isinstance(box.get("error"), PoolExhausted) or box["result"].key_id != soon.pk


def test_a_429_that_names_no_wait_is_not_hammered(pool_factory, settings):
    settings.KEYMANAGER = {**settings.KEYMANAGER, "wait_budget": 3.0}
    pool = pool_factory(orgs=1, limits={**ROOMY, "rpm": 1}, waits="none")
    complete(messages=MESSAGES, max_tokens=20)
    Budget.objects.update(state="", inbox="")  # the pool forgets its own count: only the 429s can stop it
    with pytest.raises(PoolExhausted):
        complete(messages=MESSAGES, max_tokens=20)
    # 1 s, then 2 s of backoff: at most three requests to the one key in a 3 s budget.
    assert pool.stub.stats()["requests"] - 1 <= 3


def test_a_dead_callers_max_tokens_and_a_dead_probers_hold_end_within_seconds(pool_factory, settings, monkeypatch):
    monkeypatch.setattr("keymanager.services.selection.REPORT_GRACE", 0.5)
    settings.KEYMANAGER = {**settings.KEYMANAGER, "request_timeout": 1.0}
    pool_factory(orgs=1, limits={**ROOMY, "tpm": 2000})
    # A caller admitted for 1,500 max tokens dies before sending.
    lease = acquire(ask(max_tokens=1500, request_timeout=1.0))
    assert not isinstance(lease, NoKey)
    held = ledger_of(Budget.objects.get()).used(clock.now())["tpm"]
    assert held >= 1500
    time.sleep(1.8)  # its slot + request timeout + grace
    lease2 = acquire(ask(max_tokens=1500, request_timeout=1.0))  # fits again: the dead admission's max tokens are back
    assert not isinstance(lease2, NoKey) and lease2.send_at - clock.now() < 0.5
    # A dead prober: admitted past a guess (30 RPM, shipped) and never reports; another call
    # may probe seconds later, not after a fixed half minute.
    Limit.objects.all().delete()
    Budget.objects.all().delete()
    for _ in range(30):
        assert not acquire(ask(prompt_count=10, max_tokens=10, request_timeout=1.0)).probe
    probe = acquire(ask(prompt_count=10, max_tokens=10, request_timeout=1.0))
    assert probe.probe
    assert isinstance(acquire(ask(prompt_count=10, max_tokens=10, max_wait=0.1)), NoKey)  # one probe at a time
    time.sleep(1.6)
    assert acquire(ask(prompt_count=10, max_tokens=10, request_timeout=1.0)).probe


def test_a_settle_follows_its_key_into_the_budget_its_organization_was_merged_into(pool_factory):
    pool = pool_factory(orgs=1, limits=ROOMY)
    key = pool.keys[0]
    lease = acquire(ask(max_tokens=900))
    # While the call is in flight, the provider names the key's real organization; no key is left
    # in the old one, so its budget (the admission included) is merged into the new one.
    key_move_organization(key_id=key.pk, organization="org_real", source="provider")
    assert list(Budget.objects.values_list("organization", flat=True)) == ["org_real"]
    assert ledger_of(Budget.objects.get()).used(clock.now())["tpm"] >= 920
    record_success(lease, CallResult("ok", MODEL, 20, 30, 50, RateLimitHeaders(), 10))
    # The reservation became the provider's count in the merged budget, not lost with the old row.
    assert ledger_of(Budget.objects.get()).used(clock.now())["tpm"] == 50


def test_a_merge_carries_usage_and_learned_limits_when_no_key_is_left(settings):
    settings.KEYMANAGER = {**settings.KEYMANAGER, "wait_budget": 0.5}
    first, second = make_secret(), make_secret()
    with GroqStub(orgs={"org_real": {"keys": [first, second], "limits": {MODEL: {"rpm": 6}}}}) as stub:
        settings.GROQ_BASE_URL = stub.url
        keys_import_env({"GROQ_API_KEY": first})  # its own organization, so far
        for _ in range(7):
            try:
                complete(messages=MESSAGES, max_tokens=20)
            except PoolExhausted:
                pass
        assert stub.stats()["by_status"].get("429") == 1  # named org_real: the key moved there, alone
        keys_import_env({"GROQ_API_KEY": first, "GROQ_API_KEY2": second, "GROQ_API_KEY2_ORG": "org_real"})
        served = 0
        for _ in range(4):
            try:
                complete(messages=MESSAGES, max_tokens=20)
                served += 1
            except PoolExhausted:
                pass
        refused = stub.stats()["by_status"].get("429")
    # The 6 the minute holds and the RPM 6 the 429 stated went along: nothing more was sent.
    assert served == 0 and refused == 1
    ledger = ledger_of(Budget.objects.get(organization="org_real"))
    assert ledger.learned["rpm"].value == 6 and ledger.used(clock.now())["rpm"] >= 6


def test_a_merge_that_leaves_keys_behind_counts_nothing_twice(pool_factory):
    pool = pool_factory(orgs=1, keys_per_org=2, limits=ROOMY)
    moving, staying = pool.keys
    for _ in range(4):
        complete(messages=MESSAGES, max_tokens=20)
    before = ledger_of(Budget.objects.get(organization="org_a")).used(clock.now())["rpm"]
    key_move_organization(key_id=moving.pk, organization="org_b", source="operator")
    old = ledger_of(Budget.objects.get(organization="org_a")).used(clock.now())["rpm"]
    new = ledger_of(Budget.objects.get(organization="org_b")).used(clock.now())["rpm"]
    assert before == 4 and old + new == 4


def test_of_two_organizations_the_call_takes_the_earliest_slot(pool_factory, settings):
    settings.KEYMANAGER = {**settings.KEYMANAGER, "wait_budget": 20.0}
    pool_factory(orgs=2, limits={**ROOMY, "rpm": 1})
    complete(messages=MESSAGES, max_tokens=20)
    complete(messages=MESSAGES, max_tokens=20)
    budgets = list(Budget.objects.order_by("pk"))
    for budget, age in zip(budgets, (50, 45), strict=True):  # free in ~10 s and ~15 s
        ledger = ledger_of(budget)
        ledger.minute.slices = {s - round(age / ledger.minute.width): v for s, v in ledger.minute.slices.items()}
        Budget.objects.filter(pk=budget.pk).update(state=ledger.dumps(), inbox="", version=budget.version + 1)
    lease = acquire(ask())
    assert lease.organization == budgets[0].organization and lease.send_at - clock.now() < 11


def test_the_budget_state_stays_bounded_through_the_hot_path_whatever_the_history(pool_factory, monkeypatch):
    pool_factory(orgs=1, limits=ROOMY)
    fake = {"now": clock.now()}
    monkeypatch.setattr("keymanager.clock.now", lambda: fake["now"])
    result = CallResult("ok", MODEL, 20, 30, 50, RateLimitHeaders(), 10)
    sizes = []
    for i in range(432):  # three simulated days, one call every 10 minutes
        fake["now"] += 600.0
        lease = acquire(ask())
        record_success(lease, result)
        if i % 48 == 47:
            sizes.append(len(Budget.objects.get().state))
    # The state grows while the first day fills its rolling summary, then stays put.
    assert max(sizes) < 6000 and max(sizes[3:]) <= sizes[2] * 1.1, sizes
    assert UsageLog.objects.count() == 432
