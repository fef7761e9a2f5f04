"""Number formats of the API dashboard and key admin."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def thousands(value) -> str:
    if value is None or value == "":
        return "–"
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return str(value)


@register.filter
def percent(value) -> str:
    """A 0..1 share as '97.5 %'; '–' when there is nothing to divide."""
    if value is None:
        return "–"
    return f"{float(value) * 100:.1f} %"


@register.filter
def ms(value) -> str:
    if value is None:
        return "–"
    value = int(value)
    return f"{value / 1000:.1f} s" if value >= 10_000 else f"{value:,} ms"
