"""What the pool learned of its limits ages, follows the tier, and can be reset; peers are
organizations whose own headers show the same tier."""

from __future__ import annotations

import time

import pytest
from django.core.management import call_command

from keymanager.ledger import REFUSAL
from keymanager.models import Budget
from keymanager.selectors import budget_usage
from keymanager.services import PoolExhausted, complete
from keymanager.services.budgets import ledger_of
from keymanager.services.keys import key_add
from keymanager.testing.groqstub import GroqStub
from tests.conftest import MODEL, make_secret

pytestmark = pytest.mark.django_db(transaction=True)
MESSAGES = [{"role": "user", "content": "Name a moon of Neptune."}]


def call(n: int) -> tuple[int, int]:
    served = exhausted = 0
    for _ in range(n):
        try:
            complete(messages=MESSAGES, max_tokens=20)
            served += 1
        except PoolExhausted:
            exhausted += 1
    return served, exhausted


def refused(stub: GroqStub) -> int:
    return stub.stats()["by_status"].get("429", 0)


def test_a_limit_a_429_stated_is_probed_again_after_an_hour(settings, monkeypatch):
    settings.KEYMANAGER = {**settings.KEYMANAGER, "wait_budget": 0.5}
    key = make_secret()
    with GroqStub(orgs={"org_x": {"keys": [key], "limits": {MODEL: {"rpm": 4}}}}, window_seconds=2.0) as stub:
        settings.GROQ_BASE_URL = stub.url
        key_add(provider="groq", name="k", secret=key, organization="org_x")
        call(5)  # the fifth is the 429 that states RPM 4
        assert refused(stub) == 1
        assert ledger_of(Budget.objects.get()).learned["rpm"].source == REFUSAL
        # The organization moves to a bigger tier; the stated 4 is a fact for an hour, then a guess.
        stub.set_limits("org_x", MODEL, {"rpm": 40})
        monkeypatch.setattr("keymanager.ledger.learned.FACT_HOLDS", 1.0)
        time.sleep(2.1)  # the stand-in's "minute" (2 s) is empty again
        served, _ = call(10)
    assert served >= 6  # past the old 4: probed, one at a time, and served
    assert ledger_of(Budget.objects.get()).limits({}, None, time.time())["rpm"][0] > 4


def test_a_new_tier_in_the_headers_drops_the_limits_learned_under_the_old_one(pool_factory, settings):
    settings.KEYMANAGER = {**settings.KEYMANAGER, "wait_budget": 3.0}
    pool = pool_factory(orgs=1, default_limits={MODEL: {"rpm": 100, "rpd": 1000, "tpm": 8000}})
    call(1)  # the free tier's published limits, from the headers
    pool.stub.enqueue({"status": 429, "body": {"error": {
        "message": "Rate limit reached for model `m` in organization `org_a` service tier `on_demand` on requests per "
                   "minute (RPM): Limit 4, Used 4, Requested 1. Please try again in 1s.",
        "type": "requests", "code": "rate_limit_exceeded"}}})
    pool.stub.set_limits("org_a", MODEL, {"rpm": 300, "rpd": 3000, "tpm": 24_000})  # an upgrade: every limit x3
    call(1)  # refused (RPM 4 is learned), then sent again after the second the 429 named
    # That reply's headers state RPD 3,000: another tier, and the RPM learned under the old one is gone.
    learned = ledger_of(Budget.objects.get()).learned
    assert "rpm" not in learned and learned["rpd"].value == 3000
    assert call(10) == (10, 0)  # past the old 4 at once


def test_an_admin_can_reset_what_was_learned(pool_factory, settings, admin_client):
    settings.KEYMANAGER = {**settings.KEYMANAGER, "wait_budget": 0.5}
    pool = pool_factory(orgs=1, default_limits={MODEL: {"rpm": 3}})
    call(4)
    assert budget_usage(Budget.objects.get()).limits["rpm"].source == REFUSAL
    call_command("limits", "reset", MODEL)
    assert "rpm" not in ledger_of(Budget.objects.get()).learned
    call(4)  # learned again
    budget = Budget.objects.get()
    response = admin_client.post("/admin/keymanager/budget/", {"action": "reset_learned", "_selected_action": [budget.pk]})
    assert response.status_code == 302
    assert "rpm" not in ledger_of(Budget.objects.get()).learned
    assert refused(pool.stub) == 1  # the first 429's cooldown still holds: a reset forgets, it does not resend


def test_an_organization_without_headers_of_its_own_is_nobodys_peer(settings):
    settings.KEYMANAGER = {**settings.KEYMANAGER, "wait_budget": 0.3}
    big, small = make_secret(), make_secret()
    orgs = {"org_dev": {"keys": [big], "limits": {MODEL: {"rpm": 1000, "rpd": 500_000, "tpm": 250_000}}},
            "org_free": {"keys": [small], "limits": {MODEL: {"rpm": 30}}}}
    with GroqStub(orgs=orgs) as stub:
        settings.GROQ_BASE_URL = stub.url
        key_add(provider="groq", name="dev", secret=big, organization="org_dev")
        call(60)  # the developer-tier organization is known: its headers, and what probes got through
        key_add(provider="groq", name="free", secret=small, organization="org_free")
        from keymanager.models import Key

        Key.objects.filter(organization="org_dev").update(enabled=False)
        served, _ = call(60)
        free = stub.stats()["by_org"]["org_free"][MODEL]
    # The new organization was not taken to be on the other's tier: its guess, then one probe.
    assert free["admitted"] == served <= 31 and free["rate_limited"] <= 1
