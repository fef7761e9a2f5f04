"""django-q2 tasks in sync mode: alerts once per incident, probes, rollups, reports, schedules."""

from __future__ import annotations

import io
import uuid
from datetime import timedelta

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone
from django_q.models import Schedule
from django_q.tasks import async_task, result

from keymanager import tasks
from keymanager.models import Budget, Cooldown, Incident, Key, Outcome, UsageLog
from keymanager.selectors import budget_usage
from keymanager.services import alerts
from keymanager.services.keys import key_add, key_enable
from keymanager.services.outcomes import cool_down
from keymanager.services.probes import keys_to_probe
from tests.conftest import make_secret

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _admins(settings):
    settings.ADMINS = [("Ops", "ops@example.com")]


def _run(name: str, *args):
    """Through the cluster's own entry point (sync in tests), by dotted name like a schedule."""
    task_id = async_task(f"keymanager.tasks.{name}", *args, sync=True)
    return result(task_id)


def test_it_alerts_once_when_every_groq_key_is_down_and_once_when_it_recovers():
    a = key_add(provider="groq", name="a", secret=make_secret(), organization="org_a")
    b = key_add(provider="groq", name="b", secret=make_secret(), organization="org_b")
    _run("check_alerts")
    assert mail.outbox == []
    cool_down(provider="groq", key_id=a.pk, reason="errors", seconds=900)
    cool_down(provider="groq", organization="org_b", reason="rate_limit", seconds=3600)
    for _ in range(3):
        _run("check_alerts")
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert "No Groq key can serve" in message.subject and message.to == ["ops@example.com"]
    assert "a (" in message.body and "b (" in message.body
    assert Incident.objects.get().is_open
    Cooldown.objects.filter(key=a).update(ends_at=timezone.now())
    _run("check_alerts")
    _run("check_alerts")
    assert len(mail.outbox) == 2 and mail.outbox[1].subject.startswith("[Django] Resolved: No Groq key")
    incident = Incident.objects.get()
    assert not incident.is_open and incident.recovery_notified_at
    for secret in (a.secret, b.secret):
        assert all(secret not in m.body for m in mail.outbox)
    # A new outage is a new incident with its own mail.
    Key.objects.update(enabled=False)
    _run("check_alerts")
    assert Incident.objects.count() == 2 and len(mail.outbox) == 3


def test_short_cooldowns_are_not_an_outage():
    a = key_add(provider="groq", name="a", secret=make_secret())
    cool_down(provider="groq", key_id=a.pk, reason="rate_limit", seconds=5)
    alerts.check_alerts()
    assert not Incident.objects.exists() and mail.outbox == []


def test_a_key_refused_by_the_provider_is_alerted_once_until_re_enabled(pool_factory):
    pool = pool_factory(orgs=2)
    good, revoked = pool.keys
    pool.stub.revoke(pool.secrets[revoked.pk])
    from keymanager.services.keys import key_test

    assert not key_test(key_id=revoked.pk).ok
    tasks.check_alerts()
    tasks.check_alerts()
    assert len(mail.outbox) == 1 and "refused" in mail.outbox[0].subject
    assert pool.secrets[revoked.pk] not in mail.outbox[0].body
    key_enable(key_id=revoked.pk)
    tasks.check_alerts()
    assert len(mail.outbox) == 2 and "re-enabled" in mail.outbox[1].body


def test_a_decommissioned_model_is_alerted_once():
    key = key_add(provider="groq", name="a", secret=make_secret())
    for _ in range(3):
        UsageLog.objects.create(
            request_id=uuid.uuid4(), key=key, provider="groq", organization=key.organization,
            model="llama3-70b-8192", outcome=Outcome.DECOMMISSIONED, http_status=400,
        )  # fmt: skip
    tasks.check_alerts()
    tasks.check_alerts()
    assert len(mail.outbox) == 1 and "llama3-70b-8192 is decommissioned" in mail.outbox[0].subject
    UsageLog.objects.update(created_at=timezone.now() - timedelta(hours=2))
    tasks.check_alerts()
    assert len(mail.outbox) == 2 and "Resolved" in mail.outbox[1].subject


def test_a_spend_cap_is_alerted():
    key_add(provider="groq", name="a", secret=make_secret(), organization="org_a")
    key_add(provider="groq", name="b", secret=make_secret(), organization="org_b")
    cool_down(provider="groq", organization="org_a", reason="spend_cap", seconds=3600)
    tasks.check_alerts()
    assert [m.subject for m in mail.outbox] == ["[Django] Organization org_a reached its spend cap"]


def test_a_failed_mail_is_retried_by_the_next_check(monkeypatch):
    key = key_add(provider="groq", name="a", secret=make_secret())
    Key.objects.filter(pk=key.pk).update(enabled=False)

    def broken(*args, **kwargs):
        raise OSError("smtp down")

    monkeypatch.setattr(alerts, "mail_admins", broken)
    alerts.check_alerts()
    assert Incident.objects.get().notified_at is None
    monkeypatch.undo()
    alerts.check_alerts()
    assert Incident.objects.get().notified_at is not None and len(mail.outbox) == 1


def test_the_incident_constraint_allows_one_open_incident_per_subject():
    from django.db import IntegrityError, transaction

    Incident.objects.create(kind="provider_down", subject="groq", summary="x")
    with pytest.raises(IntegrityError), transaction.atomic():
        Incident.objects.create(kind="provider_down", subject="groq", summary="y")
    Incident.objects.update(resolved_at=timezone.now())
    Incident.objects.create(kind="provider_down", subject="groq", summary="z")


def test_probe_calls_keys_whose_cooldown_ended_once(pool_factory):
    pool = pool_factory(orgs=2)
    a, b = pool.keys
    cool_down(provider="groq", key_id=a.pk, reason="errors", seconds=60)
    assert keys_to_probe() == []  # still cooling
    Cooldown.objects.update(ends_at=timezone.now() - timedelta(seconds=1))
    assert keys_to_probe() == [a.pk]
    assert _run("probe_cooled_keys") == [a.pk]  # enqueues probe_key(a.pk), run at once in sync mode
    log = UsageLog.objects.get(key=a)
    assert log.purpose == "probe" and log.outcome == Outcome.SUCCESS
    # Fresh headroom: the probe's reply told the budget what the provider has left.
    assert budget_usage(Budget.objects.get(organization=a.organization)).reported_remaining_requests is not None
    assert keys_to_probe() == []
    assert _run("probe_key", a.pk).startswith("skipped")
    assert UsageLog.objects.filter(key=a).count() == 1


def test_tasks_take_ids_never_secrets(pool_factory):
    from django_q.models import Task

    pool = pool_factory(orgs=1)
    (key,) = pool.keys
    cool_down(provider="groq", key_id=key.pk, reason="errors", seconds=1)
    Cooldown.objects.update(ends_at=timezone.now() - timedelta(seconds=1))
    _run("probe_cooled_keys")
    for task in Task.objects.all():
        assert pool.secrets[key.pk] not in repr(task.args) + repr(task.kwargs) + repr(task.result)
        assert key.secret_encrypted not in repr(task.args)


def test_rollup_and_prune_tasks():
    key = key_add(provider="groq", name="a", secret=make_secret())
    old = timezone.now() - timedelta(days=40)
    UsageLog.objects.create(
        request_id=uuid.uuid4(), key=key, provider="groq", organization=key.organization, model="m",
        outcome=Outcome.SUCCESS, created_at=old,
    )  # fmt: skip
    assert _run("rollup_usage") > 0
    assert _run("prune_usage") == {"usage_logs": 1, "cooldowns": 0}
    assert not UsageLog.objects.exists()


def test_daily_report_mails_admins_the_usage_table():
    key = key_add(provider="groq", name="main-key", secret=make_secret())
    UsageLog.objects.create(
        request_id=uuid.uuid4(), key=key, provider="groq", organization=key.organization, model="m",
        outcome=Outcome.SUCCESS, total_tokens=321, latency_ms=250,
    )  # fmt: skip
    _run("send_daily_report")
    (message,) = mail.outbox
    assert "usage report" in message.subject and "main-key" in message.body and "TOTAL" in message.body
    assert key.secret not in message.body


def test_ensure_schedules_is_idempotent_and_keeps_timeouts_below_retry(settings):
    first = tasks.ensure_schedules()
    Schedule.objects.filter(name=first[0].name).update(minutes=99)
    second = tasks.ensure_schedules()
    assert [s.pk for s in first] == [s.pk for s in second]
    assert Schedule.objects.filter(func__startswith="keymanager.").count() == len(tasks.SCHEDULES)
    assert Schedule.objects.get(name=first[0].name).minutes == 1
    assert tasks.TASK_TIMEOUT < settings.Q_CLUSTER["timeout"] < settings.Q_CLUSTER["retry"]
    for schedule in second:
        assert "timeout" in schedule.kwargs


def test_schedules_setup_command_creates_the_pool_and_game_schedules():
    out = io.StringIO()
    call_command("schedules_setup", stdout=out)
    call_command("schedules_setup", stdout=io.StringIO())
    names = set(Schedule.objects.values_list("name", flat=True))
    assert {s[0] for s in tasks.SCHEDULES} <= names
    assert Schedule.objects.count() == len(names)  # no duplicates
    assert "Schedules are up to date." in out.getvalue()
