"""Provider-supplied text is stored, logged and shown: no key may survive in it."""

from __future__ import annotations

import re

from django.views.decorators.debug import sensitive_variables

# Anything shaped like a Groq or OpenAI key, whole or cut short.
_SECRET_LIKE = re.compile(r"(gsk_|sk-)[A-Za-z0-9_\-]{6,}")
_CODE = re.compile(r"[^A-Za-z0-9_.\-]")


@sensitive_variables("secrets", "secret")
def redact(text: str | None, secrets: tuple[str, ...] = ()) -> str:
    """`text` with key-like strings and the given secrets (and their long tails) replaced."""
    out = text or ""
    for secret in secrets:
        if secret and len(secret) >= 8:
            out = out.replace(secret, "[redacted]")
            # A provider may echo part of the key ("...key ending in Ab12CdEf34 is invalid").
            tail = secret[-12:]
            if len(tail) >= 12:
                out = out.replace(tail, "[redacted]")
    return _SECRET_LIKE.sub(r"\1[redacted]", out)


@sensitive_variables("secrets")
def clean_code(code: str | None, secrets: tuple[str, ...] = ()) -> str:
    """A provider's error code is an identifier: keep it short and plain, and key-free."""
    text = redact(code, secrets)
    if "[redacted]" in text:
        return "redacted"
    return _CODE.sub("", text)[:64]
