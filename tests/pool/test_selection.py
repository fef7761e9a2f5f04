"""Strategies and budgets: which key is chosen, and that known limits are never overrun."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import groq
import pytest
from django.db import connections

from keymanager.ledger import Cost
from keymanager.models import Budget, Key, UsageLog
from keymanager.selectors import budget_usage
from keymanager.services import PoolExhausted, RequestRejected, complete
from keymanager.services.budgets import budget_edit
from keymanager.services.leases import Ask
from keymanager.services.selection import acquire
from keymanager.tokens import count_prompt
from tests.conftest import MODEL

pytestmark = pytest.mark.django_db(transaction=True)
MESSAGES = [{"role": "user", "content": "Describe Saturn's rings in one sentence."}]


def test_smart_strategy_spreads_calls_over_keys_least_recently_used_first(pool_factory):
    pool = pool_factory(orgs=4)
    used = [complete(messages=MESSAGES, max_tokens=20).key_id for _ in range(8)]
    assert sorted(used[:4]) == sorted(k.pk for k in pool.keys)
    assert used[4:] == used[:4]


def test_smart_strategy_prefers_the_key_with_most_headroom(pool_factory):
    pool = pool_factory(orgs=2, limits={"rpm": 30, "rpd": 1000, "tpm": 100000, "tpd": 1000000})
    busy, idle = pool.keys

    def another_worker_sent_twenty(ledger, now):
        for _ in range(20):
            ledger.admit(now, Cost(input=50), ledger.limits({}))

    budget_edit(provider="groq", organization=busy.organization, model=MODEL, edit=another_worker_sent_twenty)
    # The idle key was used last, yet its organization has more headroom.
    complete(messages=MESSAGES, max_tokens=20)  # least recently used first: one of them
    picks = [complete(messages=MESSAGES, max_tokens=20).key_id for _ in range(4)]
    assert picks == [idle.pk] * 4


def test_keys_of_one_organization_share_its_budget(pool_factory):
    pool = pool_factory(orgs=1, keys_per_org=2, limits={"rpm": 3, "rpd": 100, "tpm": 100000, "tpd": 1000000})
    used = [complete(messages=MESSAGES, max_tokens=20).key_id for _ in range(3)]
    assert set(used) == {k.pk for k in pool.keys}
    with pytest.raises(PoolExhausted) as info:
        complete(messages=MESSAGES, max_tokens=20)
    assert 55 < info.value.retry_after <= 61.5
    assert pool.stub.stats()["by_status"].get("429", 0) == 0


def test_quest_strategy_maps_quest_n_to_the_nth_key(pool_factory, settings):
    settings.KEYMANAGER = {**settings.KEYMANAGER, "strategy": "quest"}
    pool = pool_factory(orgs=3)
    by_order = sorted(pool.keys, key=lambda k: k.order)
    for quest in (1, 2, 3, 4, 5, 2):
        assert complete(messages=MESSAGES, quest=quest, max_tokens=20).key_id == by_order[(quest - 1) % 3].pk


def test_quest_strategy_falls_back_to_smart_when_its_key_cannot_serve(pool_factory, settings):
    settings.KEYMANAGER = {**settings.KEYMANAGER, "strategy": "quest"}
    pool = pool_factory(orgs=3)
    first = min(pool.keys, key=lambda k: k.order)
    Key.objects.filter(pk=first.pk).update(enabled=False)
    result = complete(messages=MESSAGES, quest=1, max_tokens=20)
    assert result.key_id != first.pk and result.attempts == 1


def test_budgets_prevent_429s(pool_factory):
    limits = {"rpm": 4, "rpd": 1000, "tpm": 100000, "tpd": 1000000}
    pool = pool_factory(orgs=2, limits=limits)
    served = exhausted = 0
    for _ in range(12):
        try:
            complete(messages=MESSAGES, max_tokens=20)
            served += 1
        except PoolExhausted:
            exhausted += 1
    stats = pool.stub.stats()
    assert served == 8 and exhausted == 4
    assert stats["by_status"].get("429", 0) == 0 and stats["over_budget"] == 0


def test_token_budgets_count_the_reservation_and_release_it(pool_factory):
    limits = {"rpm": 100, "rpd": 1000, "tpm": 2000, "tpd": 1000000}
    pool = pool_factory(orgs=1, limits=limits, latency=1.0)
    reserve = count_prompt(MESSAGES) + 900
    assert 2 * reserve <= 2000 < 3 * reserve
    # Two calls in flight hold their whole reservation (prompt estimate + max tokens) ...
    def in_thread():
        try:
            return complete(messages=MESSAGES, max_tokens=900)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(2) as pool_threads:
        flying = [pool_threads.submit(in_thread) for _ in range(2)]
        time.sleep(0.4)
        # ... so a third does not fit 2,000 TPM while they do: refused locally, never sent.
        with pytest.raises(PoolExhausted):
            complete(messages=MESSAGES, max_tokens=900)
        results = [f.result() for f in flying]
    # Once answered, each holds only what it used: the next one fits at once.
    rows = list(UsageLog.objects.order_by("pk"))
    assert [r.budget_tokens for r in rows] == [r.total_tokens for r in rows]
    assert sorted(r.total_tokens for r in rows) == sorted(r.usage["total_tokens"] for r in results)
    assert all(r.budget_tokens < reserve for r in rows)
    complete(messages=MESSAGES, max_tokens=900)
    stats = pool.stub.stats()
    assert stats["requests"] == 3 and stats["by_status"].get("429", 0) == 0


def test_a_request_larger_than_any_budget_is_rejected_and_not_sent(pool_factory):
    pool = pool_factory(orgs=2, limits={"rpm": 30, "rpd": 1000, "tpm": 500, "tpd": 100000})
    for _ in range(2):  # the same answer whether the window is empty or not
        with pytest.raises(RequestRejected, match="can never fit a groq budget"):
            complete(messages=MESSAGES, max_tokens=600)
        complete(messages=MESSAGES, max_tokens=20)
    assert pool.stub.stats()["requests"] == 2


def test_headers_correct_the_local_count_when_someone_else_spends_the_quota(pool_factory):
    limits = {"rpm": 100, "rpd": 1000, "tpm": 3000, "tpd": 1000000}
    pool = pool_factory(orgs=2, limits=limits)
    shared, other = pool.keys
    # Another application spends most of `shared`'s tokens, unseen by the pool.
    outsider = groq.Groq(api_key=pool.secrets[shared.pk], base_url=pool.stub.url, max_retries=0)
    outsider.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "x" * 9000}], max_completion_tokens=400
    )
    first = complete(messages=MESSAGES, max_tokens=300)
    if first.key_id != shared.pk:
        first = complete(messages=MESSAGES, max_tokens=300)  # least recently used: the other one next
    assert first.key_id == shared.pk
    usage = budget_usage(Budget.objects.get(organization=shared.organization, model=MODEL))
    assert usage.reported_remaining_tokens is not None and usage.reported_remaining_tokens < 1500
    assert usage.tokens_minute > 1800  # the outsider's tokens (1,800 of prompt) are counted now
    for _ in range(4):
        assert complete(messages=MESSAGES, max_tokens=300).key_id == other.pk
    assert pool.stub.stats()["by_status"].get("429", 0) == 0


def test_an_admission_whose_caller_died_holds_its_slot_until_it_ages_out(pool_factory):
    pool = pool_factory(orgs=1, limits={"rpm": 2, "rpd": 1000, "tpm": 100000, "tpd": 1000000})
    # A worker was admitted and died before sending: its admission stays in the ledger.
    lease = acquire(Ask(provider="groq", model=MODEL, prompt_count=100, max_tokens=0, request_id=uuid.uuid4(),
                        attempt=1, max_wait=1.0))
    assert lease.send_at <= time.time()
    complete(messages=MESSAGES, max_tokens=20)
    with pytest.raises(PoolExhausted) as info:
        complete(messages=MESSAGES, max_tokens=20)
    # Nothing is stuck: the dead admission frees when its minute has passed.
    assert 59 < info.value.retry_after <= 61
    assert pool.stub.stats()["requests"] == 1
