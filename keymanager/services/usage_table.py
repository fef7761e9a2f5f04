"""The usage report as rows and as a text table: `manage.py usage_report` and the daily mail."""

from __future__ import annotations

from datetime import date

from keymanager.models import Key
from keymanager.selectors.usage import Stats

COLUMNS = [
    ("calls", "CALLS"),
    ("attempts", "ATTEMPTS"),
    ("success_rate", "SUCCESS"),
    ("calls_served_rate", "SERVED"),
    ("rate_limited", "429s"),
    ("errors", "ERRORS"),
    ("key_switches", "SWITCHES"),
    ("prompt_tokens", "PROMPT TOK"),
    ("completion_tokens", "COMPL TOK"),
    ("total_tokens", "TOKENS"),
    ("p50_ms", "P50 MS"),
    ("p95_ms", "P95 MS"),
    ("openai_fallbacks", "OPENAI FB"),
    ("curated_fallbacks", "CURATED FB"),
]


def label_for(by: str | None, value, keys: dict[int, Key]) -> str:
    if by is None:
        return "TOTAL"
    if value is None:
        return "(deleted key)" if by == "key" else "(none)"
    if by == "key":
        key = keys.get(value)
        return f"#{value} {key.name} ({key.masked})" if key else f"#{value} (deleted key)"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def report_rows(stats: dict[tuple, Stats], by: str | None, *, curated: dict) -> list[dict]:
    keys = Key.objects.in_bulk([g[0] for g in stats if g and g[0] is not None]) if by == "key" else {}
    rows = []
    for group in sorted(stats, key=lambda g: tuple((v is None, str(v)) for v in g)):
        s = stats[group]
        value = group[0] if group else None
        rows.append(
            {
                by or "group": label_for(by, value, keys),
                "calls": s.calls,
                "attempts": s.attempts,
                "success_rate": s.success_rate,
                "calls_served_rate": s.call_success_rate,
                "rate_limited": s.rate_limited,
                "errors": s.errors,
                "key_switches": s.switches,
                "prompt_tokens": s.prompt_tokens,
                "completion_tokens": s.completion_tokens,
                "total_tokens": s.total_tokens,
                "p50_ms": s.p50,
                "p95_ms": s.p95,
                "openai_fallbacks": s.openai_fallbacks,
                "curated_fallbacks": curated.get(group) if curated else None,
            }
        )
    return rows


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1%}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def render_table(rows: list[dict], by: str | None) -> str:
    first = by or "group"
    headers = [(first, first.upper()), *COLUMNS]
    cells = [[_cell(row.get(name)) for name, _ in headers] for row in rows]
    widths = [max(len(title), *(len(c[i]) for c in cells)) if cells else len(title) for i, (_, title) in enumerate(headers)]
    lines = ["  ".join(title.ljust(w) if i == 0 else title.rjust(w) for i, ((_, title), w) in enumerate(zip(headers, widths, strict=True)))]
    for c in cells:
        lines.append("  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(c, widths, strict=True))))
    return "\n".join(lines)
