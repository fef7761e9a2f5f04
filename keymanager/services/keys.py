"""Writes to the key pool's keys: add, enable, disable, test, import, rotate encryption."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from keymanager import crypto
from keymanager.conf import pool_settings
from keymanager.models import SECRET_PREFIXES, Cooldown, DisabledCode, Key, OrganizationSource, Provider
from keymanager.services.attempts import CallState, quarantine, serve
from keymanager.services.errors import RequestRejected
from keymanager.services.organizations import key_set_organization

TEST_MESSAGES = [{"role": "user", "content": "ping"}]

logger = logging.getLogger("keymanager")

_ENV_GROQ = re.compile(r"^GROQ_API_KEY(\d*)$")


@sensitive_variables("secret")
def validate_secret(*, provider: str, secret: str) -> str:
    """Return the secret stripped, or raise ValidationError with a message for a person."""
    secret = (secret or "").strip()
    if not secret:
        raise ValidationError("The API key is empty.", code="empty")
    if any(ch.isspace() for ch in secret):
        raise ValidationError("The API key contains whitespace; paste it as one word.", code="whitespace")
    if provider not in Provider.values:
        raise ValidationError(f"Unknown provider {provider!r}.", code="provider")
    prefixes = SECRET_PREFIXES[Provider(provider)]
    if not secret.startswith(prefixes):
        raise ValidationError(
            f"A {Provider(provider).label} key starts with {' or '.join(prefixes)}.", code="prefix"
        )
    if len(secret) < 20 or len(secret) > 256:
        raise ValidationError("That does not look like a whole API key (wrong length).", code="length")
    if not secret.isascii() or not secret.isprintable():
        raise ValidationError("The API key contains characters an API key cannot have.", code="characters")
    if Key.objects.filter(fingerprint=crypto.fingerprint(secret)).exists():
        raise ValidationError("This key is already in the pool.", code="duplicate")
    return secret


@sensitive_variables("secret")
def key_add(*, provider: str, name: str, secret: str, organization: str = "", order: int | None = None) -> Key:
    secret = validate_secret(provider=provider, secret=secret)
    name = (name or "").strip() or f"{Provider(provider).label} key"
    organization = (organization or "").strip()[:100]
    key = Key(
        provider=provider,
        name=name[:100],
        organization=organization,
        organization_source=OrganizationSource.OPERATOR if organization else OrganizationSource.ASSUMED,
    )
    key.set_secret(secret)
    if order is None:
        last = Key.objects.filter(provider=provider).order_by("-order").values_list("order", flat=True).first()
        order = (last or 0) + 1
    key.order = order
    with transaction.atomic():
        # The unique fingerprint settles a race between two admins adding the same key.
        if Key.objects.filter(fingerprint=key.fingerprint).exists():
            raise ValidationError("This key is already in the pool.", code="duplicate")
        key.save()
    logger.info("Key id=%s (%s) added to the %s pool.", key.pk, key.masked, provider)
    return key


def key_enable(*, key_id: int) -> Key:
    key = Key.objects.get(pk=key_id)
    Key.objects.filter(pk=key_id).update(
        enabled=True, disabled_reason="", disabled_code="", disabled_at=None, consecutive_errors=0
    )
    key.refresh_from_db()
    return key


def key_disable(*, key_id: int, reason: str = "Disabled by an admin") -> Key:
    key = Key.objects.get(pk=key_id)
    Key.objects.filter(pk=key_id).update(
        enabled=False, disabled_reason=reason[:255], disabled_code=DisabledCode.ADMIN, disabled_at=timezone.now()
    )
    key.refresh_from_db()
    return key


def key_clear_cooldowns(*, key_id: int) -> int:
    """End the active cooldowns of a key and of its organization now (an admin's decision)."""
    key = Key.objects.get(pk=key_id)
    now = timezone.now()
    ended = Cooldown.objects.active(now).of_key(key.pk).update(ends_at=now)
    ended += Cooldown.objects.active(now).of_organization(key.provider, key.organization).update(ends_at=now)
    Key.objects.filter(pk=key_id).update(consecutive_errors=0, cooldown_streak=0)
    return ended


@dataclass(frozen=True)
class KeyTestResult:
    ok: bool
    message: str


def key_test(*, key_id: int, purpose: str = "key_test", background: bool = False) -> KeyTestResult:
    """One minimal real call with this key, admitted by its budget and recorded like any
    other attempt (the same loop as `complete()`, one attempt): a test spends quota too, so it
    waits its turn (or says when it could run). `background`: a probe nobody waits for, on the
    flex tier where the organization is known to have it (never spent finding out)."""
    conf = pool_settings()
    key = Key.objects.get(pk=key_id)
    if not key.enabled:
        return KeyTestResult(False, f"{key.name}: disabled ({key.disabled_reason or 'no reason given'}); enable it first")
    model = conf.default_model if key.provider == Provider.GROQ else conf.openai_model
    state = CallState(conf=replace(conf, wait_budget=min(conf.wait_budget, conf.request_timeout)),
                      messages=TEST_MESSAGES, max_tokens=1, temperature=0, purpose=purpose)
    try:
        served = serve(state, provider=key.provider, model=model, only_key=key.pk, single=True, background=background,
                       discover_flex=False, on_undecryptable=quarantine)
    except RequestRejected as exc:
        return KeyTestResult(False, f"{key.name}: the provider refused the test request ({exc.status or ''} {exc.code})")
    if served is not None:
        left = served.result.headers.remaining_requests
        return KeyTestResult(
            True,
            f"{key.name}: OK in {served.result.latency_ms} ms" + (f", {left} requests left" if left is not None else ""),
        )
    if state.undecryptable:
        return KeyTestResult(
            False, f"{key.name}: cannot be decrypted with this host's KEY_ENCRYPTION_KEYS; the key is disabled"
        )
    failure = state.last_failure
    if failure is not None:
        return KeyTestResult(False, f"{key.name}: {failure.outcome} ({failure.status or 'no reply'}) {failure.code}")
    when = "" if state.retry_hint is None else f"; it could in {state.retry_hint:.0f}s"
    return KeyTestResult(False, f"{key.name}: not tested, its budget or a cooldown holds it now{when}")


@dataclass(frozen=True)
class ImportResult:
    added: list[Key]
    skipped: int


@sensitive_variables("value", "found", "environ")
def keys_import_env(environ: Mapping[str, str] | None = None) -> ImportResult:
    """GROQ_API_KEY, GROQ_API_KEY2..n and OPENAI_API_KEY; idempotent by fingerprint.

    `GROQ_API_KEYn_ORG` (and `GROQ_API_KEY_ORG`, `OPENAI_API_KEY_ORG`) states the key's
    organization when the operator knows it; otherwise each key is assumed its own until
    the provider names its organization.
    """
    environ = os.environ if environ is None else environ
    found: list[tuple[str, str, str]] = []
    for name, value in environ.items():
        match = _ENV_GROQ.match(name)
        if match and value.strip():
            found.append((Provider.GROQ, name, value))
    found.sort(key=lambda item: int(_ENV_GROQ.match(item[1]).group(1) or 1))
    if environ.get("OPENAI_API_KEY", "").strip():
        found.append((Provider.OPENAI, "OPENAI_API_KEY", environ["OPENAI_API_KEY"]))
    added, skipped = [], 0
    for provider, name, value in found:
        organization = environ.get(f"{name}_ORG", "").strip()
        try:
            added.append(key_add(provider=provider, name=name, secret=value, organization=organization))
        except ValidationError as exc:
            if exc.code != "duplicate":
                # Name the variable, never its value.
                raise ValidationError(f"{name}: {exc.messages[0]}", code=exc.code) from None
            skipped += 1
            existing = Key.objects.filter(fingerprint=crypto.fingerprint(value.strip())).first()
            if organization and existing is not None and existing.organization != organization:
                key_set_organization(key_id=existing.pk, organization=organization)
    return ImportResult(added=added, skipped=skipped)


def keys_rotate_encryption() -> int:
    """Re-encrypt every secret under the first KEY_ENCRYPTION_KEYS key; refresh fingerprints."""
    count = 0
    with transaction.atomic():
        for key in Key.objects.select_for_update().only("pk", "secret_encrypted"):
            plaintext = crypto.decrypt(key.secret_encrypted)
            Key.objects.filter(pk=key.pk).update(
                secret_encrypted=crypto.encrypt(plaintext), fingerprint=crypto.fingerprint(plaintext)
            )
            count += 1
    return count


__all__ = [
    "ImportResult",
    "KeyTestResult",
    "key_add",
    "key_clear_cooldowns",
    "key_disable",
    "key_enable",
    "key_test",
    "key_set_organization",
    "keys_import_env",
    "keys_rotate_encryption",
    "validate_secret",
]
