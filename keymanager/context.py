"""The request id of the work in progress, as it travels from a web request into the pool.

Whoever starts a piece of work sets it (the web request's middleware from `X-Request-ID`, the
django-q2 worker from the id the enqueuing request handed to the task); the pool only reads it:
every usage-log row records it (`UsageLog.trace_id`) and every log line carries it. It is an
id, never a secret, so it may travel in task arguments and log lines.

`UsageLog.request_id` is another thing: it groups the attempts of one logical `complete()`
call. One web request (or task) can make several calls; they share one trace id.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar, Token

_trace_id: ContextVar[str] = ContextVar("cosmosquest_trace_id", default="")

# What an incoming X-Request-ID may look like: a proxy's id (nginx's $request_id is 32 hex
# digits), a UUID, or similar. Anything else is replaced, so a client cannot write arbitrary
# text into log lines or usage rows.
_VALID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{7,63}")
MAX_LENGTH = 64


def new_trace_id() -> str:
    return uuid.uuid4().hex


def valid_trace_id(value: str | None) -> str | None:
    """`value` when it is an acceptable id, else None."""
    if value and _VALID.fullmatch(value):
        return value
    return None


def current_trace_id() -> str:
    """The id of the work in progress; "" outside any request or task. (UsageLog.trace_id's
    default: it is evaluated when each row is created.)"""
    return _trace_id.get()


def set_trace_id(value: str) -> Token:
    return _trace_id.set(value[:MAX_LENGTH])


def reset_trace_id(token: Token) -> None:
    _trace_id.reset(token)
