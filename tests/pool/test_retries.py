"""Retries, waits, bad keys, database trouble, redaction and log lines (issue 10's pool items)."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

import psycopg
import pytest
from cryptography.fernet import Fernet
from django.db import OperationalError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from keymanager.models import Cooldown, Key, UsageLog
from keymanager.selectors import key_states
from keymanager.services import PoolExhausted, PoolMisuse, complete
from keymanager.services.dberrors import is_contention
from keymanager.services.keys import key_test
from keymanager.services.outcomes import cool_down
from tests.conftest import MODEL

pytestmark = pytest.mark.django_db(transaction=True)
MESSAGES = [{"role": "user", "content": "Name a moon of Neptune."}]
ROOMY = {"rpm": 10_000, "rpd": 10**6, "tpm": 10**8, "tpd": 10**9}


def error(status: int, message: str = "upstream trouble", code: str = "") -> dict:
    return {"status": status, "body": {"error": {"message": message, "type": "internal_server_error", "code": code}}}


def rate_limited(message: str, headers: dict | None = None) -> dict:
    return {"status": 429, "headers": headers or {},
            "body": {"error": {"message": message, "type": "tokens", "code": "rate_limit_exceeded"}}}


# --- retries and waiting ---------------------------------------------------------------------


def test_one_key_retries_a_transient_error_after_a_backoff(pool_factory):
    pool = pool_factory(orgs=1)
    pool.stub.enqueue(error(500))
    result = complete(messages=MESSAGES, max_tokens=20)
    assert result.key_id == pool.keys[0].pk and result.attempts == 2
    rows = list(UsageLog.objects.order_by("pk"))
    assert [r.outcome for r in rows] == ["error", "success"]
    # The second attempt was sent a backoff (0.125-0.25 s) after the first ended, not at once.
    gap = (rows[1].created_at - rows[0].finished_at).total_seconds()
    assert 0.12 <= gap < 0.5


def test_other_keys_first_then_the_same_ones_again_within_max_retries(pool_factory):
    pool = pool_factory(orgs=2)
    pool.stub.enqueue(error(503))
    pool.stub.enqueue(error(502))
    result = complete(messages=MESSAGES, max_tokens=20)
    rows = list(UsageLog.objects.order_by("pk").values_list("key_id", "outcome"))
    # The first failure moves to the other key at once; when both failed, one is tried again.
    assert [o for _, o in rows] == ["error", "error", "success"] and result.attempts == 3
    assert rows[0][0] != rows[1][0]


def test_pool_exhausted_states_the_real_time_and_attempts(pool_factory, settings):
    settings.KEYMANAGER = {**settings.KEYMANAGER, "max_retries": 2, "max_errors_before_cooldown": 10}
    pool = pool_factory(orgs=1)
    pool.stub.set_faults(error_rate=1.0)
    started = time.monotonic()
    with pytest.raises(PoolExhausted) as info:
        complete(messages=MESSAGES, max_tokens=20)
    elapsed = time.monotonic() - started
    assert pool.stub.stats()["requests"] == 3  # the first try and max_retries more
    message = str(info.value)
    assert "after 3 attempt(s)" in message
    stated = float(message.split("within ")[1].split("s")[0])
    assert stated == pytest.approx(elapsed, abs=0.1)
    rows = list(UsageLog.objects.order_by("pk"))
    gaps = [(b.created_at - a.finished_at).total_seconds() for a, b in zip(rows, rows[1:], strict=False)]
    assert 0.12 <= gaps[0] < 0.5 and 0.24 <= gaps[1] < 1.0  # backoffs that double


def test_backoff_jitter_does_not_grow_from_one_call_to_the_next(pool_factory):
    pool = pool_factory(orgs=1)
    waits = []
    for _ in range(4):
        pool.stub.enqueue(error(500))
        started = time.monotonic()
        complete(messages=MESSAGES, max_tokens=20)
        waits.append(time.monotonic() - started)
        Key.objects.update(consecutive_errors=0)
    assert max(waits) < 0.6  # each call starts its backoff afresh


def test_retry_after_counts_the_budget_as_well_as_a_cooldown(pool_factory):
    pool = pool_factory(orgs=1, limits={**ROOMY, "rpm": 1})
    complete(messages=MESSAGES, max_tokens=20)  # the minute is full for ~60 s
    cool_down(provider="groq", organization=pool.keys[0].organization, model=MODEL, reason="rate_limit", seconds=2)
    with pytest.raises(PoolExhausted) as info:
        complete(messages=MESSAGES, max_tokens=20)
    assert 55 < info.value.retry_after <= 61  # not the 2 s of the cooldown


def test_the_later_of_a_keys_and_its_organizations_cooldown_holds(pool_factory):
    pool = pool_factory(orgs=1)
    key = pool.keys[0]
    cool_down(provider="groq", key_id=key.pk, reason="errors", seconds=10)
    cool_down(provider="groq", organization=key.organization, model=MODEL, reason="rate_limit", seconds=100)
    with pytest.raises(PoolExhausted) as info:
        complete(messages=MESSAGES, max_tokens=20)
    assert 95 < info.value.retry_after <= 100
    state = key_states([Key.objects.get(pk=key.pk)])[0]
    assert state.state == "cooling" and state.cooldown_until - timezone.now() > timedelta(seconds=90)


def test_a_daily_token_429_waits_what_it_says_not_the_minutes_reset(pool_factory):
    pool = pool_factory(orgs=2)
    pool.stub.enqueue(rate_limited(
        f"Rate limit reached for model `{MODEL}` in organization `org_a` service tier `on_demand` on tokens per "
        "day (TPD): Limit 100000, Used 99990, Requested 500. Please try again in 7m12s.",
        {"x-ratelimit-reset-tokens": "7.5s", "x-ratelimit-remaining-tokens": "7000"},
    ), key=pool.secrets[pool.keys[0].pk])
    Key.objects.filter(pk=pool.keys[1].pk).update(last_used_at=timezone.now())
    complete(messages=MESSAGES, max_tokens=20, quest=1)
    cooldown = Cooldown.objects.get(organization="org_a")
    assert cooldown.ends_at - cooldown.started_at == pytest.approx(timedelta(seconds=432), abs=timedelta(seconds=1))


def test_retry_after_zero_is_no_usable_wait_and_a_short_backoff_holds_the_organization(pool_factory, settings):
    settings.KEYMANAGER = {**settings.KEYMANAGER, "rate_limit_cooldown": 45.0}
    pool = pool_factory(orgs=1)
    pool.stub.enqueue(rate_limited("Rate limit reached", {"retry-after": "0"}))
    started = time.monotonic()
    result = complete(messages=MESSAGES, max_tokens=20)
    # Sent again on the same organization, but only after the first step of the backoff.
    assert result.attempts == 2 and time.monotonic() - started >= 1.0
    cooldown = Cooldown.objects.get()
    assert cooldown.ends_at - cooldown.started_at == pytest.approx(timedelta(seconds=1), abs=timedelta(seconds=0.1))


def test_organization_cooldowns_of_two_providers_do_not_hide_each_other(db):
    long = cool_down(provider="groq", organization="shared-name", reason="rate_limit", seconds=600)
    short = cool_down(provider="openai", organization="shared-name", reason="rate_limit", seconds=60)
    assert long is not None and short is not None and short.provider == "openai"


def test_a_request_that_never_fits_is_refused_the_same_way_whatever_the_window(pool_factory):
    from keymanager.services import RequestRejected

    pool_factory(orgs=1, limits={**ROOMY, "tpm": 500})
    with pytest.raises(RequestRejected):
        complete(messages=MESSAGES, max_tokens=600)  # empty window
    complete(messages=MESSAGES, max_tokens=100)
    with pytest.raises(RequestRejected):
        complete(messages=MESSAGES, max_tokens=600)  # traffic in the window


def test_when_openai_can_take_over_groq_does_not_wait_past_the_time_kept_for_it(pool_factory, settings):
    # 3 s budget, 2 s request timeout: Groq keeps min(2, 1.5) = 1.5 s for OpenAI.
    pool = pool_factory(orgs=1, limits={**ROOMY, "rpm": 1}, openai_keys=1)
    complete(messages=MESSAGES, max_tokens=20)
    # Make the Groq minute free up 2.5 s from now: within the 3 s budget, not within 1.5 s.
    from keymanager.ledger import Ledger
    from keymanager.models import Budget

    budget = Budget.objects.get(provider="groq")
    ledger = Ledger.loads(budget.state)
    shift = int((60.5 - 2.5) / ledger.minute.width)
    ledger.minute.slices = {s - shift: v for s, v in ledger.minute.slices.items()}
    Budget.objects.filter(pk=budget.pk).update(state=ledger.dumps(), version=budget.version + 1)
    started = time.monotonic()
    result = complete(messages=MESSAGES, max_tokens=20)
    assert result.provider == "openai" and time.monotonic() - started < 1.0
    assert pool.stub.stats()["requests"] == 1


# --- database trouble ------------------------------------------------------------------------


def test_complete_refuses_to_run_inside_a_callers_transaction(pool_factory):
    pool = pool_factory(orgs=1)
    with pytest.raises(PoolMisuse, match="transaction.atomic"), transaction.atomic():
        complete(messages=MESSAGES, max_tokens=20)
    assert pool.stub.stats()["requests"] == 0


def test_a_refused_connection_is_not_contention():
    try:
        psycopg.connect("postgresql://nobody@127.0.0.1:9/none", connect_timeout=2)
    except psycopg.OperationalError as exc:
        wrapped = OperationalError(str(exc))
        wrapped.__cause__ = exc
    assert not is_contention(wrapped)


@pytest.mark.postgres
def test_a_lock_timeout_is_contention_on_postgresql(pool_factory):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    from django.db import connections

    pool = pool_factory(orgs=1)
    holder_ready, release = threading.Event(), threading.Event()

    def hold_lock():
        with transaction.atomic():
            Key.objects.select_for_update().get(pk=pool.keys[0].pk)
            holder_ready.set()
            release.wait(10)
        connections.close_all()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    assert holder_ready.wait(10)
    try:
        with pytest.raises(OperationalError) as info, transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '100ms'")
            Key.objects.select_for_update().get(pk=pool.keys[0].pk)
    finally:
        release.set()
        holder.join(10)
    assert is_contention(info.value)


def test_a_busy_sqlite_database_is_contention():
    import sqlite3

    busy = sqlite3.OperationalError("database is locked")
    wrapped = OperationalError("database is locked")
    wrapped.__cause__ = busy
    assert is_contention(wrapped)


# --- bad keys, probes and tests --------------------------------------------------------------


def test_a_key_test_waits_its_turn_in_the_budget(pool_factory):
    pool = pool_factory(orgs=1, limits={**ROOMY, "rpm": 1})
    complete(messages=MESSAGES, max_tokens=20)
    result = key_test(key_id=pool.keys[0].pk)
    assert not result.ok and "budget" in result.message and "could in" in result.message
    assert pool.stub.stats()["requests"] == 1  # the test did not spend what the budget had not


def test_testing_an_undecryptable_key_in_admin_answers_with_a_message(pool_factory, admin_client):
    pool = pool_factory(orgs=2)
    bad = pool.keys[0]
    Key.objects.filter(pk=bad.pk).update(secret_encrypted=Fernet(Fernet.generate_key()).encrypt(b"gsk_x").decode())
    url = reverse("admin:keymanager_key_changelist")
    response = admin_client.post(url, {"action": "test_keys", "_selected_action": [bad.pk]}, follow=True)
    assert response.status_code == 200
    assert "cannot be decrypted" in response.content.decode()
    assert not Key.objects.get(pk=bad.pk).enabled
    assert pool.stub.stats()["requests"] == 0


# --- redaction and log lines -----------------------------------------------------------------


def test_provider_text_echoing_the_key_is_redacted_everywhere(pool_factory, admin_client, caplog):
    pool = pool_factory(orgs=2)
    victim = pool.keys[0]
    secret = pool.secrets[victim.pk]
    pool.stub.enqueue(
        {"status": 401, "body": {"error": {"message": f"Invalid API Key {secret} (ends {secret[-12:]})",
                                           "type": "invalid_request_error", "code": f"invalid_{secret}"}}},
        key=secret,
    )
    complete(messages=MESSAGES, max_tokens=20, quest=1)
    row = UsageLog.objects.get(key=victim)
    victim.refresh_from_db()
    stored = [row.error_code, victim.last_error, victim.disabled_reason]
    pages = [admin_client.get(reverse("admin:keymanager_key_change", args=[victim.pk])).content.decode(),
             admin_client.get(reverse("admin:keymanager_usagelog_changelist")).content.decode(),
             admin_client.get(reverse("api-dashboard")).content.decode()]
    logs = [r.getMessage() for r in caplog.records]
    for text in stored + pages + logs:
        assert secret not in text and secret[-12:] not in text and secret[4:16] not in text
    assert row.error_code == "redacted"


def test_429s_switches_fallbacks_and_exhaustion_each_leave_one_log_line(pool_factory, caplog):
    caplog.set_level(logging.INFO, logger="keymanager")
    pool = pool_factory(orgs=1, openai_keys=1)
    pool.stub.enqueue(rate_limited(
        f"Rate limit reached for model `{MODEL}` in organization `org_a` service tier `on_demand` on requests per "
        "minute (RPM): Limit 30, Used 30, Requested 1. Please try again in 20s."
    ))
    assert complete(messages=MESSAGES, max_tokens=20).provider == "openai"
    lines = [r.getMessage() for r in caplog.records if r.name == "keymanager"]
    rate = [line for line in lines if line.startswith("429 for key")]
    assert len(rate) == 1 and "org_a" in rate[0] and MODEL in rate[0] and "until" in rate[0]
    assert str(pool.keys[0].pk) in rate[0]
    assert len([line for line in lines if "trying another organization" in line]) == 1
    assert len([line for line in lines if "falling back to OpenAI" in line]) == 1
    Key.objects.filter(provider="openai").update(enabled=False)
    caplog.clear()
    with pytest.raises(PoolExhausted):
        complete(messages=MESSAGES, max_tokens=20)
    assert len([r for r in caplog.records if "pool exhausted after" in r.getMessage()]) == 1
    for record in caplog.records:
        for secret in pool.secrets.values():
            assert secret not in record.getMessage()


# --- one cooldown rule -----------------------------------------------------------------------


def test_a_cooldown_on_another_model_leaves_the_key_serving_and_reported_available(pool_factory, client):
    from django.core.management import call_command

    pool = pool_factory(orgs=1)
    key = pool.keys[0]
    cool_down(provider="groq", organization=key.organization, model="openai/gpt-oss-120b", reason="rate_limit",
              seconds=3600)
    assert complete(messages=MESSAGES, max_tokens=20).key_id == key.pk  # the default model is free
    data = client.get(reverse("keymanager:status")).json()
    assert data["status"] == "ok" and data["keys"]["groq"]["available"] == 1
    call_command("keys", "status", "--quiet")  # exit code 0: no SystemExit
    # The other model is reported cooling, per model.
    assert data["models"]["openai/gpt-oss-20b"]["keys"]["available"] == 1
    with pytest.raises(PoolExhausted):
        complete(messages=MESSAGES, model="openai/gpt-oss-120b", max_tokens=20)
    data = client.get(reverse("keymanager:status")).json()
    assert data["models"]["openai/gpt-oss-120b"]["keys"]["cooling"] == 1


# --- SQLite's write lock ---------------------------------------------------------------------


def test_sqlite_transactions_take_the_write_lock_when_they_begin(pool_factory, settings):
    """With DEFERRED transactions, two workers that read then write deadlock and one gets
    'database is locked' at once; IMMEDIATE makes the second wait its turn instead."""
    if connection.vendor != "sqlite":
        pytest.skip("SQLite only")
    from django.db import connections

    from keymanager.ledger import Cost
    from keymanager.services.budgets import budget_edit

    pool = pool_factory(orgs=1)
    complete(messages=MESSAGES, max_tokens=20)
    errors, barrier = [], threading.Barrier(6)

    def edit_many():
        try:
            barrier.wait(5)
            for _ in range(10):
                budget_edit(provider="groq", organization=pool.keys[0].organization, model=MODEL,
                            edit=lambda ledger, now: (time.sleep(0.002), ledger.admit(now, Cost(input=1),
                                                                                      ledger.limits({}))))
        except Exception as exc:  # noqa: BLE001 - every error is the finding
            errors.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=edit_many) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    from keymanager.models import Budget
    from keymanager.selectors import budget_usage

    assert budget_usage(Budget.objects.get()).requests_minute == 1 + 60
