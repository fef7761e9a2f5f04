"""Every admin page and action of the key pool, with keys in every state; no secret anywhere."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse
from django.utils import timezone
from model_bakery import baker

from keymanager.ledger import HEADER, REFUSAL, Cost, Ledger
from keymanager.models import (
    Budget,
    Cooldown,
    Incident,
    Key,
    Limit,
    OrganizationChange,
    OrganizationSource,
    Outcome,
    Provider,
    UsageLog,
)
from keymanager.services.keys import key_add, key_disable
from keymanager.services.outcomes import cool_down
from keymanager.services.rollups import rollup_usage
from tests.conftest import MODEL, make_secret

pytestmark = pytest.mark.django_db


class EveryState:
    """Keys available, cooling (own and organization cooldown), disabled by an admin and by
    the provider (401), an OpenAI key; usage in every outcome; an open incident."""

    def __init__(self):
        self.secrets: dict[int, str] = {}
        now = timezone.now()

        def add(name, provider=Provider.GROQ, org="org_a"):
            secret = make_secret(provider)
            key = key_add(provider=provider, name=name, secret=secret, organization=org)
            self.secrets[key.pk] = secret
            return key

        self.available = add("available-key")
        self.cooling = add("cooling-key", org="org_b")
        self.org_cooling = add("org-cooling-key", org="org_c")
        self.disabled = add("disabled-key")
        self.refused = add("refused-key", org="org_d")
        self.openai = add("openai-key", Provider.OPENAI, "openai_org")
        cool_down(provider="groq", key_id=self.cooling.pk, reason="errors", seconds=600, detail="3 errors")
        cool_down(provider="groq", organization="org_c", model="openai/gpt-oss-20b", reason="rate_limit", seconds=90)
        key_disable(key_id=self.disabled.pk, reason="rotating")
        Key.objects.filter(pk=self.refused.pk).update(
            enabled=False, disabled_reason="Provider refused the key (401 invalid_api_key)", disabled_code="auth",
            disabled_at=now,
        )
        rows = []
        for i, (outcome, key) in enumerate(
            [
                (Outcome.SUCCESS, self.available),
                (Outcome.SUCCESS, self.openai),
                (Outcome.RATE_LIMITED, self.org_cooling),
                (Outcome.ERROR, self.cooling),
                (Outcome.AUTH_FAILED, self.refused),
                (Outcome.PENDING, self.available),
                (Outcome.DECOMMISSIONED, self.available),
            ]
        ):
            rows.append(
                UsageLog(
                    request_id=uuid.uuid4(),
                    key=key,
                    provider=key.provider,
                    organization=key.organization,
                    model="openai/gpt-oss-20b",
                    purpose="quest",
                    quest=1 + i % 5,
                    outcome=outcome,
                    http_status=200 if outcome == Outcome.SUCCESS else 500,
                    prompt_tokens=100,
                    completion_tokens=50,
                    total_tokens=150,
                    budget_tokens=150,
                    latency_ms=300 + i,
                    created_at=now - timedelta(minutes=5 + i),
                    finished_at=now - timedelta(minutes=5 + i) if outcome != Outcome.PENDING else None,
                )
            )
        # An older call with a key switch, in a closed hour that the rollups cover.
        old = now - timedelta(hours=5)
        request = uuid.uuid4()
        for attempt, outcome in ((1, Outcome.RATE_LIMITED), (2, Outcome.SUCCESS)):
            rows.append(
                UsageLog(
                    request_id=request,
                    key=self.available,
                    provider="groq",
                    organization="org_a",
                    model="openai/gpt-oss-20b",
                    outcome=outcome,
                    attempt=attempt,
                    total_tokens=100 if outcome == Outcome.SUCCESS else 0,
                    budget_tokens=100,
                    latency_ms=800,
                    created_at=old,
                    finished_at=old,
                )
            )
        UsageLog.objects.bulk_create(rows)
        UsageLog.objects.filter(outcome=Outcome.AUTH_FAILED).update(finished_at=now)
        rollup_usage()
        self.incident = Incident.objects.create(kind="key_auth", subject=str(self.refused.pk), summary="refused key")
        # A ceiling, and budgets whose limits came from every source the pool knows.
        self.ceiling = baker.make(Limit, provider="groq", organization="", model=MODEL, rpm=25, rpd=None, tpm=None, tpd=None)
        ledger = Ledger()
        ledger.learn("tpm", 12000, HEADER, now.timestamp())
        ledger.learn("tpd", 150000, REFUSAL, now.timestamp())
        ledger.ceilings = {"rpm": 25}
        ledger.admit(now.timestamp() - 5, Cost(input=300), ledger.limits({}))
        self.budget = baker.make(Budget, provider="groq", organization="org_a", model=MODEL, state=ledger.dumps())
        self.change = baker.make(
            OrganizationChange, key=self.available, provider="groq", from_organization="key-abc",
            to_organization="org_a", source=OrganizationSource.PROVIDER, detail="named by a 429",
        )

    def assert_no_secret(self, text: str) -> None:
        for key_id, secret in self.secrets.items():
            assert secret not in text, f"secret of key {key_id} leaked"
            assert secret[4:20] not in text and secret[-20:-4] not in text


@pytest.fixture
def every_state(db):
    return EveryState()


def _admin_urls(every_state) -> list[str]:
    k = every_state.available
    log = UsageLog.objects.first()
    cooldown = Cooldown.objects.first()
    limit = Limit.objects.first()
    urls = [
        reverse("admin:index"),
        reverse("admin:app_list", args=["keymanager"]),
        reverse("api-dashboard"),
        reverse("api-dashboard") + "?fragment=1",
        reverse("admin:keymanager_key_changelist"),
        reverse("admin:keymanager_key_add"),
        reverse("admin:keymanager_key_history", args=[k.pk]),
        reverse("admin:keymanager_key_delete", args=[k.pk]),
        reverse("admin:keymanager_cooldown_changelist"),
        reverse("admin:keymanager_cooldown_change", args=[cooldown.pk]),
        reverse("admin:keymanager_usagelog_changelist"),
        reverse("admin:keymanager_usagelog_changelist") + f"?request_id={log.request_id}",
        reverse("admin:keymanager_usagelog_changelist") + "?within=24h&outcome=success",
        reverse("admin:keymanager_usagelog_change", args=[log.pk]),
        reverse("admin:keymanager_limit_changelist"),
        reverse("admin:keymanager_limit_change", args=[limit.pk]),
        reverse("admin:keymanager_limit_add"),
        reverse("admin:keymanager_budget_changelist"),
        reverse("admin:keymanager_budget_change", args=[every_state.budget.pk]),
        reverse("admin:keymanager_organizationchange_changelist"),
        reverse("admin:keymanager_incident_changelist"),
        reverse("admin:keymanager_incident_change", args=[every_state.incident.pk]),
        reverse("admin:admin_logentry_changelist"),
    ]
    for key in Key.objects.all():
        urls.append(reverse("admin:keymanager_key_change", args=[key.pk]))
    for state in ("available", "cooling", "disabled"):
        urls.append(reverse("admin:keymanager_key_changelist") + f"?state={state}")
    urls.append(reverse("admin:keymanager_key_changelist") + "?q=cooling&o=5")
    urls.append(reverse("admin:keymanager_key_changelist") + "?organization=org_a&provider__exact=groq")
    return urls


def test_it_renders_every_admin_page_without_a_secret(admin_client, every_state):
    for url in _admin_urls(every_state):
        response = admin_client.get(url)
        assert response.status_code == 200, url
        every_state.assert_no_secret(response.content.decode())


def test_the_key_list_shows_states_usage_and_countdowns(admin_client, every_state):
    html = admin_client.get(reverse("admin:keymanager_key_changelist")).content.decode()
    assert "cq-badge-available" in html and "cq-badge-cooling" in html and "cq-badge-disabled" in html
    assert "data-until=" in html  # live countdown
    assert "rotating" in html and "Provider refused the key" in html
    assert every_state.available.masked in html
    assert "keymanager/countdown.js" in html


def test_the_state_filter_selects_keys_by_state(admin_client, every_state):
    url = reverse("admin:keymanager_key_changelist")
    cooling = admin_client.get(url + "?state=cooling").context["cl"].result_list
    assert {k.name for k in cooling} == {"cooling-key", "org-cooling-key"}
    disabled = admin_client.get(url + "?state=disabled").context["cl"].result_list
    assert {k.name for k in disabled} == {"disabled-key", "refused-key"}
    available = admin_client.get(url + "?state=available").context["cl"].result_list
    assert {k.name for k in available} == {"available-key", "openai-key"}


def test_search_is_by_name_only(admin_client, every_state):
    url = reverse("admin:keymanager_key_changelist")
    assert len(admin_client.get(url + "?q=cooling").context["cl"].result_list) == 2
    tail = every_state.available.masked[-4:]
    assert len(admin_client.get(url + f"?q={tail}").context["cl"].result_list) == 0


def _action(client, action, keys):
    return client.post(
        reverse("admin:keymanager_key_changelist"),
        {"action": action, "_selected_action": [k.pk for k in keys]},
        follow=True,
    )


def test_enable_disable_and_clear_cooldown_actions_are_logged(admin_client, every_state, admin_user):
    response = _action(admin_client, "disable_keys", [every_state.available])
    assert "Disabled 1 key(s)" in response.content.decode()
    key = Key.objects.get(pk=every_state.available.pk)
    assert not key.enabled and "admin" in key.disabled_reason
    _action(admin_client, "enable_keys", [every_state.available, every_state.disabled])
    assert Key.objects.filter(pk__in=[every_state.available.pk, every_state.disabled.pk], enabled=True).count() == 2
    response = _action(admin_client, "clear_cooldowns", [every_state.cooling, every_state.org_cooling])
    assert "Cleared the cooldowns of 2 key(s)" in response.content.decode()
    assert not Cooldown.objects.active().exists()
    entries = LogEntry.objects.filter(user=admin_user, object_id=str(every_state.available.pk))
    assert [e.change_message for e in entries.order_by("action_time")] == ["Disabled.", "Enabled."]
    history = admin_client.get(reverse("admin:keymanager_key_history", args=[every_state.available.pk]))
    assert "Disabled." in history.content.decode()


def test_renumber_action_orders_keys_per_provider(admin_client, every_state):
    Key.objects.filter(pk=every_state.available.pk).update(order=40)
    _action(admin_client, "renumber_keys", [every_state.available])
    orders = list(Key.objects.filter(provider="groq").order_by("order").values_list("order", flat=True))
    assert orders == list(range(1, len(orders) + 1))


def test_order_is_editable_in_the_list(admin_client, every_state):
    keys = list(Key.objects.order_by("provider", "order", "id"))
    data = {
        "form-TOTAL_FORMS": str(len(keys)),
        "form-INITIAL_FORMS": str(len(keys)),
        "_save": "Save",
    }
    for i, key in enumerate(keys):
        data[f"form-{i}-id"] = str(key.pk)
        data[f"form-{i}-order"] = str(100 - i)
    response = admin_client.post(reverse("admin:keymanager_key_changelist"), data)
    assert response.status_code == 302
    assert Key.objects.get(pk=keys[0].pk).order == 100


def test_test_action_reports_the_result_with_message_user(admin_client, pool_factory):
    pool = pool_factory(orgs=2)
    good, revoked = pool.keys
    pool.stub.revoke(pool.secrets[revoked.pk])
    response = _action(admin_client, "test_keys", [good, revoked])
    html = response.content.decode()
    assert "Groq-1: OK" in html  # the message list capitalizes
    assert "Groq-2: auth_failed (401)" in html
    assert not Key.objects.get(pk=revoked.pk).enabled
    for secret in pool.secrets.values():
        assert secret not in html


def test_change_page_buttons_run_the_services(admin_client, every_state):
    url = reverse("admin:keymanager_key_operation", args=[every_state.cooling.pk, "clear-cooldowns"])
    assert admin_client.get(url).status_code == 405
    response = admin_client.post(url, follow=True)
    assert response.status_code == 200
    assert not Cooldown.objects.active().filter(key=every_state.cooling).exists()
    response = admin_client.post(reverse("admin:keymanager_key_operation", args=[every_state.cooling.pk, "disable"]))
    assert response.status_code == 302 and not Key.objects.get(pk=every_state.cooling.pk).enabled
    assert admin_client.post(reverse("admin:keymanager_key_operation", args=[every_state.cooling.pk, "explode"])).status_code == 404


def test_log_tables_are_read_only(admin_client, every_state):
    log = UsageLog.objects.first()
    assert admin_client.get(reverse("admin:keymanager_usagelog_add")).status_code == 403
    assert admin_client.post(reverse("admin:keymanager_usagelog_delete", args=[log.pk])).status_code == 403
    page = admin_client.get(reverse("admin:keymanager_usagelog_change", args=[log.pk])).content.decode()
    assert "attempts of this call" in page.lower() and 'name="_save"' not in page
    assert admin_client.get(reverse("admin:keymanager_cooldown_add")).status_code == 403


def test_the_usage_log_groups_attempts_by_request_id(admin_client, every_state):
    switched = UsageLog.objects.filter(attempt=2).get()
    url = reverse("admin:keymanager_usagelog_changelist") + f"?request_id={switched.request_id}"
    rows = admin_client.get(url).context["cl"].result_list
    assert sorted(r.attempt for r in rows) == [1, 2]


def test_limits_are_editable(admin_client, every_state):
    limit = every_state.ceiling
    url = reverse("admin:keymanager_limit_change", args=[limit.pk])
    response = admin_client.post(
        url, {"provider": limit.provider, "organization": "", "model": limit.model, "rpm": 60, "rpd": 2000, "tpm": 9000, "tpd": ""}
    )
    assert response.status_code == 302
    limit.refresh_from_db()
    assert (limit.rpm, limit.tpd) == (60, None)
    # The new ceiling reached the budgets it caps at once.
    every_state.budget.refresh_from_db()
    assert Ledger.loads(every_state.budget.state).ceilings == {"rpm": 60, "rpd": 2000, "tpm": 9000}


def test_the_budget_page_shows_each_limit_with_its_source_and_time(admin_client, every_state):
    html = admin_client.get(reverse("admin:keymanager_budget_changelist")).content.decode()
    assert "admin ceiling" in html  # RPM 25
    assert "12,000" in html and "x-ratelimit header" in html  # TPM
    assert "150,000" in html and "429 body" in html  # TPD
    assert "1,000" in html and "shipped default" in html  # RPD: the first guess
    assert f"{timezone.now():%Y-%m-%d}" in html


def test_organization_changes_are_listed(admin_client, every_state):
    html = admin_client.get(reverse("admin:keymanager_organizationchange_changelist")).content.decode()
    assert "key-abc" in html and "org_a" in html and "Named by the provider" in html


def test_pages_need_a_staff_login(client, every_state):
    response = client.get(reverse("api-dashboard"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert client.get(reverse("admin:keymanager_key_changelist")).status_code == 302
