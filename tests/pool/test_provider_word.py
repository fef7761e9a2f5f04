"""The provider's word over the pool's own count, against stand-ins the pool was not told about:
day budgets that refill, 429 waits that end the block they cause, headers read in each
provider's meaning, token counts close to the provider's."""

from __future__ import annotations

import time

import pytest

from keymanager.ledger import Cost, fit
from keymanager.models import Budget, Key, Provider, UsageLog
from keymanager.selectors import budget_usage
from keymanager.services import PoolExhausted, RequestRejected, complete
from keymanager.services.budgets import ledger_of
from keymanager.services.keys import key_add
from keymanager.testing.groqstub import GroqStub, make_key, prompt_tokens
from keymanager.tokens import count_prompt
from tests.conftest import MODEL

pytestmark = pytest.mark.django_db(transaction=True)
MESSAGES = [{"role": "user", "content": "Name a ring of Saturn."}]
ROOMY = {"rpm": 10_000, "rpd": 10**6, "tpm": 10**8, "tpd": 10**9}


def refusal(message: str, headers: dict | None = None, type_: str = "tokens") -> dict:
    return {"status": 429, "headers": headers or {},
            "body": {"error": {"message": message, "type": type_, "code": "rate_limit_exceeded"}}}


def test_a_day_budget_that_refills_continuously_serves_again_within_seconds_not_a_day(pool_factory, settings):
    settings.KEYMANAGER = {**settings.KEYMANAGER, "wait_budget": 8.0}
    # 40 requests a "day" of 120 s, refilled continuously (one every 3 s), truthful headers. The
    # pool is told nothing: it learns the limit and how fast it comes back from the headers.
    pool = pool_factory(orgs=1, limiter="mixed", day_seconds=120.0, default_limits={MODEL: {**ROOMY, "rpd": 40}})
    for _ in range(40):
        complete(messages=MESSAGES, max_tokens=20)
    started = time.monotonic()
    result = complete(messages=MESSAGES, max_tokens=20)
    # Served once a request's worth had refilled: seconds, never PoolExhausted(retry_after≈a day).
    assert result.provider == "groq" and time.monotonic() - started < 5.0
    ledger = ledger_of(Budget.objects.get())
    assert 100 < ledger.period < 160  # the day's length, as the resets told it
    assert pool.stub.stats()["by_status"].get("429", 0) == 0


def test_a_day_the_provider_counts_as_a_rolling_window_is_recognised_by_its_headers(pool_factory, settings):
    settings.KEYMANAGER = {**settings.KEYMANAGER, "wait_budget": 8.0}
    # Another provider: 40 requests in any 120 s "day", counted as a rolling window. Its reset is
    # the age of the newest request, whatever is used: not a bucket's refill time.
    pool = pool_factory(orgs=1, limiter="rolling", day_seconds=120.0, default_limits={MODEL: {**ROOMY, "rpd": 40}})
    for _ in range(40):
        complete(messages=MESSAGES, max_tokens=20)
    ledger = ledger_of(Budget.objects.get())
    assert ledger.day_shape == "rolling" and 110 < ledger.rolling_day.period < 130
    with pytest.raises(PoolExhausted) as info:
        complete(messages=MESSAGES, max_tokens=20)
    # Read as a bucket, one more would be due in 3 s, and refused; as a rolling day, not for ~2 minutes.
    assert info.value.retry_after > 100
    assert pool.stub.stats()["by_status"].get("429", 0) == 0


def test_a_tpd_refusal_for_usage_the_pool_never_saw_ends_at_the_time_it_names(pool_factory, settings):
    settings.KEYMANAGER = {**settings.KEYMANAGER, "wait_budget": 6.0}
    pool = pool_factory(orgs=1, limits=ROOMY)
    # Another application spent the organization's day: the provider says so, and when it frees.
    pool.stub.enqueue(refusal("Rate limit reached for model `m` in organization `org_a` service tier `on_demand` on "
                              "tokens per day (TPD): Limit 200000, Used 199990, Requested 120. Please try again in "
                              "2.5s."))
    started = time.monotonic()
    result = complete(messages=MESSAGES, max_tokens=20)
    waited = time.monotonic() - started
    # Sent again when the 429 said (not after a day of the pool's own reckoning), and served.
    assert result.attempts == 2 and 2.4 <= waited < 5.0
    assert ledger_of(Budget.objects.get()).used(time.time())["tpd"] < 200_000


def test_a_header_saying_more_is_left_than_the_pool_counted_is_believed(pool_factory, settings):
    settings.KEYMANAGER = {**settings.KEYMANAGER, "wait_budget": 1.0}
    pool = pool_factory(orgs=1, limiter="bucket", default_limits={MODEL: {**ROOMY, "tpm": 3000}})
    # Reservations count max tokens up front; the provider's headers say what it really counts.
    for _ in range(6):
        complete(messages=MESSAGES, max_tokens=900)
    usage = budget_usage(Budget.objects.get())
    assert usage.tokens_minute < 1000  # the provider's word, not 6 x 900 reserved
    assert pool.stub.stats()["by_status"].get("429", 0) == 0


def test_openais_headers_are_read_as_per_minute_not_per_day(settings):
    key = make_key("openai")
    stub = GroqStub(orgs={"openai_org": {"keys": [key]}}, flavor="openai", models=["gpt-4o-mini"],
                    default_limits={"gpt-4o-mini": {"rpm": 3, "rpd": 10**6, "tpm": 10**6, "tpd": 10**9}}).start()
    try:
        settings.OPENAI_BASE_URL = stub.openai_base_url
        settings.KEYMANAGER = {**settings.KEYMANAGER, "wait_budget": 2.0}
        key_add(provider=Provider.OPENAI, name="openai", secret=key, organization="openai_org")
        for _ in range(3):
            assert complete(messages=MESSAGES, max_tokens=20).provider == "openai"
        usage = budget_usage(Budget.objects.get(provider="openai"))
        # Three a minute: the fourth waits for the minute, not for the next day.
        assert usage.limits["rpm"].value == 3 and usage.limits["rpm"].source == "header"
        assert usage.limits["rpd"].value is None
        with pytest.raises(PoolExhausted) as info:
            complete(messages=MESSAGES, max_tokens=20)
        assert info.value.retry_after < 65
        assert stub.stats()["by_status"].get("429", 0) == 0
    finally:
        stub.stop()


def test_cached_prompt_tokens_are_not_counted_against_the_limits(pool_factory):
    pool_factory(orgs=1, limits=ROOMY, prompt_cache=True)
    system = {"role": "system", "content": "You are the mission computer of a survey ship. " * 40}
    complete(messages=[system, {"role": "user", "content": "First."}], max_tokens=20)
    complete(messages=[system, {"role": "user", "content": "Second."}], max_tokens=20)
    first, second = UsageLog.objects.order_by("pk")
    assert second.prompt_tokens > 200
    assert second.budget_tokens < second.total_tokens - 200  # the cached system prompt is not counted


def test_a_long_prompt_is_sent_when_it_may_fit_and_the_providers_413_is_final(pool_factory):
    pool = pool_factory(orgs=1, default_limits={MODEL: {**ROOMY, "tpm": 6000}})
    # By the pool's count this may fit; the provider counts three times as much (its tokenizer is
    # not ours): sent, and the provider's 413 decides, and states the limit.
    maybe = [{"role": "user", "content": "understanding " * 1700}]
    with pytest.raises(RequestRejected):
        complete(messages=maybe, max_tokens=1024)
    assert pool.stub.stats()["by_status"].get("413", 0) == 1
    assert ledger_of(Budget.objects.get()).learned["tpm"].source == "429"
    # The issue's own example: 16,892 characters, max 1,024 tokens, against 6,000 TPM: it fits.
    long = [{"role": "user", "content": "Saturn's rings are made of ice and rock. " * 412}]
    assert len(long[0]["content"]) == 16_892
    assert complete(messages=long, max_tokens=1024).provider == "groq"
    never = [{"role": "user", "content": "Saturn's rings are made of ice and rock. " * 900}]
    with pytest.raises(RequestRejected):
        complete(messages=never, max_tokens=1024)
    assert pool.stub.stats()["by_status"].get("413", 0) == 1  # cannot fit by any count: not sent


def test_the_pools_token_count_follows_the_providers_after_a_few_replies(pool_factory):
    pool_factory(orgs=1, limits=ROOMY)
    prompts = [[{"role": "system", "content": "You write short space missions as JSON."},
                {"role": "user", "content": f"Mission {i}: the rings of Saturn, their age, and Cassini's last orbits."}]
               for i in range(8)]
    for messages in prompts:
        complete(messages=messages, max_tokens=20)
    ratio = ledger_of(Budget.objects.get()).token_ratio
    fresh = [{"role": "user", "content": "Which moon of Saturn has lakes of methane, and what did Huygens find?"}]
    ours, theirs = count_prompt(fresh) * ratio, prompt_tokens(fresh)
    assert abs(ours - theirs) / theirs < 0.15


def test_input_and_output_token_limits_named_by_a_429_are_kept(pool_factory, settings):
    settings.KEYMANAGER = {**settings.KEYMANAGER, "wait_budget": 0.5}
    pool = pool_factory(orgs=1, limits=ROOMY)
    pool.stub.enqueue(refusal("Rate limit reached for model `m` in organization `org_a` service tier `on_demand` on "
                              "output tokens per minute (OTPM): Limit 300, Used 250, Requested 200. Please try again "
                              "in 10s."))
    with pytest.raises(PoolExhausted):
        complete(messages=MESSAGES, max_tokens=200)
    ledger = ledger_of(Budget.objects.get())
    assert ledger.learned["otpm"].value == 300
    now = time.time()
    # Output is what is short: 200 more do not fit, 10 do; input tokens are not held back.
    assert not fit(ledger, {}, now=now, not_before=now, cost=Cost(input=10, output=200), until=now + 1).within
    assert fit(ledger, {}, now=now, not_before=now, cost=Cost(input=5000, output=10), until=now + 1).at == now


def test_keys_of_other_providers_keep_their_own_budgets(pool_factory):
    pool = pool_factory(orgs=1, limits=ROOMY, openai_keys=1)
    complete(messages=MESSAGES, max_tokens=20)
    Key.objects.filter(provider="groq").update(enabled=False)
    assert complete(messages=MESSAGES, max_tokens=20).provider == "openai"
    assert set(Budget.objects.values_list("provider", flat=True)) == {"groq", "openai"}
    assert pool.openai_stub.stats()["requests"] == 1
