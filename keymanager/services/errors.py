"""Exceptions the pool raises to its callers."""

from __future__ import annotations


class KeyPoolError(Exception):
    """Base of every error `complete()` raises."""


class PoolExhausted(KeyPoolError):
    """Neither Groq nor OpenAI can serve within the wait budget.

    `retry_after` is the pool's best estimate, in seconds, of when a key can serve again.
    Callers (the game) serve their own fallback content.
    """

    def __init__(self, message: str = "No key can serve this request now.", *, retry_after: float = 0.0):
        super().__init__(message)
        self.retry_after = max(0.0, float(retry_after))


class PoolMisconfigured(PoolExhausted):
    """The pool cannot work as configured: the keys it tried cannot be decrypted with
    KEY_ENCRYPTION_KEYS and no other key could serve (they are set aside, admins alerted).

    A PoolExhausted, so callers serve their fallback; the cause is logged at CRITICAL.
    """


class RequestRejected(KeyPoolError):
    """The provider refused the request itself (400, 413): no key would do better.

    `code` is the provider's error code; the message is the provider's, never a secret.
    """

    def __init__(self, message: str, *, status: int | None = None, code: str = ""):
        super().__init__(message)
        self.status = status
        self.code = code


class PoolMisuse(RuntimeError):
    """`complete()` was called where it must not run, e.g. inside `transaction.atomic()`:
    the pool's row locks and writes would be held across the HTTP call (a programming
    error, so not a KeyPoolError that callers turn into fallback content)."""
