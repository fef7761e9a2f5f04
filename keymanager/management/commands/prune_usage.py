"""`manage.py prune_usage --older-than 30d [--dry-run]`."""

from __future__ import annotations

import argparse

from django.core.management.base import BaseCommand

from keymanager.selectors.usage import parse_window
from keymanager.services.retention import prune_usage


def age(value: str):
    try:
        window = parse_window(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if window.total_seconds() < 86400:
        raise argparse.ArgumentTypeError("keep at least one day (1d): the pool's daily budgets read it")
    return window


class Command(BaseCommand):
    help = "Delete usage-log rows and ended cooldowns older than a given age; hourly rollups keep the totals."

    def add_arguments(self, parser):
        parser.add_argument("--older-than", type=age, required=True, help="An age such as 30d or 8w (at least 1d).")
        parser.add_argument("--dry-run", action="store_true", help="Count what would be deleted; delete nothing.")

    def handle(self, *args, older_than, dry_run, **options):
        result = prune_usage(older_than=older_than, dry_run=dry_run)
        verb = "Would delete" if dry_run else "Deleted"
        self.stdout.write(
            self.style.SUCCESS(
                f"{verb} {result.usage_logs:,} usage-log row(s) and {result.cooldowns:,} ended cooldown(s) "
                f"from before {result.cutoff:%Y-%m-%d %H:%M} UTC."
            )
        )
