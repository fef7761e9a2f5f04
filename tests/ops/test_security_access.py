"""Who may see what: staff-only pages, CSRF on every form, security headers, login throttling,
and the /api/status token."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from keymanager import views as status_views
from keymanager.services.keys import key_add
from tests.conftest import make_secret

pytestmark = pytest.mark.django_db

PASSWORD = "orbit-velocity-42-secure"


def staff_urls(key_id: int) -> list[str]:
    """Every admin page a staff member can open: index, each registered model's list and add
    pages, each app index, the key's change page and operations, and the API dashboard."""
    urls = [reverse("admin:index"), reverse("api-dashboard"), "/admin/api-dashboard/?fragment=1"]
    apps = set()
    for model in admin.site._registry:
        opts = model._meta
        apps.add(opts.app_label)
        urls.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        urls.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_add"))
    urls += [reverse("admin:app_list", args=[label]) for label in sorted(apps)]
    urls.append(reverse("admin:keymanager_key_change", args=[key_id]))
    urls.append(reverse("admin:keymanager_key_operation", args=[key_id, "disable"]))
    return urls


@pytest.fixture
def key():
    return key_add(provider="groq", name="k", secret=make_secret(), organization="org_a")


@pytest.fixture
def player_user():
    return User.objects.create_user("vega", password=PASSWORD)


def test_it_refuses_every_staff_page_to_anonymous_callers(client, key):
    for url in staff_urls(key.pk):
        for method in (client.get, client.post):
            response = method(url)
            assert response.status_code in (302, 403, 405), (method.__name__, url, response.status_code)
            if response.status_code == 302:
                assert response["Location"].startswith("/admin/login/"), url
    key.refresh_from_db()
    assert key.enabled


def test_it_refuses_every_staff_page_to_players(client, key, player_user):
    client.force_login(player_user)
    for url in staff_urls(key.pk):
        response = client.post(url) if "/do/" in url else client.get(url)
        assert response.status_code in (302, 403), (url, response.status_code)
        if response.status_code == 302:
            assert response["Location"].startswith("/admin/login/"), url
    key.refresh_from_db()
    assert key.enabled


def test_it_gives_status_detail_only_to_staff_and_token_holders(client, key, player_user, admin_client, settings):
    settings.STATUS_TOKEN = "a-long-status-token-0123456789abcdef"
    anonymous = client.get("/api/status").json()
    client.force_login(player_user)
    player = client.get("/api/status").json()
    staff = admin_client.get("/api/status").json()
    token = Client().get("/api/status", HTTP_AUTHORIZATION=f"Bearer {settings.STATUS_TOKEN}").json()
    assert set(anonymous) == set(player)
    assert set(staff) == set(token) and set(staff) > set(anonymous)
    for bad in ("Bearer wrong", "Bearer ", f"Bearer {settings.STATUS_TOKEN}x", f"Bearer {settings.STATUS_TOKEN[:-1]}"):
        assert Client().get("/api/status", HTTP_AUTHORIZATION=bad).status_code == 401, bad


def test_it_compares_status_tokens_in_constant_time(client, settings, monkeypatch):
    settings.STATUS_TOKEN = "a-long-status-token-0123456789abcdef"
    seen = []

    def spy(a, b):
        seen.append((a, b))
        return a == b

    monkeypatch.setattr(status_views.hmac, "compare_digest", spy)
    client.get("/api/status", HTTP_AUTHORIZATION="Bearer guess")
    assert seen == [(b"guess", settings.STATUS_TOKEN.encode())]


def test_it_refuses_a_status_token_when_none_is_configured(client, settings):
    settings.STATUS_TOKEN = ""
    assert client.get("/api/status", HTTP_AUTHORIZATION="Bearer ").status_code == 401
    assert client.get("/api/status", HTTP_AUTHORIZATION="Bearer anything").status_code == 401


def post_forms(key_id: int) -> list[str]:
    return [
        reverse("quests:quest_launch", args=[1]),
        reverse("quests:run_answer", args=[1]),
        reverse("quests:profile"),
        reverse("quests:signup"),
        reverse("quests:login"),
        reverse("quests:logout"),
        reverse("admin:login"),
        reverse("admin:logout"),
        reverse("admin:keymanager_key_add"),
        reverse("admin:keymanager_key_changelist"),
        reverse("admin:keymanager_key_change", args=[key_id]),
        reverse("admin:keymanager_key_operation", args=[key_id, "disable"]),
        reverse("admin:keymanager_limit_add"),
        reverse("admin:quests_quest_changelist"),
    ]


@pytest.mark.parametrize("who", ["anonymous", "staff"])
def test_it_refuses_every_form_post_without_a_csrf_token(key, admin_user, who):
    client = Client(enforce_csrf_checks=True)
    if who == "staff":
        client.force_login(admin_user)
    for url in post_forms(key.pk):
        response = client.post(url, {"callsign": "Nova", "username": "x", "password": "y", "action": "disable_keys",
                                     "_selected_action": [key.pk]})
        assert response.status_code == 403, (url, response.status_code)
        assert b"CSRF" in response.content, url
    key.refresh_from_db()
    assert key.enabled


def test_it_sets_security_headers_on_pages_and_api(client, admin_client):
    for c, url in [(client, "/"), (client, "/leaderboard/"), (client, "/accounts/login/"), (client, "/admin/login/"),
                   (client, "/api/status"), (admin_client, "/admin/"), (admin_client, "/admin/api-dashboard/"),
                   (client, "/no-such-page/")]:
        response = c.get(url)
        assert response["X-Content-Type-Options"] == "nosniff", url
        assert response["X-Frame-Options"] == "DENY", url
        assert response["Referrer-Policy"] == "same-origin", url
        assert response["Cross-Origin-Opener-Policy"] == "same-origin", url
        csp = response["Content-Security-Policy"]
        assert "script-src 'self';" in csp and "frame-ancestors 'none'" in csp and "object-src 'none'" in csp, url
        assert "camera=()" in response["Permissions-Policy"], url


def test_pages_have_no_inline_scripts_the_policy_would_block(client, admin_client):
    # script-src 'self' blocks inline <script> blocks and on* handlers: no page may rely on them.
    for c, url in [(client, "/"), (client, "/leaderboard/"), (client, "/accounts/login/"), (client, "/accounts/signup/"),
                   (admin_client, "/admin/"), (admin_client, "/admin/api-dashboard/"),
                   (admin_client, "/admin/keymanager/key/"), (admin_client, "/admin/keymanager/key/add/")]:
        html = c.get(url).content.decode()
        for tag in html.split("<script")[1:]:
            opening, _, rest = tag.partition(">")
            assert "src=" in opening or "application/json" in opening, (url, opening)
        assert " onclick=" not in html and " onload=" not in html, url


@pytest.mark.parametrize("login_url", ["/admin/login/", "/accounts/login/"])
def test_it_throttles_repeated_failed_logins(client, admin_user, settings, login_url):
    admin_user.set_password(PASSWORD)
    admin_user.save()
    limit = settings.AXES_FAILURE_LIMIT
    for _ in range(limit - 1):
        response = client.post(login_url, {"username": admin_user.username, "password": "wrong"})
        assert response.status_code == 200  # the form again, with its error
    assert client.post(login_url, {"username": admin_user.username, "password": "wrong"}).status_code == 429
    # Locked: even the right password is refused now, and no session is made.
    response = client.post(login_url, {"username": admin_user.username, "password": PASSWORD})
    assert response.status_code == 429
    assert b"locked" in response.content.lower()
    assert "_auth_user_id" not in client.session
    # The lock is on this username from this address only: others can still log in.
    other = User.objects.create_user("vega", password=PASSWORD)
    response = Client().post("/accounts/login/", {"username": other.username, "password": PASSWORD})
    assert response.status_code == 302


def test_a_successful_login_resets_the_failure_count(client, player_user, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        client.post("/accounts/login/", {"username": "vega", "password": "wrong"})
    assert client.post("/accounts/login/", {"username": "vega", "password": PASSWORD}).status_code == 302
    client.post("/accounts/logout/")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert client.post("/accounts/login/", {"username": "vega", "password": "wrong"}).status_code == 200


def test_behind_the_tls_proxy_throttling_keys_on_the_address_the_proxy_saw(client, admin_user, settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1"]  # the test client's peer address: our proxy here
    # One attacker locked out behind the proxy does not lock out the admin at another address.
    admin_user.set_password(PASSWORD)
    admin_user.save()
    attacker = {"HTTP_X_FORWARDED_FOR": "198.51.100.1", "HTTP_X_FORWARDED_PROTO": "https", "secure": True}
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/admin/login/", {"username": admin_user.username, "password": "wrong"}, **attacker)
    assert client.post("/admin/login/", {"username": admin_user.username, "password": PASSWORD},
                       **attacker).status_code == 429
    response = Client().post("/admin/login/", {"username": admin_user.username, "password": PASSWORD},
                             HTTP_X_FORWARDED_FOR="192.0.2.10", HTTP_X_FORWARDED_PROTO="https", secure=True)
    assert response.status_code == 302
