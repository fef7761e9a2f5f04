"""Property-based fuzzing (hypothesis) of every public form and endpoint: quest answers, run and
quest ids, callsigns, sign-up, login, /api/status tokens, the admin key form, and management
command arguments. Zero 500s, every rejection a clear message, nothing half-written.

Runs are derandomized (the same cases on every run). HYPOTHESIS_PROFILE=long (bench/reliability.py
fuzz) tries twenty times as many cases.
"""

from __future__ import annotations

import io
import os
import string
import sys
from collections import Counter, defaultdict
from urllib.parse import quote

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keymanager.models import Key, Limit, Provider, UsageLog
from quests.models import Player, QuestRun, RunStatus
from quests.services.callsigns import callsign_clean
from tests.conftest import make_secret
from tests.quests_fixtures import game_settings, make_run, right_answers, seeded, signup_form  # noqa: F401

COMMON = dict(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.register_profile("ci", max_examples=50, **COMMON)
settings.register_profile("long", max_examples=1000, **COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# Slow: 50 generated cases per test (1,000 with HYPOTHESIS_PROFILE=long).
pytestmark = [pytest.mark.django_db, pytest.mark.slow, pytest.mark.usefixtures("game_settings", "seeded")]

# Text as browsers and scripts send it: any unicode, with controls, NULs and surrogates left out
# only where an HTTP client could not send them at all.
ANY_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=80)
FORM_VALUE = st.one_of(ANY_TEXT, st.integers().map(str), st.sampled_from(["", "0", "-1", "3", "99", "1e9", "null"]))
# Per fuzz test: cases tried and server errors seen (a 5xx, or an unexpected exception from a
# command), checked by the module's last test.
CASES: dict[str, Counter] = defaultdict(Counter)
_running = {"test": ""}


@pytest.fixture(autouse=True)
def _count_cases_of_this_test(request):
    _running["test"] = request.node.originalname
    yield


def tried(*, server_error: bool = False) -> None:
    CASES[_running["test"]]["cases"] += 1
    CASES[_running["test"]]["server_errors"] += server_error


def no_server_error(response, what: str) -> None:
    tried(server_error=response.status_code >= 500)
    assert response.status_code < 500, (what, response.status_code, response.content[:500])


def clear_message(response) -> None:
    """A refusal says why in words: a form error, a problem page or a JSON error."""
    body = response.content.decode(errors="replace")
    markers = ('class="errorlist', "errornote", "panel problem", "field-error", "has-error", "form-error",
               '"error"', "Not Found", "locked", "Bad Request", "Please correct")
    assert any(marker in body for marker in markers), body[:3000]


@pytest.fixture
def player_client(db):
    client = Client()
    player = Player.objects.create(callsign="Fuzz Pilot")
    session = client.session
    session["quests_player_id"] = player.pk
    session.save()
    return client, player


@given(data=st.dictionaries(st.sampled_from(["q1", "q2", "q3", "q4", "q5", "q9", "x", "csrfmiddlewaretoken", "q1[]"]),
                            FORM_VALUE, max_size=7))
def test_fuzz_quest_answers(player_client, data):
    client, player = player_client
    run = make_run(quest_number=1, player=player)
    response = client.post(reverse("quests:run_answer", args=[run.pk]), data)
    no_server_error(response, data)
    run.refresh_from_db()
    player.refresh_from_db()
    if response.status_code == 302 and response["Location"].endswith("/result"):
        # Only a complete, valid set of answers is graded, and then completely.
        assert run.status == RunStatus.ANSWERED and len(run.answers) == len(run.questions)
        assert set(data) >= {f"q{i}" for i in range(1, len(run.questions) + 1)}
    elif response.status_code == 302:
        # Honest but incomplete: back to the mission (a GET) with the missing answers named.
        assert response["Location"] == reverse("quests:run_detail", args=[run.pk])
        assert b"Choose an answer" in client.get(response["Location"]).content
        assert run.status == RunStatus.READY and not run.answers
    else:
        assert response.status_code == 400
        clear_message(response)
        assert run.status == RunStatus.READY and not run.answers
    QuestRun.objects.filter(pk=run.pk).delete()


def test_an_answered_run_cannot_be_answered_twice(player_client):
    client, player = player_client
    run = make_run(quest_number=1, player=player)
    assert client.post(reverse("quests:run_answer", args=[run.pk]), right_answers(run)).status_code == 302
    player.refresh_from_db()
    xp = player.xp
    again = client.post(reverse("quests:run_answer", args=[run.pk]), right_answers(run))
    assert again.status_code == 302 and again["Location"].endswith("/result")
    player.refresh_from_db()
    assert player.xp == xp


PATHS = ["/quest/{}/", "/run/{}/", "/run/{}/status", "/run/{}/result", "/admin/keymanager/key/{}/change/"]


@given(segment=st.one_of(ANY_TEXT, st.integers().map(str), st.integers(min_value=2**31).map(str)),
       template=st.sampled_from(PATHS + ["/quest/{}/launch", "/run/{}/answer"]))
def test_fuzz_run_and_quest_ids(player_client, segment, template):
    client, _ = player_client
    runs_before = QuestRun.objects.count()
    path = template.format(quote(segment, safe=""))
    response = client.post(path) if template.endswith(("launch", "answer")) else client.get(path)
    no_server_error(response, path)
    assert response.status_code in (200, 302, 400, 404, 405), (path, response.status_code)
    if response.status_code == 404:
        clear_message(response)
    if not (template == "/quest/{}/launch" and segment in ("1", "2", "3", "4", "5")):
        assert QuestRun.objects.count() == runs_before


@given(callsign=st.one_of(ANY_TEXT, st.text(string.ascii_letters + string.digits + " _.-", max_size=30)))
def test_fuzz_callsigns(player_client, callsign):
    client, player = player_client
    before = Player.objects.get(pk=player.pk).callsign
    response = client.post(reverse("quests:profile"), {"callsign": callsign})
    no_server_error(response, callsign)
    assert response.status_code == 302  # post-redirect-get, success or not
    page = client.get(response["Location"])
    after = Player.objects.get(pk=player.pk).callsign
    if b'id="callsign-error"' in page.content:
        assert after == before
        clear_message(page)
    else:
        assert after == callsign_clean(callsign)
    assert Player.objects.count() == 1


@given(username=FORM_VALUE, password1=FORM_VALUE, password2=st.one_of(FORM_VALUE, st.just("same")))
def test_fuzz_sign_up(username, password1, password2):
    client = Client()
    users, players = User.objects.count(), Player.objects.count()
    # A person's form (time token, hidden field empty), so every example reaches the name checks.
    data = signup_form(username, password1, password1 if password2 == "same" else password2)
    response = client.post(reverse("quests:signup"), data)
    no_server_error(response, data)
    if response.status_code == 302:
        assert User.objects.count() == users + 1
        User.objects.filter(username=username).delete()
    else:
        # 429 once the examples, all from one address, use up its sign-ups or its refused names.
        assert response.status_code in (400, 429)
        clear_message(response)
        assert User.objects.count() == users and Player.objects.count() == players


@given(username=FORM_VALUE, password=FORM_VALUE, url=st.sampled_from(["/accounts/login/", "/admin/login/"]))
def test_fuzz_login(admin_user, username, password, url):
    response = Client().post(url, {"username": username, "password": password})
    no_server_error(response, (username, password))
    assert response.status_code in (200, 429)
    clear_message(response)


@given(header=st.one_of(
    ANY_TEXT.map(lambda t: "Bearer " + t),
    st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=60),
    st.sampled_from(["Bearer", "bearer token", "Basic dXNlcjpwYXNz", "Bearer  spaced  "]),
))
def test_fuzz_status_tokens(settings, header):
    settings.STATUS_TOKEN = "status-token-for-fuzzing-0123456789"
    response = Client().get("/api/status", HTTP_AUTHORIZATION=header)
    no_server_error(response, header)
    data = response.json()
    if response.status_code == 401:
        assert data == {"error": "invalid status token"}
    else:
        assert response.status_code == 200 and "keys" in data


SECRETS = st.one_of(
    ANY_TEXT,
    st.builds(lambda body: "gsk_" + body, st.text(string.ascii_letters + string.digits, max_size=70)),
    st.builds(lambda body: "sk-" + body, ANY_TEXT),
    st.just("existing"),
)


@given(provider=st.one_of(st.sampled_from(Provider.values), ANY_TEXT), name=FORM_VALUE, secret=SECRETS,
       organization=FORM_VALUE, order=FORM_VALUE)
def test_fuzz_admin_key_form(admin_client, provider, name, secret, organization, order):
    existing = Key.objects.order_by("pk").first() or Key.objects.create(
        name="existing", secret_encrypted="x", fingerprint="f" * 64, masked="…")
    keys = Key.objects.count()
    if secret == "existing":
        secret = "gsk_" + "A" * 52
        Key.objects.filter(pk=existing.pk).update(fingerprint=__import__("keymanager.crypto").crypto.fingerprint(secret))
    data = {"provider": provider, "name": name, "secret": secret, "organization": organization, "order": order,
            "enabled": "on"}
    response = admin_client.post(reverse("admin:keymanager_key_add"), data)
    no_server_error(response, data)
    if response.status_code == 302:
        assert Key.objects.count() == keys + 1
        added = Key.objects.order_by("-pk").first()
        assert secret.strip() not in added.secret_encrypted
        added.delete()
    else:
        assert response.status_code == 200
        clear_message(response)
        assert Key.objects.count() == keys
        # A key-like value is never echoed back into the form (unless another field carried it too).
        if len(secret.strip()) >= 20 and not any(secret.strip() in v for v in (provider, name, organization, order)):
            assert secret.strip() not in response.content.decode()


@given(args=st.lists(st.one_of(FORM_VALUE, st.sampled_from(
    ["--rpm", "--tpm", "--rpd", "--tpd", "--organization", "--provider", "openai/gpt-oss-20b", "groq", "openai",
     "-1", "0", "1000", "none", "--format", "json", "csv"])), max_size=6),
    command=st.sampled_from([("limits", "set"), ("limits", "list"), ("keys", "enable"), ("keys", "disable"),
                             ("keys", "test"), ("keys", "list"), ("keys", "status"), ("usage_report",),
                             ("prune_usage",)]))
def test_fuzz_command_arguments(command, args):
    limits, keys, logs = list(Limit.objects.values()), list(Key.objects.values()), UsageLog.objects.count()
    out = io.StringIO()
    try:
        call_command(*command, *args, stdout=out, stderr=out)
        rejected = False
    except CommandError as exc:
        rejected = True
        assert str(exc).strip(), (command, args)
    except SystemExit as exc:  # `keys status` exits 1 when no key is available: its documented job
        assert command == ("keys", "status") and exc.code in (0, 1, 2), (command, args, exc.code)
        rejected = False
    except Exception:
        tried(server_error=True)
        raise
    tried()
    if rejected:
        assert list(Limit.objects.values()) == limits and list(Key.objects.values()) == keys
        assert UsageLog.objects.count() == logs


@given(secret=SECRETS)
def test_fuzz_keys_add_from_stdin(monkeypatch, secret):
    if secret == "existing":
        secret = make_secret()
        monkeypatch.setattr("sys.stdin", io.StringIO(secret + "\n"))
        call_command("keys", "add", stdout=io.StringIO())
    keys = Key.objects.count()
    monkeypatch.setattr("sys.stdin", io.StringIO(secret + "\n"))
    out = io.StringIO()
    try:
        call_command("keys", "add", stdout=out, stderr=out)
        assert Key.objects.count() == keys + 1
    except CommandError as exc:
        assert str(exc).strip()
        assert Key.objects.count() == keys
    except Exception:
        tried(server_error=True)
        raise
    tried()
    if len(secret.strip()) >= 20:
        assert secret.strip() not in out.getvalue()


def test_zz_every_fuzz_test_tried_its_cases_without_a_server_error(request, capsys):
    """Last in the module: every fuzz test selected in this run went through the endpoint with
    generated cases (not zero, not a handful), and no case met a server error."""
    selected = {item.originalname for item in request.session.items
                if item.module is sys.modules[__name__] and item.originalname.startswith("test_fuzz_")}
    if not selected:
        pytest.skip("no fuzz test selected in this run")
    least = min(10, settings.default.max_examples)
    short = {name: CASES[name]["cases"] for name in sorted(selected) if CASES[name]["cases"] < least}
    assert not short, f"fuzz tests that tried fewer than {least} cases: {short}"
    errors = {name: CASES[name]["server_errors"] for name in sorted(selected) if CASES[name]["server_errors"]}
    assert not errors, f"server errors: {errors}"
    total = sum(CASES[name]["cases"] for name in selected)
    with capsys.disabled():
        print(f"\nfuzz: {total} cases through the endpoints and commands, {sum(errors.values())} server errors")
