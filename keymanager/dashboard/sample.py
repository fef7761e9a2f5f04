"""Synthetic usage-log rows for the dashboard benchmark, tests and demos (never secrets)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import datetime

from keymanager.models import Key, Outcome, Provider

MODELS = ("openai/gpt-oss-20b", "openai/gpt-oss-120b")
# (outcome, weight, http status, error code)
OUTCOMES = [
    (Outcome.SUCCESS, 900, 200, ""),
    (Outcome.RATE_LIMITED, 40, 429, "rate_limit_exceeded"),
    (Outcome.ERROR, 30, 503, "service_unavailable"),
    (Outcome.TIMEOUT, 15, None, "timeout"),
    (Outcome.AUTH_FAILED, 5, 401, "invalid_api_key"),
    (Outcome.BAD_REQUEST, 5, 400, "invalid_request"),
    (Outcome.PENDING, 5, None, ""),
]
COLUMNS = (
    "request_id", "key_id", "provider", "organization", "model", "purpose", "quest", "outcome", "http_status",
    "error_code", "prompt_tokens", "completion_tokens", "total_tokens", "budget_tokens", "latency_ms", "attempt",
    "created_at", "finished_at",
)  # fmt: skip


def sample_rows(*, keys: list[Key], count: int, since: datetime, until: datetime, seed: int = 7) -> Iterator[tuple]:
    """`count` rows spread uniformly over [since, until), about 8 % of calls retried on a
    second key. Yields tuples in COLUMNS order."""
    rng = random.Random(seed)
    span = (until - since).total_seconds()
    outcomes, weights = zip(*[(o, w) for o, w, _, _ in OUTCOMES], strict=True)
    detail = {o: (s, c) for o, _, s, c in OUTCOMES}
    made = 0
    while made < count:
        request_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        at = since + (until - since) * rng.random() if span else since
        quest = rng.choice((1, 2, 3, 4, 5, None))
        model = MODELS[0] if rng.random() < 0.8 else MODELS[1]
        attempts = 2 if rng.random() < 0.08 else 1
        for attempt in range(1, attempts + 1):
            if made >= count:
                break
            key = rng.choice(keys)
            outcome = Outcome.RATE_LIMITED if attempt < attempts else rng.choices(outcomes, weights)[0]
            status, code = detail[outcome]
            ok = outcome == Outcome.SUCCESS
            prompt = rng.randint(200, 900)
            completion = rng.randint(150, 1200) if ok else 0
            latency = int(rng.lognormvariate(6.5, 0.5)) if outcome != Outcome.PENDING else None
            yield (
                request_id,
                key.pk,
                key.provider,
                key.organization,
                model if key.provider == Provider.GROQ else "gpt-4o-mini",
                "quest",
                quest,
                outcome,
                status,
                code,
                prompt if ok else 0,
                completion,
                prompt + completion if ok else 0,
                prompt + completion if ok else prompt + 1024,
                latency,
                attempt,
                at,
                None if outcome == Outcome.PENDING else at,
            )
            made += 1
