"""The add-key form: a password input, validated by the key service, never shown again."""

from __future__ import annotations

import re

import pytest
from django.contrib.admin.models import ADDITION, LogEntry
from django.urls import reverse

from keymanager.models import Key
from tests.conftest import make_secret

pytestmark = pytest.mark.django_db
URL = "/admin/keymanager/key/add/"


def post(client, **data):
    return client.post(URL, {"provider": "groq", "name": "", "organization": "", "order": "", **data})


def test_order_is_blank_until_given_so_a_new_key_goes_after_the_last(admin_client):
    html = admin_client.get(URL).content.decode()
    order_input = re.search(r'<input[^>]*name="order"[^>]*>', html).group(0)
    assert 'value="' not in order_input, order_input
    first, second = make_secret(), make_secret()
    assert post(admin_client, secret=first, name="first").status_code == 302
    assert post(admin_client, secret=second, name="second").status_code == 302
    assert list(Key.objects.order_by("order").values_list("name", flat=True)) == ["first", "second"]


def test_the_secret_field_is_a_password_input(admin_client):
    html = admin_client.get(URL).content.decode()
    assert 'type="password"' in html and 'name="secret"' in html


@pytest.mark.parametrize(
    "secret, message",
    [
        ("", "This field is required"),
        ("gsk_abc def 0123456789abcdefghij", "whitespace"),
        ("sk-proj-0123456789abcdefghijklmnop", "starts with gsk_"),
        ("gsk_short", "wrong length"),
    ],
)
def test_it_refuses_bad_secrets_and_does_not_echo_them(admin_client, secret, message):
    response = post(admin_client, secret=secret)
    assert response.status_code == 200
    html = response.content.decode()
    assert message in html
    if secret:
        assert secret not in html
    assert not Key.objects.exists()


def test_it_refuses_a_duplicate_by_fingerprint(admin_client):
    secret = make_secret()
    assert post(admin_client, secret=secret, name="first").status_code == 302
    response = post(admin_client, secret=f"  {secret}\n", name="again")
    assert "already in the pool" in response.content.decode()
    assert Key.objects.count() == 1


def test_it_adds_through_the_service_and_shows_only_the_masked_key(admin_client, admin_user):
    secret = make_secret()
    response = post(admin_client, secret=secret, name="team #2", organization="org_x")
    assert response.status_code == 302
    key = Key.objects.get()
    assert key.secret == secret and key.name == "team #2" and key.organization == "org_x" and key.order == 1
    page = admin_client.get(reverse("admin:keymanager_key_change", args=[key.pk])).content.decode()
    assert key.masked in page and secret not in page and 'name="secret"' not in page
    entry = LogEntry.objects.get(object_id=str(key.pk))
    assert entry.action_flag == ADDITION and entry.user == admin_user


def test_openai_keys_need_their_prefix(admin_client):
    assert post(admin_client, provider="openai", secret=make_secret("openai")).status_code == 302
    response = post(admin_client, provider="openai", secret=make_secret("groq"))
    assert "starts with sk-" in response.content.decode()


def test_add_and_change_views_hide_the_secret_from_error_reports(admin_client):
    response = post(admin_client, secret=make_secret())
    assert response.wsgi_request.sensitive_post_parameters == ("secret",)
    key = Key.objects.get()
    response = admin_client.post(reverse("admin:keymanager_key_change", args=[key.pk]), {"name": "x"})
    assert response.wsgi_request.sensitive_post_parameters == ("secret",)


def test_editing_a_key_never_touches_its_secret(admin_client):
    secret = make_secret()
    post(admin_client, secret=secret, name="a")
    key = Key.objects.get()
    response = admin_client.post(
        reverse("admin:keymanager_key_change", args=[key.pk]), {"name": "renamed", "organization": "org_y", "order": 5}
    )
    assert response.status_code == 302
    key.refresh_from_db()
    assert (key.name, key.organization, key.order, key.secret) == ("renamed", "org_y", 5, secret)
