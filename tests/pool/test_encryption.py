"""Secrets at rest: encrypted, fingerprinted, masked, rotated, and failing closed."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.management import CommandError, call_command
from django.db import connection

from keymanager import crypto
from keymanager.models import Key
from keymanager.services.keys import key_add, keys_rotate_encryption, validate_secret
from tests.conftest import make_secret

pytestmark = pytest.mark.django_db


def raw_rows() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret_encrypted, fingerprint, masked FROM keymanager_key")
        return cursor.fetchall()


def test_the_database_never_holds_the_plaintext():
    secret = make_secret()
    key = key_add(provider="groq", name="main", secret=secret)
    (encrypted, fingerprint, masked), = raw_rows()
    assert secret not in encrypted and secret not in fingerprint and secret not in masked
    assert secret[4:20] not in encrypted
    assert masked == f"gsk_…{secret[-4:]}"
    assert Key.objects.get(pk=key.pk).secret == secret


def test_the_same_key_cannot_be_added_twice():
    secret = make_secret()
    key_add(provider="groq", name="one", secret=secret)
    with pytest.raises(ValidationError, match="already in the pool"):
        key_add(provider="groq", name="two", secret=f"  {secret}\n")


@pytest.mark.parametrize(
    "provider, secret, message",
    [
        ("groq", "", "empty"),
        ("groq", "gsk_abc def" + "x" * 30, "whitespace"),
        ("groq", "sk-" + "x" * 40, "starts with gsk_"),
        ("openai", "gsk_" + "x" * 40, "starts with sk-"),
        ("groq", "gsk_short", "length"),
        ("groq", "gsk_" + "é" * 30, "characters"),
    ],
)
def test_it_refuses_malformed_keys_with_a_clear_message(provider, secret, message):
    with pytest.raises(ValidationError, match=message):
        validate_secret(provider=provider, secret=secret)
    assert not Key.objects.exists()


def test_rotation_re_encrypts_every_row_so_the_old_key_can_go(settings):
    old = settings.KEY_ENCRYPTION_KEYS[0]
    secrets = [make_secret() for _ in range(3)]
    for i, secret in enumerate(secrets):
        key_add(provider="groq", name=f"k{i}", secret=secret)
    before = dict(Key.objects.values_list("pk", "secret_encrypted"))

    new = Fernet.generate_key().decode()
    settings.KEY_ENCRYPTION_KEYS = [new, old]
    call_command("keys", "rotate-encryption")
    after = dict(Key.objects.values_list("pk", "secret_encrypted"))
    assert all(before[pk] != after[pk] for pk in before)

    settings.KEY_ENCRYPTION_KEYS = [new]  # the old key is removed
    assert sorted(k.secret for k in Key.objects.all()) == sorted(secrets)
    new_only = Fernet(new.encode())
    assert all(new_only.decrypt(token.encode()) for token in after.values())


def test_a_wrong_encryption_key_fails_closed(settings):
    key = key_add(provider="groq", name="main", secret=make_secret())
    settings.KEY_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(crypto.SecretDecryptionError, match="cannot be decrypted"):
        _ = Key.objects.get(pk=key.pk).secret
    with pytest.raises(crypto.SecretDecryptionError):
        keys_rotate_encryption()
    with pytest.raises(CommandError, match="cannot be decrypted"):
        call_command("keys", "rotate-encryption")


def test_a_malformed_encryption_key_is_a_configuration_error(settings):
    settings.KEY_ENCRYPTION_KEYS = ["not-a-fernet-key"]
    with pytest.raises(ImproperlyConfigured, match="Fernet"):
        crypto.encrypt("x")


def test_a_wrong_key_fails_closed_inside_complete(pool_factory, settings, caplog):
    from keymanager.services import PoolExhausted, PoolMisconfigured, complete

    pool = pool_factory(orgs=1)
    settings.KEY_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(PoolMisconfigured) as info:
        complete(messages=[{"role": "user", "content": "hi"}], max_tokens=10)
    assert isinstance(info.value, PoolExhausted)  # the game serves its fallback
    assert any(r.levelname == "CRITICAL" for r in caplog.records)
    assert pool.stub.stats()["requests"] == 0  # ciphertext is never sent as a key


def test_an_undecryptable_key_is_set_aside_and_the_others_serve(pool_factory, settings, caplog, mailoutbox):
    from keymanager.models import DisabledCode, Incident, IncidentKind
    from keymanager.services import complete
    from keymanager.services.alerts import check_alerts

    settings.ADMINS = [("Ops", "ops@example.com")]
    pool = pool_factory(orgs=3)
    # A key added on a host with other KEY_ENCRYPTION_KEYS: this host cannot decrypt it.
    bad = pool.keys[0]
    other = Fernet(Fernet.generate_key())
    Key.objects.filter(pk=bad.pk).update(secret_encrypted=other.encrypt(b"gsk_" + b"x" * 52).decode())
    served = {complete(messages=[{"role": "user", "content": f"call {i}"}], max_tokens=10).key_id for i in range(4)}
    assert bad.pk not in served and served <= {k.pk for k in pool.keys[1:]}
    bad.refresh_from_db()
    assert not bad.enabled and bad.disabled_code == DisabledCode.UNDECRYPTABLE
    assert "KEY_ENCRYPTION_KEYS" in bad.disabled_reason
    critical = [r for r in caplog.records if r.levelname == "CRITICAL"]
    assert len(critical) == 1 and str(bad.pk) in critical[0].getMessage()  # once, not per call
    assert pool.stub.stats()["requests"] == 4  # never sent with the bad key
    check_alerts()
    incident = Incident.objects.get(kind=IncidentKind.KEY_UNDECRYPTABLE)
    assert incident.subject == str(bad.pk) and len(mailoutbox) == 1
