"""Work nobody waits for goes on Groq's flex tier where an organization has it; live calls stay
on-demand; an organization without flex, or flex full, falls back to on-demand at once."""

from __future__ import annotations

import pytest

from keymanager.models import Budget, UsageLog
from keymanager.services import complete
from keymanager.services.budgets import ledger_of
from keymanager.services.keys import key_add
from keymanager.testing.groqstub import GroqStub
from tests.conftest import MODEL, make_secret

pytestmark = pytest.mark.django_db(transaction=True)
MESSAGES = [{"role": "user", "content": "Name a comet."}]
FLEX = f"{MODEL}@flex"


@pytest.fixture
def two_plans(settings):
    paid, free = make_secret(), make_secret()
    orgs = {"org_paid": {"keys": [paid], "flex": True}, "org_free": {"keys": [free]}}
    with GroqStub(orgs=orgs) as stub:
        settings.GROQ_BASE_URL = stub.url
        key_add(provider="groq", name="paid", secret=paid, organization="org_paid")
        key_add(provider="groq", name="free", secret=free, organization="org_free")
        yield stub


def flex_requests(stub: GroqStub, org: str) -> int:
    bucket = stub.engine.buckets.get((org, MODEL, "flex"))
    return 0 if bucket is None else bucket.meters["rpd"].used(0)


def test_background_work_goes_on_flex_where_the_organization_has_it(two_plans):
    for _ in range(6):
        complete(messages=MESSAGES, max_tokens=20, background=True)
    assert flex_requests(two_plans, "org_paid") >= 5
    # The free organization was asked at most once, refused flex, and is not asked again today.
    free = ledger_of(Budget.objects.get(organization="org_free", model=FLEX))
    assert free.flex == -1
    assert UsageLog.objects.filter(outcome="tier_unavailable").count() <= 1
    # Flex counts against flex's own limits, ten times the on-demand ones, as its headers say.
    paid = ledger_of(Budget.objects.get(organization="org_paid", model=FLEX))
    assert paid.learned["rpd"].value == 10_000 and paid.flex == 1


def test_live_calls_stay_on_demand(two_plans):
    for _ in range(4):
        complete(messages=MESSAGES, max_tokens=20)
    assert flex_requests(two_plans, "org_paid") == 0
    assert not Budget.objects.filter(model=FLEX).exists()


def test_flex_full_sends_the_same_work_on_demand_at_once(two_plans):
    two_plans.set_faults(flex_capacity_rate=1.0)  # every flex request: 498 capacity_exceeded
    result = complete(messages=MESSAGES, max_tokens=20, background=True)
    assert result.provider == "groq"
    outcomes = list(UsageLog.objects.order_by("pk").values_list("outcome", flat=True))
    assert "capacity" in outcomes and outcomes[-1] == "success"


def test_a_key_probe_uses_flex_only_where_the_organization_is_known_to_have_it(two_plans):
    from keymanager.models import Key
    from keymanager.services.keys import key_test

    paid, free = Key.objects.get(name="paid"), Key.objects.get(name="free")
    assert key_test(key_id=free.pk, purpose="probe", background=True).ok
    assert key_test(key_id=paid.pk, purpose="probe", background=True).ok
    assert flex_requests(two_plans, "org_paid") == 0  # not known yet: no call spent finding out
    assert not UsageLog.objects.filter(outcome="tier_unavailable").exists()
    complete(messages=MESSAGES, max_tokens=20, background=True)  # a buffer refill finds out
    before = flex_requests(two_plans, "org_paid")
    assert key_test(key_id=paid.pk, purpose="probe", background=True).ok
    assert flex_requests(two_plans, "org_paid") == before + 1
