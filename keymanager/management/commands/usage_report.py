"""`manage.py usage_report`: calls, success, 429s, errors, tokens, latency and fallbacks."""

from __future__ import annotations

import argparse
import csv
import io
import json
from datetime import UTC, date, datetime, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from keymanager.models import Key
from keymanager.services.reports import Stats, curated_fallbacks, day_bounds, parse_window, usage_stats

GROUPS = ("key", "organization", "model", "quest", "day")
FORMATS = ("table", "json", "csv")
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


class Moment:
    """An argparse type: '24h'/'7d' (that long ago), a date, or an ISO date-time."""

    def __init__(self, *, end_of_day: bool):
        self.end_of_day = end_of_day

    def __call__(self, value: str) -> datetime:
        text = value.strip()
        try:
            return timezone.now() - parse_window(text)
        except ValueError:
            pass
        day = parse_date(text) if len(text) == 10 else None
        if day is not None:
            start, end = day_bounds(day)
            return end if self.end_of_day else start
        try:
            moment = parse_datetime(text)
        except ValueError:
            moment = None
        if moment is None:
            raise argparse.ArgumentTypeError(
                f"{value!r} is not a duration (30m, 24h, 7d, 2w), a date (2026-05-01) or a date-time"
            )
        return moment if timezone.is_aware(moment) else moment.replace(tzinfo=UTC)


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


class Command(BaseCommand):
    help = "Usage of the key pool over a period: calls, success rate, 429s, errors, tokens, p50/p95 latency, fallbacks."

    def add_arguments(self, parser):
        parser.add_argument("--since", type=Moment(end_of_day=False), default=None, help="24h, 7d, a date or a date-time (default: 24h).")
        parser.add_argument("--until", type=Moment(end_of_day=True), default=None, help="Same forms; a date includes that whole day (default: now).")
        parser.add_argument("--by", choices=GROUPS, default="key")
        parser.add_argument("--format", choices=FORMATS, default="table")

    def handle(self, *args, since, until, by, format, **options):
        now = timezone.now()
        until = until or now
        since = since or until - timedelta(hours=24)
        if since >= until:
            raise CommandError(f"--since ({since:%Y-%m-%d %H:%M}) must be before --until ({until:%Y-%m-%d %H:%M}).")
        stats = usage_stats(since=since, until=until, by=(by,))
        curated = curated_fallbacks(since=since, until=until, by=by) if by in ("day", "quest") else {}
        rows = report_rows(stats, by, curated=curated)
        total_curated = curated_fallbacks(since=since, until=until)
        total = report_rows(usage_stats(since=since, until=until), None, curated=total_curated)[0]
        if format == "json":
            payload = {"since": since.isoformat(), "until": until.isoformat(), "by": by, "rows": rows, "total": total}
            self.stdout.write(json.dumps(payload, indent=2, default=str))
        elif format == "csv":
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, fieldnames=[by, *(n for n, _ in COLUMNS)], lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
            writer.writerow({by: "TOTAL", **{k: v for k, v in total.items() if k != "group"}})
            self.stdout.write(buffer.getvalue(), ending="")
        else:
            self.stdout.write(f"Key pool usage {since:%Y-%m-%d %H:%M} to {until:%Y-%m-%d %H:%M} UTC, by {by}\n")
            if not rows:
                self.stdout.write("No calls in this period.")
                return
            self.stdout.write(render_table([*rows, {by: "TOTAL", **{k: v for k, v in total.items() if k != "group"}}], by))
            self.stdout.write(
                "\nSUCCESS: share of attempts that succeeded; SERVED: share of logical calls served; "
                "SWITCHES: calls that needed another key."
            )
