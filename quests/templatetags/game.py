from __future__ import annotations

from datetime import datetime, timedelta

from django import template
from django.utils import timezone
from django.utils.timesince import timesince

from quests.services.leagues import division_name

register = template.Library()


def _seconds(value: timedelta | int | None) -> int | None:
    if value is None:
        return None
    return max(0, int(value.total_seconds() if isinstance(value, timedelta) else value))


@register.filter
def duration_short(value: timedelta | int | None) -> str:
    """'1:05' (minutes:seconds) for a daily-mission time (a timedelta or seconds), short enough
    for a phone's board column; '–' when unknown."""
    seconds = _seconds(value)
    if seconds is None:
        return "–"
    return f"{seconds // 60}:{seconds % 60:02d}"


@register.filter
def duration_iso(value: timedelta | int | None) -> str:
    """The same time as an ISO 8601 duration, for <time datetime>: 'PT1M5S'."""
    seconds = _seconds(value) or 0
    return f"PT{seconds // 60}M{seconds % 60}S"


@register.filter
def ago(value: datetime | None) -> str:
    """'just now' under a minute, else '5 minutes ago' (Django's timesince says '0 minutes')."""
    if value is None:
        return ""
    if (timezone.now() - value).total_seconds() < 60:
        return "just now"
    return f"{timesince(value, depth=1)} ago"


@register.filter
def time_left(seconds: int | None) -> str:
    """'5 h 12 min', '12 min', '45 s': what a countdown shows without JavaScript."""
    seconds = max(0, int(seconds or 0))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"


OPTION_LETTERS = "ABCD"


@register.filter
def option_letter(index: int) -> str:
    """The letter an option is labelled with (and the key that picks it): 0 -> 'A'."""
    return OPTION_LETTERS[index] if 0 <= index < len(OPTION_LETTERS) else str(index + 1)


@register.filter(name="division_name")
def division_name_filter(division: int | None) -> str:
    return division_name(division or 1)
