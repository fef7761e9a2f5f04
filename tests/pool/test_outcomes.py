"""complete() against the stand-in, one row of the outcome table in docs/provider-facts.md at a time."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from keymanager.conf import pool_settings
from keymanager.models import Budget, Cooldown, CooldownReason, Key, Outcome, UsageLog
from keymanager.selectors import budget_usage
from keymanager.services import PoolExhausted, RequestRejected, complete
from keymanager.services.outcomes import cool_down
from tests.conftest import MODEL

pytestmark = pytest.mark.django_db(transaction=True)
MESSAGES = [{"role": "user", "content": "Name one moon of Jupiter."}]


def error_body(message: str, type_: str, code: str) -> dict:
    return {"error": {"message": message, "type": type_, "code": code}}


def test_it_serves_a_completion_and_logs_one_row(pool_factory):
    pool = pool_factory(orgs=1)
    result = complete(messages=MESSAGES, purpose="test", quest=2, max_tokens=50)
    assert result.text and result.provider == "groq" and result.model == MODEL
    assert result.key_id == pool.keys[0].pk and result.attempts == 1
    assert result.usage["total_tokens"] == result.usage["prompt_tokens"] + result.usage["completion_tokens"] > 0
    row = UsageLog.objects.get()
    assert (row.outcome, row.http_status, row.purpose, row.quest) == (Outcome.SUCCESS, 200, "test", 2)
    assert row.budget_tokens == row.total_tokens == result.usage["total_tokens"]
    assert row.request_id == result.request_id and row.latency_ms is not None
    key = Key.objects.get()
    assert key.last_used_at and key.last_success_at
    # The reply's x-ratelimit-* headers reached the organization's budget.
    usage = budget_usage(Budget.objects.get())
    assert usage.reported_remaining_requests is not None and usage.limits["rpd"].source == "header"


def test_it_cools_the_organization_down_on_429_and_switches_key_at_once(pool_factory):
    pool = pool_factory(orgs=2)
    first = pool.keys[0]
    pool.stub.enqueue(
        {
            "status": 429,
            "headers": {"retry-after": "7"},
            "body": error_body(
                "Rate limit reached ... on requests per minute (RPM): Limit 30, Used 30, Requested 1. "
                "Please try again in 6.5s.",
                "requests",
                "rate_limit_exceeded",
            ),
        },
        key=pool.secrets[first.pk],
    )
    # Quest 1 maps to the first key under the quest strategy: make sure it is tried first.
    Key.objects.filter(pk=pool.keys[1].pk).update(last_used_at=timezone.now())
    result = complete(messages=MESSAGES, max_tokens=50)
    assert result.key_id == pool.keys[1].pk and result.attempts == 2
    cooldown = Cooldown.objects.get()
    assert (cooldown.organization, cooldown.model, cooldown.reason) == (first.organization, MODEL, CooldownReason.RATE_LIMIT)
    assert timedelta(seconds=6) < cooldown.ends_at - cooldown.started_at <= timedelta(seconds=7.1)
    assert list(UsageLog.objects.order_by("attempt").values_list("outcome", flat=True)) == [
        Outcome.RATE_LIMITED,
        Outcome.SUCCESS,
    ]
    # Still cooling: the next calls avoid the organization entirely.
    for _ in range(3):
        assert complete(messages=MESSAGES, max_tokens=50).key_id == pool.keys[1].pk


def test_a_429_that_names_no_wait_holds_the_organization_for_a_backoff_that_doubles(pool_factory, settings):
    settings.KEYMANAGER = {**settings.KEYMANAGER, "rate_limit_cooldown": 3.0, "wait_budget": 0.5}
    pool = pool_factory(orgs=1)
    holds = []
    for _ in range(4):
        pool.stub.enqueue({"status": 429, "body": error_body("Rate limit reached", "requests", "rate_limit_exceeded")})
        with pytest.raises(PoolExhausted):
            complete(messages=MESSAGES, max_tokens=50)
        cooldown = Cooldown.objects.order_by("-started_at").first()
        holds.append(round((cooldown.ends_at - cooldown.started_at).total_seconds(), 1))
        Cooldown.objects.update(ends_at=timezone.now())
    # 1 s, then doubling with each refusal since the last success, up to the cooldown setting.
    assert holds == [1.0, 2.0, 3.0, 3.0]
    complete(messages=MESSAGES, max_tokens=50)  # a success ends the streak
    pool.stub.enqueue({"status": 429, "body": error_body("Rate limit reached", "requests", "rate_limit_exceeded")})
    with pytest.raises(PoolExhausted):
        complete(messages=MESSAGES, max_tokens=50)
    cooldown = Cooldown.objects.order_by("-started_at").first()
    assert (cooldown.ends_at - cooldown.started_at).total_seconds() == pytest.approx(1.0, abs=0.05)


def test_it_cools_a_key_down_after_repeated_errors_and_doubles_on_repeat(pool_factory, settings):
    settings.KEYMANAGER = {**settings.KEYMANAGER, "max_retries": 0}
    pool = pool_factory(orgs=1)
    key = pool.keys[0]
    for _ in range(3):
        pool.stub.enqueue({"status": 500, "body": error_body("Internal Server Error", "internal_server_error", "")})
        with pytest.raises(PoolExhausted):
            complete(messages=MESSAGES, max_tokens=50)
    first = Cooldown.objects.get(key=key)
    assert first.reason == CooldownReason.ERRORS
    assert first.ends_at - first.started_at == pytest.approx(timedelta(seconds=30), abs=timedelta(seconds=1))
    assert set(UsageLog.objects.values_list("outcome", flat=True)) == {Outcome.ERROR}

    # The cooldown ends; three more errors make the next one twice as long.
    Cooldown.objects.update(ends_at=timezone.now())
    for _ in range(3):
        pool.stub.enqueue({"status": 502, "body": error_body("Bad gateway", "internal_server_error", "")})
        with pytest.raises(PoolExhausted):
            complete(messages=MESSAGES, max_tokens=50)
    second = Cooldown.objects.filter(key=key).order_by("-started_at").first()
    assert second.ends_at - second.started_at == pytest.approx(timedelta(seconds=60), abs=timedelta(seconds=1))

    # A success resets both counters.
    Cooldown.objects.update(ends_at=timezone.now())
    complete(messages=MESSAGES, max_tokens=50)
    key.refresh_from_db()
    assert (key.consecutive_errors, key.cooldown_streak) == (0, 0)


def test_it_caps_growing_error_cooldowns(pool_factory, settings):
    settings.KEYMANAGER = {**settings.KEYMANAGER, "max_retries": 0, "error_cooldown_cap": 100.0}
    pool = pool_factory(orgs=1)
    Key.objects.update(cooldown_streak=10, consecutive_errors=2)
    pool.stub.enqueue({"status": 503, "body": error_body("Service unavailable", "internal_server_error", "")})
    with pytest.raises(PoolExhausted):
        complete(messages=MESSAGES, max_tokens=50)
    cooldown = Cooldown.objects.get()
    assert cooldown.ends_at - cooldown.started_at == pytest.approx(timedelta(seconds=100), abs=timedelta(seconds=1))


def test_it_retries_a_server_error_on_another_key(pool_factory):
    pool = pool_factory(orgs=2)
    pool.stub.enqueue({"status": 500, "body": error_body("oops", "internal_server_error", "")})
    result = complete(messages=MESSAGES, max_tokens=50)
    failed = UsageLog.objects.get(outcome=Outcome.ERROR)
    assert result.attempts == 2 and failed.key_id != result.key_id
    assert Key.objects.get(pk=failed.key_id).consecutive_errors == 1


def test_it_treats_resets_and_timeouts_like_server_errors(pool_factory):
    pool = pool_factory(orgs=3)
    pool.stub.enqueue({"reset": True})
    pool.stub.enqueue({"sleep": 4.0})  # beyond the 2 s request timeout of the test settings
    result = complete(messages=MESSAGES, max_tokens=50)
    outcomes = list(UsageLog.objects.order_by("attempt").values_list("outcome", flat=True))
    assert outcomes == [Outcome.CONNECTION, Outcome.TIMEOUT, Outcome.SUCCESS]
    assert result.attempts == 3
    assert len(set(UsageLog.objects.values_list("key_id", flat=True))) == 3
    assert sorted(Key.objects.values_list("consecutive_errors", flat=True)) == [0, 1, 1]


def test_it_disables_a_key_the_provider_refuses(pool_factory, caplog):
    pool = pool_factory(orgs=2)
    revoked = pool.keys[0]
    pool.stub.revoke(pool.secrets[revoked.pk])
    Key.objects.filter(pk=pool.keys[1].pk).update(last_used_at=timezone.now())
    with caplog.at_level(logging.ERROR, logger="keymanager"):
        result = complete(messages=MESSAGES, max_tokens=50)
    assert result.key_id == pool.keys[1].pk
    revoked.refresh_from_db()
    assert not revoked.enabled and "401" in revoked.disabled_reason
    assert any(r.levelno == logging.ERROR and f"id={revoked.pk}" in r.getMessage() for r in caplog.records)
    assert pool.secrets[revoked.pk] not in caplog.text
    for _ in range(4):
        assert complete(messages=MESSAGES, max_tokens=50).key_id == pool.keys[1].pk


def test_it_switches_to_the_alternate_model_when_one_is_decommissioned(pool_factory, settings):
    settings.KEYMANAGER = {**settings.KEYMANAGER, "alternate_model": "openai/gpt-oss-120b"}
    pool_factory(orgs=1)
    result = complete(messages=MESSAGES, model="llama3-70b-8192", max_tokens=50)
    assert result.model == "openai/gpt-oss-120b" and result.attempts == 2
    assert list(UsageLog.objects.order_by("attempt").values_list("outcome", "model")) == [
        (Outcome.DECOMMISSIONED, "llama3-70b-8192"),
        (Outcome.SUCCESS, "openai/gpt-oss-120b"),
    ]
    assert not Cooldown.objects.exists()
    assert Key.objects.get().consecutive_errors == 0


def test_it_cools_an_organization_at_its_spend_cap(pool_factory):
    pool = pool_factory(orgs=2)
    capped = pool.keys[0]
    pool.stub.block_org(capped.organization)
    Key.objects.filter(pk=pool.keys[1].pk).update(last_used_at=timezone.now())
    result = complete(messages=MESSAGES, max_tokens=50)
    assert result.key_id == pool.keys[1].pk
    cooldown = Cooldown.objects.get()
    assert (cooldown.organization, cooldown.model, cooldown.reason) == (capped.organization, "", CooldownReason.SPEND_CAP)


def test_it_cools_a_key_down_for_one_model_on_404(pool_factory):
    pool_factory(orgs=1)
    with pytest.raises(PoolExhausted):
        complete(messages=MESSAGES, model="no-such-model", max_tokens=50)
    cooldown = Cooldown.objects.get()
    assert (cooldown.model, cooldown.reason) == ("no-such-model", CooldownReason.MODEL_UNAVAILABLE)
    assert complete(messages=MESSAGES, max_tokens=50).provider == "groq"  # other models unaffected


def test_it_does_not_retry_a_request_the_provider_rejects(pool_factory):
    pool = pool_factory(orgs=3)
    pool.stub.enqueue({"status": 400, "body": error_body("messages: bad role", "invalid_request_error", "")})
    with pytest.raises(RequestRejected) as info:
        complete(messages=MESSAGES, max_tokens=50)
    assert info.value.status == 400
    assert UsageLog.objects.count() == 1 and not Cooldown.objects.exists()
    assert pool.stub.stats()["requests"] == 1


def test_it_raises_too_large_without_retry(pool_factory):
    pool = pool_factory(orgs=2)
    pool.stub.enqueue({"status": 413, "body": error_body("Request too large", "tokens", "request_too_large")})
    with pytest.raises(RequestRejected) as info:
        complete(messages=MESSAGES, max_tokens=50)
    assert info.value.status == 413 and pool.stub.stats()["requests"] == 1


def test_it_backs_off_on_capacity_errors_and_does_not_blame_the_key(pool_factory):
    pool = pool_factory(orgs=1)
    pool.stub.enqueue({"status": 498, "body": error_body("Capacity exceeded", "capacity", "capacity_exceeded")})
    result = complete(messages=MESSAGES, max_tokens=50)
    assert result.attempts == 2
    assert Key.objects.get().consecutive_errors == 0 and not Cooldown.objects.exists()
    assert pool.stub.stats()["requests"] == 2


def test_a_shorter_cooldown_never_shortens_a_longer_one(pool_factory):
    pool = pool_factory(orgs=1)
    org = pool.keys[0].organization
    long = cool_down(provider="groq", organization=org, model=MODEL, reason="rate_limit", seconds=600)
    assert cool_down(provider="groq", organization=org, model=MODEL, reason="rate_limit", seconds=5) is None
    longer = cool_down(provider="groq", organization=org, model=MODEL, reason="rate_limit", seconds=900)
    assert longer is not None and longer.ends_at > long.ends_at
    with pytest.raises(PoolExhausted) as info:
        complete(messages=MESSAGES, max_tokens=50)
    assert 890 < info.value.retry_after <= 900


def test_disabled_keys_are_never_chosen(pool_factory):
    pool = pool_factory(orgs=3)
    Key.objects.filter(pk__in=[pool.keys[0].pk, pool.keys[2].pk]).update(enabled=False)
    used = {complete(messages=MESSAGES, max_tokens=20).key_id for _ in range(6)}
    assert used == {pool.keys[1].pk}


def test_it_falls_back_to_openai_when_groq_cannot_serve(pool_factory):
    pool = pool_factory(orgs=1, openai_keys=1)
    cool_down(provider="groq", organization=pool.keys[0].organization, model=MODEL, reason="rate_limit", seconds=300)
    result = complete(messages=MESSAGES, max_tokens=50)
    assert result.provider == "openai" and result.key_id == pool.openai_keys[0].pk
    assert result.model == pool_settings().openai_model
    assert pool.stub.stats()["requests"] == 0 and pool.openai_stub.stats()["requests"] == 1


def test_it_raises_pool_exhausted_with_a_retry_hint(pool_factory):
    pool = pool_factory(orgs=1)
    cool_down(provider="groq", organization=pool.keys[0].organization, model=MODEL, reason="rate_limit", seconds=120)
    with pytest.raises(PoolExhausted) as info:
        complete(messages=MESSAGES, max_tokens=50)
    assert 110 < info.value.retry_after <= 120
    assert pool.stub.stats()["requests"] == 0 and not UsageLog.objects.exists()


def test_an_empty_pool_is_exhausted_at_once():
    with pytest.raises(PoolExhausted):
        complete(messages=MESSAGES)


def test_every_attempt_writes_exactly_one_row(pool_factory):
    pool = pool_factory(orgs=3, seed=7)
    pool.stub.set_faults(error_rate=0.3, reset_rate=0.1)
    served = exhausted = 0
    for _ in range(25):
        try:
            complete(messages=MESSAGES, max_tokens=30)
            served += 1
        except PoolExhausted:
            exhausted += 1
    stats = pool.stub.stats()
    assert UsageLog.objects.count() == stats["requests"]
    assert UsageLog.objects.filter(outcome=Outcome.SUCCESS).count() == served
    assert not UsageLog.objects.filter(outcome=Outcome.PENDING).exists()
