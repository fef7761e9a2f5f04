"""/metrics: who may read it, and its names and values against a pool state the test builds
through the pool itself (the Groq stand-in refusing at a limit the pool was not told)."""

from __future__ import annotations

import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from keymanager.models import Key, Provider
from keymanager.services import PoolExhausted, complete
from keymanager.services.keys import key_add, key_disable
from keymanager.services.providers import forget_clients
from keymanager.testing.groqstub import GroqStub
from tests.conftest import MODEL, make_secret

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/metrics"
TOKEN = "metrics-token-for-tests-0123456789"
MESSAGES = [{"role": "user", "content": "Write one line about Io."}]


def scrape(client, **headers) -> dict[str, list]:
    response = client.get(URL, HTTP_AUTHORIZATION=f"Bearer {TOKEN}", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    samples: dict[str, list] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def value(samples, name: str, **labels) -> float:
    found = [v for found_labels, v in samples.get(name, []) if all(found_labels.get(k) == w for k, w in labels.items())]
    assert len(found) == 1, f"{name} {labels}: {found} in {samples.get(name)}"
    return found[0]


@pytest.fixture(autouse=True)
def _token(settings):
    settings.METRICS_TOKEN = TOKEN
    settings.STATUS_TOKEN = "another-token-for-api-status-0123"
    settings.METRICS_ALLOWED_NETWORKS = []
    settings.METRICS_MULTIPROC_DIRS = []


# ----- access --------------------------------------------------------------------------------

def test_no_token_and_a_wrong_token_are_refused(client):
    assert client.get(URL).status_code == 401
    assert client.get(URL, HTTP_AUTHORIZATION="Bearer nope").status_code == 401
    response = client.get(URL, HTTP_AUTHORIZATION=f"Bearer {TOKEN}x")
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer")


def test_the_status_token_reads_metrics_when_no_metrics_token_is_set(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get(URL, HTTP_AUTHORIZATION="Bearer another-token-for-api-status-0123").status_code == 200
    assert client.get(URL, HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 401


def test_no_token_configured_refuses_every_token(client, settings):
    settings.METRICS_TOKEN = settings.STATUS_TOKEN = ""
    assert client.get(URL, HTTP_AUTHORIZATION="Bearer ").status_code == 401


def test_configured_networks_read_without_a_token_and_forwarded_addresses_do_not_count(client, settings):
    import ipaddress

    settings.METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network("10.20.0.0/16")]
    assert client.get(URL, REMOTE_ADDR="10.20.3.4").status_code == 200
    assert client.get(URL, REMOTE_ADDR="10.21.3.4").status_code == 401
    assert client.get(URL, REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="10.20.3.4").status_code == 401
    # A token that is sent must be right, even from an allowed network.
    assert client.get(URL, REMOTE_ADDR="10.20.3.4", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401


def test_only_get_and_head(client):
    assert client.post(URL, HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 405
    assert client.head(URL, HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200


# ----- values ----------------------------------------------------------------------------------

@pytest.fixture
def told_nothing(settings):
    """One Groq organization whose real RPM (3) the pool was not told (it guesses 30), one key
    disabled by an admin, one refused by the provider, and an OpenAI key of its own."""
    groq_secret, openai_secret = make_secret(), make_secret(Provider.OPENAI)
    stub = GroqStub(orgs={"org_real": {"keys": [groq_secret], "limits": {MODEL: {"rpm": 3}}}}).start()
    openai_stub = GroqStub(orgs={"openai_org": {"keys": [openai_secret]}}, flavor="openai",
                           models=["gpt-4o-mini"]).start()
    settings.GROQ_BASE_URL = stub.url
    settings.OPENAI_BASE_URL = openai_stub.url + "/v1"
    forget_clients()
    key = key_add(provider=Provider.GROQ, name="groq-main", secret=groq_secret, organization="org_real")
    key_add(provider=Provider.OPENAI, name="openai-main", secret=openai_secret, organization="openai_org")
    spare = key_add(provider=Provider.GROQ, name="groq-spare", secret=make_secret(), organization="org_spare")
    key_disable(key_id=spare.pk, reason="rotating")
    refused = key_add(provider=Provider.GROQ, name="groq-refused", secret=make_secret(), organization="org_gone")
    Key.objects.filter(pk=refused.pk).update(enabled=False, disabled_code="auth", disabled_reason="401")
    yield key
    stub.stop()
    openai_stub.stop()
    forget_clients()


def test_metrics_report_the_pool_as_it_stands(client, told_nothing):
    before = scrape(client)
    served_before = value(before, "cosmosquest_pool_complete_seconds_count", provider="groq", result="served")\
        if any(lab.get("result") == "served" and lab.get("provider") == "groq"
               for lab, _ in before.get("cosmosquest_pool_complete_seconds_count", [])) else 0
    for _ in range(3):
        assert complete(messages=MESSAGES, max_tokens=50).provider == "groq"
    # The fourth is refused (429 naming RPM, limit 3): the pool learns it, cools the organization
    # down and falls back to OpenAI.
    assert complete(messages=MESSAGES, max_tokens=50).provider == "openai"
    Key.objects.filter(provider=Provider.OPENAI).update(enabled=False)
    with pytest.raises(PoolExhausted):
        complete(messages=MESSAGES, max_tokens=50)

    samples = scrape(client)
    org = {"provider": "groq", "organization": "org_real", "model": MODEL}
    assert value(samples, "cosmosquest_pool_limit", **org, kind="rpm") == 3
    assert value(samples, "cosmosquest_pool_limit", **org, kind="rpm", source="429") == 3
    assert value(samples, "cosmosquest_pool_limit", **org, kind="tpd", source="default") == 200000
    assert value(samples, "cosmosquest_pool_budget_used", **org, kind="rpm", window="minute") == 3
    assert value(samples, "cosmosquest_pool_budget_used", **org, kind="rpd", window="day") == 3
    assert value(samples, "cosmosquest_pool_headroom_ratio", **org) == 0
    assert value(samples, "cosmosquest_pool_reservations", **org) == 0
    assert value(samples, "cosmosquest_pool_attempts_total", **org, outcome="success") == 3
    assert value(samples, "cosmosquest_pool_attempts_total", **org, outcome="rate_limited") == 1
    assert value(samples, "cosmosquest_pool_admissions_total", **org) == 4
    assert value(samples, "cosmosquest_pool_refusals_total", **org, limit="rpm") == 1
    assert value(samples, "cosmosquest_pool_exhausted_total", provider="groq", model=MODEL) == 1
    assert value(samples, "cosmosquest_pool_openai_fallbacks_total", provider="openai") == 1
    cooling = value(samples, "cosmosquest_pool_cooldowns", **org, reason="rate_limit", scope="organization")
    assert cooling == 1
    assert 0 < value(samples, "cosmosquest_pool_cooldown_remaining_seconds", **org, reason="rate_limit") <= 60
    assert value(samples, "cosmosquest_pool_keys", provider="groq", state="cooling") == 1
    assert value(samples, "cosmosquest_pool_keys", provider="groq", state="disabled") == 2
    assert value(samples, "cosmosquest_pool_keys_disabled", provider="groq", reason="auth") == 1
    assert value(samples, "cosmosquest_pool_keys_disabled", provider="groq", reason="admin") == 1
    assert value(samples, "cosmosquest_pool_status", status="down") == 1
    assert value(samples, "cosmosquest_pool_status", status="ok") == 0
    assert value(samples, "cosmosquest_pool_provider_remaining", **org, count="requests") > 0
    # This process's latency histogram of complete(): three served by Groq.
    assert value(samples, "cosmosquest_pool_complete_seconds_count", provider="groq", result="served") \
        == served_before + 3
    assert value(samples, "cosmosquest_pool_complete_seconds_count", provider="none", result="exhausted") >= 1


def test_a_reservation_shows_as_calls_waiting_and_the_wait_they_hold(client, told_nothing):
    from keymanager.ledger import Cost, Ledger
    from keymanager.models import Budget

    now = time.time()
    ledger = Ledger()
    for n, at in enumerate((now - 1, now + 5, now + 9)):
        ledger.admit(at, Cost(input=100), ledger.limits({}), token=f"call{n}", deadline=at + 25)
    Budget.objects.create(provider="groq", organization="org_real", model=MODEL, state=ledger.dumps())
    samples = scrape(client)
    org = {"provider": "groq", "organization": "org_real", "model": MODEL}
    assert value(samples, "cosmosquest_pool_reservations", **org) == 2
    assert 8 <= value(samples, "cosmosquest_pool_reservation_wait_seconds", **org) <= 9


def test_a_scrape_with_the_database_down_is_a_503(client):
    from tests.ops.test_status_api import database_unreachable

    with database_unreachable():
        response = client.get(URL, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 503 and response["Retry-After"]
