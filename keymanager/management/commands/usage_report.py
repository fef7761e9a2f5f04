"""`manage.py usage_report`: calls, success, 429s, errors, tokens, latency and fallbacks."""

from __future__ import annotations

import argparse
import csv
import io
import json
from datetime import UTC, datetime, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from keymanager.selectors.usage import day_bounds, parse_window, usage_stats
from keymanager.services.fallbacks import curated_fallbacks
from keymanager.services.usage_table import COLUMNS, render_table, report_rows

GROUPS = ("key", "organization", "model", "quest", "day")
FORMATS = ("table", "json", "csv")


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
        try:
            # Django's parsers return None for what is not shaped like a date, and raise
            # ValueError for what is shaped like one but does not exist (2026-13-45).
            day = parse_date(text) if len(text) == 10 else None
            moment = None if day else parse_datetime(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{value!r} is not a real date or time ({exc})") from None
        if day is not None:
            start, end = day_bounds(day)
            return end if self.end_of_day else start
        if moment is None:
            raise argparse.ArgumentTypeError(
                f"{value!r} is not a duration (30m, 24h, 7d, 2w), a date (2026-05-01) or a date-time"
            )
        return moment if timezone.is_aware(moment) else moment.replace(tzinfo=UTC)


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
