"""Writes to the key pool's keys: add, enable, disable, test, import, rotate encryption."""

from __future__ import annotations

import logging
import os
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from keymanager import crypto
from keymanager.models import SECRET_PREFIXES, Cooldown, Key, Provider, UsageLog
from keymanager.services.budgets import ensure_budget_rows
from keymanager.services.config import pool_settings
from keymanager.services.outcomes import record_failure, record_success
from keymanager.services.providers import ProviderFailure, call
from keymanager.services.selection import Lease

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
    key = Key(provider=provider, name=name[:100], organization=(organization or "").strip()[:100])
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
    Key.objects.filter(pk=key_id).update(enabled=True, disabled_reason="", disabled_at=None, consecutive_errors=0)
    key.refresh_from_db()
    return key


def key_disable(*, key_id: int, reason: str = "Disabled by an admin") -> Key:
    key = Key.objects.get(pk=key_id)
    Key.objects.filter(pk=key_id).update(enabled=False, disabled_reason=reason[:255], disabled_at=timezone.now())
    key.refresh_from_db()
    return key


def key_clear_cooldowns(*, key_id: int) -> int:
    """End the active cooldowns of a key and of its organization now (an admin's decision)."""
    key = Key.objects.get(pk=key_id)
    now = timezone.now()
    ended = Cooldown.objects.active(now).filter(key=key).update(ends_at=now)
    ended += Cooldown.objects.active(now).filter(
        provider=key.provider, organization=key.organization, key__isnull=True
    ).update(ends_at=now)
    Key.objects.filter(pk=key_id).update(consecutive_errors=0, cooldown_streak=0)
    return ended


@dataclass(frozen=True)
class KeyTestResult:
    ok: bool
    message: str


@sensitive_variables("secret")
def key_test(*, key_id: int) -> KeyTestResult:
    """One minimal real call with this key, recorded like any other attempt."""
    conf = pool_settings()
    key = Key.objects.get(pk=key_id)
    model = conf.default_model if key.provider == Provider.GROQ else conf.openai_model
    ensure_budget_rows(key.provider, [key.organization], model)
    log = UsageLog.objects.create(
        request_id=uuid.uuid4(),
        key=key,
        provider=key.provider,
        organization=key.organization,
        model=model,
        purpose="key_test",
        budget_tokens=20,
    )
    lease = Lease(key.pk, key.provider, key.organization, model, key.secret_encrypted, log.pk, log.request_id, 1, 20)
    try:
        result = call(
            provider=key.provider,
            key_id=key.pk,
            secret=key.secret,
            model=model,
            messages=[{"role": "user", "content": "ping"}],
            temperature=0,
            max_tokens=1,
            response_format=None,
            timeout=conf.request_timeout,
        )
    except ProviderFailure as failure:
        record_failure(lease, failure, conf)
        return KeyTestResult(False, f"{key.name}: {failure.outcome} ({failure.status or 'no reply'}) {failure.code}")
    record_success(lease, result)
    return KeyTestResult(True, f"{key.name}: OK in {result.latency_ms} ms, {result.headers.remaining_requests} requests left today")


@dataclass(frozen=True)
class ImportResult:
    added: list[Key]
    skipped: int


@sensitive_variables("value", "found", "environ")
def keys_import_env(environ: Mapping[str, str] | None = None) -> ImportResult:
    """GROQ_API_KEY, GROQ_API_KEY2..n and OPENAI_API_KEY; idempotent by fingerprint."""
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
        try:
            added.append(key_add(provider=provider, name=name, secret=value))
        except ValidationError as exc:
            if exc.code != "duplicate":
                # Name the variable, never its value.
                raise ValidationError(f"{name}: {exc.messages[0]}", code=exc.code) from None
            skipped += 1
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
    "keys_import_env",
    "keys_rotate_encryption",
    "validate_secret",
]
