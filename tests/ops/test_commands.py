"""`manage.py keys` and `manage.py limits`, called the way operators call them."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from keymanager.models import Key, Limit
from keymanager.services import complete
from keymanager.services.outcomes import cool_down
from tests.conftest import make_secret

pytestmark = pytest.mark.django_db


def run(*args, stdin: str | None = None, monkeypatch=None) -> str:
    out = io.StringIO()
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_it_adds_a_key_from_stdin_and_never_prints_it(monkeypatch):
    secret = make_secret()
    out = run("keys", "add", "--name", "main", "--organization", "org_a", stdin=secret + "\n", monkeypatch=monkeypatch)
    key = Key.objects.get()
    assert key.name == "main" and key.organization == "org_a" and key.secret == secret
    assert secret not in out and key.masked in out


def test_it_refuses_a_malformed_key_with_a_clear_error(monkeypatch):
    with pytest.raises(CommandError, match="starts with gsk_"):
        run("keys", "add", stdin="hello-this-is-not-a-groq-key\n", monkeypatch=monkeypatch)
    assert not Key.objects.exists()


def test_import_env_is_idempotent(monkeypatch):
    secrets = {"GROQ_API_KEY": make_secret(), "GROQ_API_KEY2": make_secret(), "GROQ_API_KEY3": make_secret()}
    secrets["OPENAI_API_KEY"] = make_secret("openai")
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    out = run("keys", "import-env")
    assert "4 added, 0 already" in out
    assert all(v not in out for v in secrets.values())
    assert list(Key.objects.order_by("provider", "order").values_list("name", flat=True)) == [
        "GROQ_API_KEY",
        "GROQ_API_KEY2",
        "GROQ_API_KEY3",
        "OPENAI_API_KEY",
    ]
    assert "0 added, 4 already" in run("keys", "import-env")


def test_import_env_names_the_bad_variable_not_its_value(monkeypatch):
    monkeypatch.setenv("GROQ_API_KEY2", "oops-not-a-key-at-all-123")
    with pytest.raises(CommandError, match="GROQ_API_KEY2") as info:
        run("keys", "import-env")
    assert "oops" not in str(info.value)


def test_list_shows_masked_keys_and_states_in_every_format(monkeypatch):
    run("keys", "add", "--name", "a", stdin=make_secret(), monkeypatch=monkeypatch)
    run("keys", "add", "--name", "b", stdin=make_secret(), monkeypatch=monkeypatch)
    run("keys", "add", "--name", "c", stdin=make_secret(), monkeypatch=monkeypatch)
    a, b, c = Key.objects.order_by("name")
    run("keys", "disable", str(b.pk), "--reason", "rotating")
    cool_down(provider="groq", key_id=c.pk, reason="errors", seconds=60)
    table = run("keys", "list")
    assert "available" in table and "disabled: rotating" in table and "cooling down" in table
    data = json.loads(run("keys", "list", "--format", "json"))
    assert {row["name"]: row["state"] for row in data} == {"a": "available", "b": "disabled", "c": "cooling"}
    assert all(Key.objects.get(pk=row["id"]).secret not in json.dumps(data) for row in data)
    csv_out = run("keys", "list", "--format", "csv")
    assert csv_out.splitlines()[0].startswith("id,provider,name")


def test_enable_and_disable(monkeypatch):
    run("keys", "add", stdin=make_secret(), monkeypatch=monkeypatch)
    key = Key.objects.get()
    run("keys", "disable", str(key.pk))
    key.refresh_from_db()
    assert not key.enabled and key.disabled_reason
    run("keys", "enable", str(key.pk))
    key.refresh_from_db()
    assert key.enabled and not key.disabled_reason


def test_unknown_key_ids_are_a_clear_error():
    with pytest.raises(CommandError, match="No key with id 999"):
        run("keys", "enable", "999")
    with pytest.raises(CommandError, match="whole number"):
        run("keys", "enable", "abc")


def test_status_exits_1_when_no_groq_key_is_available(monkeypatch):
    with pytest.raises(SystemExit) as info:
        run("keys", "status")
    assert info.value.code == 1
    run("keys", "add", stdin=make_secret(), monkeypatch=monkeypatch)
    assert "available" in run("keys", "status")


def test_test_command_reports_success_and_failure(pool_factory):
    pool = pool_factory(orgs=2)
    good, revoked = pool.keys
    assert "OK" in run("keys", "test", str(good.pk))
    pool.stub.revoke(pool.secrets[revoked.pk])
    with pytest.raises(CommandError, match="auth_failed"):
        run("keys", "test", str(revoked.pk))
    revoked.refresh_from_db()
    assert not revoked.enabled


def test_limits_list_and_set(pool_factory):
    pool_factory(orgs=1)
    complete(messages=[{"role": "user", "content": "hi"}], max_tokens=10)  # the budget exists, headers learned
    out = run("limits", "list")
    # RPD and TPM from the stand-in's headers, RPM and TPD the shipped first guesses.
    assert "RPM 30 (default)" in out and "RPD 1,000 (header)" in out and "TPM 8,000 (header)" in out
    assert "Ceilings set by admins" in out and "  none" in out
    run("limits", "set", "openai/gpt-oss-20b", "--organization", "org_a", "--rpm", "20", "--tpm", "250_000")
    limit = Limit.objects.get(organization="org_a")
    assert (limit.rpm, limit.tpm, limit.rpd) == (20, 250000, None)
    out = run("limits", "list")
    assert "RPM 20 (admin)" in out and "TPM 8,000 (header)" in out  # a ceiling above the real limit caps nothing
    data = json.loads(run("limits", "list", "--format", "json"))
    assert any(row["organization"] == "org_a" for row in data["ceilings"])
    assert data["budgets"][0]["limits"]["tpm"]["source"] == "header"
    run("limits", "clear", "openai/gpt-oss-20b", "--organization", "org_a")
    assert not Limit.objects.exists() and "RPM 30 (default)" in run("limits", "list")
    with pytest.raises(CommandError, match="whole number"):
        run("limits", "set", "x", "--rpm", "lots")
    with pytest.raises(CommandError, match="at least one"):
        run("limits", "set", "x")
    with pytest.raises(CommandError, match="No such ceiling"):
        run("limits", "clear", "x")
