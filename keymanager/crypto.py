"""Encryption at rest for API keys, fingerprints and masking.

Fernet keys come from KEY_ENCRYPTION_KEYS (the first encrypts, all decrypt), never from
SECRET_KEY. Decryption fails closed: a wrong key raises SecretDecryptionError, so that
ciphertext is never passed along as if it were an API key.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class SecretDecryptionError(Exception):
    """A stored secret cannot be decrypted with the configured KEY_ENCRYPTION_KEYS."""


@lru_cache(maxsize=4)
def _multifernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("KEY_ENCRYPTION_KEYS is empty: no key to encrypt API keys with.")
    try:
        return MultiFernet([Fernet(k.encode()) for k in keys])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            "KEY_ENCRYPTION_KEYS must be comma-separated Fernet keys "
            "(32 url-safe base64-encoded bytes each; make one with "
            "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`)."
        ) from exc


def fernet() -> MultiFernet:
    return _multifernet(tuple(settings.KEY_ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    return fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretDecryptionError(
            "A stored API key cannot be decrypted with KEY_ENCRYPTION_KEYS: the keys are wrong "
            "or the old key was removed before `manage.py keys rotate-encryption` ran."
        ) from exc


def rotate(token: str) -> str:
    """Re-encrypt under the first key (fails closed like decrypt)."""
    try:
        return fernet().rotate(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretDecryptionError("A stored API key cannot be decrypted for rotation.") from exc


def fingerprint(plaintext: str) -> str:
    """Keyed hash of a secret: finds duplicates without storing anything reversible."""
    secret = settings.KEY_FINGERPRINT_SECRET.encode()
    return hmac.new(secret, plaintext.encode(), hashlib.sha256).hexdigest()


def mask(plaintext: str) -> str:
    """`gsk_…a1b2`: the provider prefix and the last four characters, nothing more."""
    prefix = ""
    for candidate in ("gsk_", "sk-proj-", "sk-"):
        if plaintext.startswith(candidate):
            prefix = candidate
            break
    return f"{prefix}…{plaintext[-4:]}" if len(plaintext) > len(prefix) + 8 else "…"
