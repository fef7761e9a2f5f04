"""/api/status for anonymous, staff and token callers; never a secret in any answer."""

from __future__ import annotations

import json
import time
from contextlib import contextmanager

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.urls import reverse

from keymanager.models import Key
from tests.ops.test_admin_pages import EveryState

pytestmark = pytest.mark.django_db


@pytest.fixture
def every_state(db):
    return EveryState()
URL = "/api/status"
TOKEN = "status-token-for-tests-0123456789"


@pytest.fixture(autouse=True)
def _token(settings):
    settings.STATUS_TOKEN = TOKEN


def test_the_url_is_the_named_one():
    assert reverse("keymanager:status") == URL


def test_anonymous_callers_get_counts_only(client, every_state):
    response = client.get(URL)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    data = response.json()
    assert set(data) == {"status", "keys", "models", "success_rate_1h", "generated_at", "cache"}
    assert data["cache"] == {"ok": True}
    assert data["status"] == "ok" or data["status"] == "degraded"
    assert data["keys"]["groq"] == {"available": 1, "cooling": 2, "disabled": 2}
    assert data["keys"]["openai"] == {"available": 1, "cooling": 0, "disabled": 0}
    # Per model as well (only the default model has a budget here).
    assert data["models"]["openai/gpt-oss-20b"]["keys"] == {"available": 1, "cooling": 2, "disabled": 2}
    body = response.content.decode()
    every_state.assert_no_secret(body)
    for key in Key.objects.all():
        assert key.masked not in body and key.name not in body


def test_staff_sessions_get_per_key_detail(admin_client, every_state):
    response = admin_client.get(URL)
    data = response.json()
    detail = {row["name"]: row for row in data["key_detail"]}
    assert set(detail) == {k.name for k in Key.objects.all()}
    cooling = detail["cooling-key"]
    assert cooling["state"] == "cooling" and cooling["cooldown_until"] and cooling["cooldown_reason"] == "errors"
    assert detail["disabled-key"]["disabled_reason"] == "rotating"
    assert detail["available-key"]["calls_24h"] >= 3 and detail["available-key"]["success_rate_24h"] is not None
    assert detail["available-key"]["key"] == every_state.available.masked
    assert {"requests_minute", "tokens_day", "share"} <= set(detail["available-key"]["headroom"])
    every_state.assert_no_secret(response.content.decode())
    assert "Cookie" in response["Vary"]


def test_a_bearer_token_gets_detail(client, every_state):
    response = client.get(URL, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200 and len(response.json()["key_detail"]) == 6
    every_state.assert_no_secret(response.content.decode())


def test_a_wrong_token_is_refused_not_downgraded(client, every_state, settings):
    response = client.get(URL, HTTP_AUTHORIZATION="Bearer nope")
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer")
    settings.STATUS_TOKEN = ""
    assert client.get(URL, HTTP_AUTHORIZATION="Bearer ").status_code == 401


def test_non_staff_users_get_counts_only(client, django_user_model, every_state):
    user = django_user_model.objects.create_user("player", password="pw-123456789")
    client.force_login(user)
    assert "key_detail" not in client.get(URL).json()


def test_status_is_down_with_no_keys_and_degraded_on_openai_only(client, every_state):
    Key.objects.filter(provider="groq", name="available-key").update(enabled=False)
    assert client.get(URL).json()["status"] == "degraded"  # only OpenAI can serve
    Key.objects.update(enabled=False)
    assert client.get(URL).json()["status"] == "down"
    Key.objects.all().delete()
    assert client.get(URL).json()["status"] == "down"


def test_staff_without_the_view_key_permission_get_counts_only(client, django_user_model, every_state):
    # The API dashboard's rule: staff status alone is not enough to see the keys.
    user = django_user_model.objects.create_user("ops", password="pw-123456789", is_staff=True)
    client.force_login(user)
    assert "key_detail" not in client.get(URL).json()
    user.user_permissions.add(Permission.objects.get(codename="view_key", content_type__app_label="keymanager"))
    user = django_user_model.objects.get(pk=user.pk)  # a fresh permission cache
    client.force_login(user)
    assert len(client.get(URL).json()["key_detail"]) == 6
    assert client.get("/admin/api-dashboard/").status_code == 200


def test_only_get_and_head_are_allowed(client):
    assert client.post(URL).status_code == 405
    assert client.put(URL).status_code == 405


@pytest.mark.parametrize("url", [URL, "/"])
def test_head_answers_like_get_without_a_body(client, url):
    # Uptime monitors use HEAD.
    get, head = client.get(url), client.head(url)
    assert head.status_code == get.status_code == 200
    assert head["Content-Type"] == get["Content-Type"]
    assert head.content == b""


@contextmanager
def database_unreachable():
    """The default connection pointed at a database that cannot be reached (a file in a missing
    directory on SQLite, a closed port on PostgreSQL), then restored."""
    saved = dict(connection.settings_dict)
    connection.close()
    if connection.vendor == "sqlite":
        connection.settings_dict["NAME"] = "/nonexistent-cosmosquest-dir/db.sqlite3"
    else:
        connection.settings_dict.update(HOST="127.0.0.1", PORT="1")
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("caller", ["anonymous", "staff", "token"])
def test_an_unreachable_database_gives_json_503_with_retry_after(client, admin_user, caller):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"} if caller == "token" else {}
    if caller == "staff":
        client.force_login(admin_user)  # the session itself lives in the unreachable database
    with database_unreachable():
        response = client.get(URL, **headers)
        head = client.head(URL, **headers)
    assert response.status_code == 503, response.content[:300]
    assert response["Content-Type"] == "application/json"
    assert int(response["Retry-After"]) > 0
    assert "no-store" in response["Cache-Control"]
    assert response.json()["status"] == "down" and response.json()["error"] == "database unreachable"
    assert head.status_code == 503 and head.content == b""
    assert client.get(URL, **headers).status_code == 200  # back once the database is


def test_success_rate_counts_logical_calls(client, every_state):
    # Last hour: 5 finished first attempts (+1 pending, +1 in flight), 2 successes.
    data = json.loads(client.get(URL).content)
    assert 0 < data["success_rate_1h"] < 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_connection_the_server_dropped_is_replaced_at_the_next_request(client):
    """PostgreSQL closes idle connections (restarts, idle timeouts, failovers). With
    CONN_MAX_AGE, the next request must not inherit the dead connection: CONN_HEALTH_CHECKS makes
    Django test it at the start of each request (what request_started's close_old_connections does)."""
    import psycopg
    from django.db import close_old_connections

    assert client.get(URL).status_code == 200
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    db = connection.settings_dict
    with psycopg.connect(host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"] or "postgres",
                         password=db["PASSWORD"] or None, dbname=db["NAME"], autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
        for _ in range(100):
            if not other.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone():
                break
            time.sleep(0.05)
    close_old_connections()  # the start of the next request, as the WSGI handler signals it
    response = client.get(URL)
    assert response.status_code == 200, response.content[:300]
