"""The one read of the pool: every enabled key of a provider with what holds it for a model and
its organization's budget row, in one query whatever the history (compiled once per model)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

from django.db import connection
from django.db.models import OuterRef, QuerySet, Subquery
from django.utils.dateparse import parse_datetime

from keymanager import clock
from keymanager.models import Cooldown, Key
from keymanager.services.budgets import BUDGET_COLUMNS, budget_columns


def epoch(value: datetime | None) -> float:
    return value.timestamp() if value is not None else 0.0


FIELDS = ("pk", "name", "organization", "order", "secret_encrypted", "consecutive_errors", "cooldown_streak",
           "last_used_at")
ANNOTATIONS = ("key_cooling", "org_cooling", *BUDGET_COLUMNS)
DATETIMES = ("last_used_at", "key_cooling", "org_cooling")
# A moment no real call has: marks where `now` goes in the compiled query's parameters.
_SENTINEL = datetime(2000, 1, 1, 0, 0, 0, 123456, tzinfo=UTC)


def cooling(model: str, now: datetime) -> dict[str, Subquery]:
    """The latest end of the cooldowns that hold a key for `model`, its own and its
    organization's (the one rule, `CooldownQuerySet.holding`)."""
    holding = Cooldown.objects.holding(model, now)
    latest = ("-ends_at",)
    return {
        "key_cooling": Subquery(holding.filter(key_id=OuterRef("pk")).order_by(*latest).values("ends_at")[:1]),
        "org_cooling": Subquery(
            holding.filter(key__isnull=True, provider=OuterRef("provider"), organization=OuterRef("organization"))
            .order_by(*latest)
            .values("ends_at")[:1]
        ),
    }


def pool_queryset(provider: str, model: str, now: datetime) -> QuerySet:
    """Every enabled key of `provider`, with what holds it for `model` and its
    organization's budget row for `model`."""
    annotations = {**cooling(model, now), **budget_columns(model)}
    assert tuple(annotations) == ANNOTATIONS
    return (
        Key.objects.filter(provider=provider, enabled=True)
        .annotate(**annotations)
        .values(*FIELDS, *ANNOTATIONS)
        .order_by("order", "pk")
    )


@lru_cache(maxsize=64)
def _compiled(alias: str, provider: str, model: str) -> tuple[str, tuple]:
    # Compiling the ORM query costs more than running it: do it once per (provider, model).
    return pool_queryset(provider, model, _SENTINEL).query.sql_with_params()


def as_datetime(value) -> datetime | None:
    """An aware datetime from what the driver hands back (SQLite: naive UTC, or text)."""
    if value is None:
        return None
    parsed = value if isinstance(value, datetime) else parse_datetime(str(value))
    return parsed.replace(tzinfo=UTC) if parsed is not None and parsed.tzinfo is None else parsed


def read_pool(provider: str, model: str) -> list[dict]:
    """`pool_queryset`'s rows, one query whatever the history. The query is compiled once
    and run with this moment's `now` in place of the sentinel."""
    sql, template = _compiled(connection.alias, provider, model)
    mark = connection.ops.adapt_datetimefield_value(_SENTINEL)
    now = connection.ops.adapt_datetimefield_value(clock.now_datetime())
    params = [now if p == mark else p for p in template]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = [dict(zip((*FIELDS, *ANNOTATIONS), row, strict=True)) for row in cursor.fetchall()]
    for row in rows:
        for name in DATETIMES:
            row[name] = as_datetime(row[name])
    return rows
