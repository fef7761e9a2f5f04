"""Strategies and budgets: which key is chosen, and that known limits are never overrun."""

from __future__ import annotations

import groq
import pytest
from django.utils import timezone

from keymanager.models import Budget, Key, Outcome, UsageLog
from keymanager.services import PoolExhausted, complete
from keymanager.services.budgets import estimate_prompt_tokens
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
    # Twenty calls in the last minute on `busy`'s organization (by another worker, say).
    UsageLog.objects.bulk_create(
        UsageLog(key=busy, provider="groq", organization=busy.organization, model=MODEL,
                 outcome=Outcome.SUCCESS, budget_tokens=50)
        for _ in range(20)
    )
    # The idle key was used last, yet its organization has more headroom.
    Key.objects.filter(pk=idle.pk).update(last_used_at=timezone.now())
    assert complete(messages=MESSAGES, max_tokens=20).key_id == idle.pk


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
    pool = pool_factory(orgs=1, limits=limits)
    reserve = estimate_prompt_tokens(MESSAGES) + 900
    complete(messages=MESSAGES, max_tokens=900)
    row = UsageLog.objects.get()
    # Released down to what the call used, far below the reservation.
    assert row.budget_tokens == row.total_tokens < reserve
    complete(messages=MESSAGES, max_tokens=900)
    # A third 900-token reservation would not fit what is left of 2,000 TPM: refuse locally.
    used = sum(UsageLog.objects.values_list("budget_tokens", flat=True))
    if used + reserve > 2000:
        with pytest.raises(PoolExhausted):
            complete(messages=MESSAGES, max_tokens=900)
    assert pool.stub.stats()["by_status"].get("429", 0) == 0


def test_a_request_larger_than_any_budget_is_not_sent(pool_factory):
    pool = pool_factory(orgs=2, limits={"rpm": 30, "rpd": 1000, "tpm": 500, "tpd": 100000})
    with pytest.raises(PoolExhausted):
        complete(messages=MESSAGES, max_tokens=600)
    assert pool.stub.stats()["requests"] == 0


def test_headers_correct_the_local_count_when_someone_else_spends_the_quota(pool_factory):
    limits = {"rpm": 100, "rpd": 1000, "tpm": 3000, "tpd": 1000000}
    pool = pool_factory(orgs=2, limits=limits)
    shared, other = pool.keys
    # Another application spends most of `shared`'s tokens, unseen by the pool.
    outsider = groq.Groq(api_key=pool.secrets[shared.pk], base_url=pool.stub.url, max_retries=0)
    outsider.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "x" * 9000}], max_completion_tokens=400
    )
    Key.objects.filter(pk=other.pk).update(last_used_at=timezone.now())
    first = complete(messages=MESSAGES, max_tokens=300)
    assert first.key_id == shared.pk  # least recently used; its reply reports the low remainder
    budget = Budget.objects.get(organization=shared.organization, model=MODEL)
    assert budget.remaining_tokens is not None and budget.remaining_tokens < 1000
    for _ in range(4):
        assert complete(messages=MESSAGES, max_tokens=300).key_id == other.pk
    assert pool.stub.stats()["by_status"].get("429", 0) == 0


def test_a_pending_reservation_counts_until_it_rolls_out_of_the_window(pool_factory):
    pool = pool_factory(orgs=1, limits={"rpm": 2, "rpd": 1000, "tpm": 100000, "tpd": 1000000})
    key = pool.keys[0]
    # A worker died mid-call: its row stays pending, and still holds a request slot.
    UsageLog.objects.create(
        key=key, provider="groq", organization=key.organization, model=MODEL, outcome=Outcome.PENDING, budget_tokens=100
    )
    complete(messages=MESSAGES, max_tokens=20)
    with pytest.raises(PoolExhausted):
        complete(messages=MESSAGES, max_tokens=20)
    UsageLog.objects.filter(outcome=Outcome.PENDING).update(created_at=timezone.now() - timezone.timedelta(seconds=62))
    assert complete(messages=MESSAGES, max_tokens=20).key_id == key.pk
