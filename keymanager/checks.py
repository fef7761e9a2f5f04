"""Start-up validation of the pool's settings (`manage.py check`, runserver, qcluster and the
web unit's `check --deploy` run these). Each message names the environment variable to fix;
a secret's value is never echoed."""

from __future__ import annotations

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.checks import Error, Warning, register

from keymanager.conf import settings_problems

FERNET_HINT = (
    "Each comma-separated entry is 32 url-safe base64-encoded bytes; make one with "
    "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`."
)
# A bearer token that unlocks per-key detail must not be guessable.
MIN_STATUS_TOKEN_LENGTH = 32


@register()
def pool_settings_check(app_configs, **kwargs) -> list[Error]:
    return [
        Error(f"{variable} {problem}.", hint="See .env.example for every KEYMANAGER_* variable.", id="keymanager.E001")
        for variable, problem in settings_problems()
    ]


@register()
def encryption_keys_check(app_configs, **kwargs) -> list[Error]:
    keys = list(getattr(settings, "KEY_ENCRYPTION_KEYS", []) or [])
    if not keys:
        return [Error("KEY_ENCRYPTION_KEYS is empty: no key to encrypt API keys with.", hint=FERNET_HINT,
                      id="keymanager.E002")]
    errors = []
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key.encode())
        except (ValueError, TypeError):
            errors.append(Error(f"KEY_ENCRYPTION_KEYS: entry {position} of {len(keys)} is not a Fernet key.",
                                hint=FERNET_HINT, id="keymanager.E002"))
    return errors


@register(deploy=True)
def status_token_check(app_configs, **kwargs) -> list[Warning]:
    token = getattr(settings, "STATUS_TOKEN", "") or ""
    if token and len(token) < MIN_STATUS_TOKEN_LENGTH:
        return [Warning(f"STATUS_TOKEN is shorter than {MIN_STATUS_TOKEN_LENGTH} characters: it unlocks per-key "
                        "detail on /api/status and must not be guessable.",
                        hint="Make one with `python -c 'import secrets; print(secrets.token_urlsafe(32))'`.",
                        id="keymanager.W001")]
    return []
