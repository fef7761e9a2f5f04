"""No plaintext API key anywhere after a full run: database dumps (SQLite `.dump`, `pg_dump`),
django-q2's task tables (in the dumps), every log record (SQL with its parameters included),
every admin page, /api/status for every caller, command output, mails, and the error page and
error mail of a deliberately failing request. Then rotation: every row re-encrypted, the old
encryption key removed, the pool still serving; a wrong key fails closed."""

from __future__ import annotations

import io
import logging
import shutil
import sqlite3
import subprocess

import pytest
from cryptography.fernet import Fernet
from django.contrib import admin
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import NoReverseMatch, reverse
from django_q.tasks import async_task

from keymanager import crypto
from keymanager.models import Key, Outcome, Provider, UsageLog
from keymanager.services import PoolExhausted, complete
from keymanager.services.errors import PoolMisconfigured
from keymanager.services.providers import forget_clients
from tests.conftest import make_secret
from tests.ops.test_security_access import staff_urls

ROOMY = {"rpm": 1000, "rpd": 100000, "tpm": 1000000, "tpd": 10000000}
STATUS_TOKEN = "status-token-for-the-secrets-scan-0123456789"
MALFORMED_200 = {"status": 200, "body": {"unexpected": True}}


class Capture(logging.Handler):
    """Every record, formatted with its traceback, as the console handler would print it."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(self.format(record))


@pytest.fixture
def captured_logs():
    handler = Capture()
    root = logging.getLogger()
    sql = logging.getLogger("django.db.backends")
    old = (root.level, sql.level, connection.force_debug_cursor)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    sql.setLevel(logging.DEBUG)
    connection.force_debug_cursor = True  # log every SQL statement with its parameters
    yield handler
    root.removeHandler(handler)
    root.setLevel(old[0])
    sql.setLevel(old[1])
    connection.force_debug_cursor = old[2]


def database_dump() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        if shutil.which("sqlite3"):
            return subprocess.run(["sqlite3", db["NAME"], ".dump"], capture_output=True, text=True, check=True).stdout
        with sqlite3.connect(db["NAME"]) as raw:
            return "\n".join(raw.iterdump())
    if connection.vendor == "postgresql":
        if not shutil.which("pg_dump"):
            pytest.skip("pg_dump is not installed")
        env = {"PGPASSWORD": db.get("PASSWORD") or ""}
        args = ["pg_dump", "--no-owner", "-h", db.get("HOST") or "127.0.0.1", "-p", str(db.get("PORT") or 5432),
                "-U", db.get("USER") or "postgres", db["NAME"]]
        return subprocess.run(args, capture_output=True, text=True, check=True, env=env).stdout
    pytest.skip(f"no dump tool for {connection.vendor}")


def admin_pages(client: Client) -> dict[str, str]:
    """Every staff page, and the change page of up to five objects of each registered model."""
    first = Key.objects.order_by("pk").first()
    urls = staff_urls(first.pk)
    urls.remove(reverse("admin:keymanager_key_operation", args=[first.pk, "disable"]))  # a POST-only action
    for model in admin.site._registry:
        opts = model._meta
        for pk in model.objects.order_by("pk").values_list("pk", flat=True)[:5]:
            try:
                urls.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[pk]))
            except NoReverseMatch:
                continue
    for key in Key.objects.all():
        urls.append(reverse("admin:keymanager_key_change", args=[key.pk]))
    pages = {}
    for url in urls:
        response = client.get(url)
        assert response.status_code in (200, 302, 403), (url, response.status_code)  # 403: add is off for logs
        pages[url] = response.content.decode()
    return pages


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_no_plaintext_key_anywhere_after_a_full_run(pool_factory, settings, admin_user, captured_logs, monkeypatch):
    settings.ADMINS = [("Ops", "ops@example.org")]
    settings.STATUS_TOKEN = STATUS_TOKEN
    settings.KEYMANAGER = {**settings.KEYMANAGER, "request_timeout": 1.0}
    pool = pool_factory(orgs=2, keys_per_org=2, openai_keys=1, limits=ROOMY, seed=11)
    secrets = dict(pool.secrets)
    artifacts: dict[str, str] = {}
    staff = Client(raise_request_exception=False)
    staff.force_login(admin_user)

    # Keys enter by every door: the admin form, the environment, the command's stdin.
    admin_secret = make_secret()
    response = staff.post(reverse("admin:keymanager_key_add"), {
        "provider": Provider.GROQ, "name": "from-admin", "secret": admin_secret, "organization": "org_a", "order": 9,
        "enabled": "on"})
    assert response.status_code == 302, response.content.decode()[:2000]
    pool.stub.add_key("org_a", admin_secret)
    env_secret = make_secret()
    monkeypatch.setenv("GROQ_API_KEY7", env_secret)
    out = io.StringIO()
    call_command("keys", "import-env", stdout=out, stderr=out)
    pool.stub.add_key("org_b", env_secret)
    stdin_secret = make_secret()
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin_secret + "\n"))
    call_command("keys", "add", "--organization", "org_b", stdout=out, stderr=out)
    pool.stub.add_key("org_b", stdin_secret)
    for secret in (admin_secret, env_secret, stdin_secret):
        key = next(k for k in Key.objects.all() if crypto.decrypt(k.secret_encrypted) == secret)
        secrets[key.pk] = secret
    forget_clients()

    # A run with faults, a key revoked at the provider, and the OpenAI fallback.
    pool.stub.set_faults(error_rate=0.1, reset_rate=0.05)
    pool.stub.revoke(secrets[pool.keys[0].pk])
    served = 0
    for i in range(20):
        try:
            complete(messages=[{"role": "user", "content": f"call {i}"}], max_tokens=20, quest=i % 5 + 1)
            served += 1
        except PoolExhausted:
            pass
    assert served > 0
    pool.stub.set_faults()
    # Every admin action, and django-q2 tasks whose arguments and results land in its tables.
    all_keys = list(Key.objects.values_list("pk", flat=True))
    staff.post(reverse("admin:keymanager_key_changelist"), {"action": "test_keys", "_selected_action": all_keys})
    for task in ("keymanager.tasks.check_alerts", "keymanager.tasks.rollup_usage", "keymanager.tasks.send_daily_report"):
        async_task(task)
    for pk in all_keys:
        async_task("keymanager.tasks.probe_key", pk)
    for command in (("keys", "list"), ("keys", "list", "--format", "json"), ("keys", "status"), ("usage_report",)):
        try:
            call_command(*command, stdout=out, stderr=out)
        except SystemExit:
            pass  # `keys status` exits non-zero while a key is down: that is its job
    artifacts["command output"] = out.getvalue()

    # A deliberately failing request: the provider answers 200 with a body that is no completion.
    victim = Key.objects.filter(provider=Provider.GROQ, enabled=True).order_by("pk").first()
    pool.stub.enqueue(MALFORMED_200, key=secrets[victim.pk])
    failing = staff.post(reverse("admin:keymanager_key_operation", args=[victim.pk, "test"]))
    artifacts["error page (DEBUG off)"] = f"{failing.status_code} {failing.content.decode()}"

    # What an operator or an attacker could read afterwards.
    artifacts.update({f"admin page {url}": html for url, html in admin_pages(staff).items()})
    artifacts["/api/status anonymous"] = Client().get("/api/status").content.decode()
    artifacts["/api/status staff"] = staff.get("/api/status").content.decode()
    artifacts["/api/status token"] = Client().get(
        "/api/status", HTTP_AUTHORIZATION=f"Bearer {STATUS_TOKEN}").content.decode()
    artifacts["/api/status bad token"] = Client().get("/api/status", HTTP_AUTHORIZATION="Bearer x").content.decode()
    for path in ("/", "/leaderboard/", "/accounts/login/"):
        artifacts[f"page {path}"] = Client().get(path).content.decode()
    artifacts["mail"] = "\n".join(
        f"{m.subject}\n{m.body}\n" + "\n".join(str(a[0]) for a in getattr(m, "alternatives", [])) for m in mail.outbox)
    artifacts["logs"] = "\n".join(captured_logs.lines)
    artifacts["database dump"] = database_dump()
    assert "django_q_task" in artifacts["database dump"]

    found = [(name, pk) for name, text in artifacts.items() for pk, secret in secrets.items()
             if secret in text or secret[8:] in text]
    size = sum(len(text) for text in artifacts.values())
    print(f"\n[{connection.vendor}] secrets scan: {len(secrets)} keys, {len(artifacts)} artifacts, "
          f"{size:,} characters, {len(captured_logs.lines)} log records, {len(mail.outbox)} mails, found {len(found)}")
    assert found == []
    # The scan saw the real things: the dump holds every key's ciphertext and masked tail.
    for pk in secrets:
        key = Key.objects.get(pk=pk)
        assert key.secret_encrypted in artifacts["database dump"]
        assert key.masked[-4:] in artifacts["database dump"]
    assert len(captured_logs.lines) > 100 and "INSERT INTO" in artifacts["logs"]

    # Rotation: a new encryption key first, every row re-encrypted, then the old key removed.
    old_keys = list(settings.KEY_ENCRYPTION_KEYS)
    new_key = Fernet.generate_key().decode()
    settings.KEY_ENCRYPTION_KEYS = [new_key, *old_keys]
    call_command("keys", "rotate-encryption", stdout=io.StringIO())
    settings.KEY_ENCRYPTION_KEYS = [new_key]
    only_new = Fernet(new_key.encode())
    rows = list(Key.objects.values_list("pk", "secret_encrypted"))
    assert all(only_new.decrypt(token.encode()).decode() == secrets[pk] for pk, token in rows)
    forget_clients()
    assert complete(messages=[{"role": "user", "content": "after rotation"}], max_tokens=20).text
    # And with only the old key the pool fails closed: a clear error, no request sent.
    settings.KEY_ENCRYPTION_KEYS = old_keys
    before = pool.stub.stats()["requests"]
    with pytest.raises(PoolMisconfigured, match="cannot be decrypted"):
        complete(messages=[{"role": "user", "content": "wrong key"}], max_tokens=20)
    assert pool.stub.stats()["requests"] == before


@pytest.mark.django_db
def test_the_debug_error_page_does_not_show_a_key(pool_factory, admin_user, settings):
    # With DEBUG on, Django's technical 500 page lists each frame's local variables; `secret`
    # in keymanager.services.providers.call/client_for holds the plaintext key.
    pool = pool_factory(orgs=1)
    key = pool.keys[0]
    pool.stub.enqueue(MALFORMED_200, key=pool.secrets[key.pk])
    settings.DEBUG = True
    client = Client(raise_request_exception=False)
    client.force_login(admin_user)
    response = client.post(reverse("admin:keymanager_key_operation", args=[key.pk, "test"]))
    assert pool.secrets[key.pk] not in response.content.decode()


@pytest.mark.django_db
def test_a_malformed_success_reply_is_a_failed_attempt_not_a_crash(pool_factory):
    pool = pool_factory(orgs=2, limits=ROOMY)
    pool.stub.enqueue(MALFORMED_200)
    result = complete(messages=[{"role": "user", "content": "hi"}], max_tokens=20)
    assert result.attempts == 2
    assert not UsageLog.objects.filter(outcome=Outcome.PENDING).exists()
