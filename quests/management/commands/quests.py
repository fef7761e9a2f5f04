"""Operate the game: buffer levels, refills and the curated archive."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from quests.conf import game_settings
from quests.models import Quest
from quests.services.archive_audit import archive_problems, archive_summary
from quests.services.prefetch import buffer_levels, buffer_refill


def positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError("must be at least 1")
    return number


class Command(BaseCommand):
    help = "Show buffer levels, refill buffers now, or check the curated archive."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        status = sub.add_parser("buffer", help="Buffered runs per quest against the target size.")
        status.add_argument("--format", choices=["table", "json"], default="table")
        refill = sub.add_parser("refill", help="Generate buffered runs now, within the pool's headroom.")
        refill.add_argument("--quest", type=int, action="append", help="Quest number (repeatable); default all.")
        refill.add_argument("--max", type=positive_int, help="Most runs to generate (default: refills_per_run).")
        sub.add_parser(
            "archive-check",
            help="Validate the curated archive against the schema and each tier's rules; exit non-zero on a problem.",
        )

    def handle(self, *args, action: str, **options):
        if action == "buffer":
            self._buffer(options["format"])
        elif action == "refill":
            self._refill(options.get("quest"), options.get("max"))
        else:
            self._archive_check()

    def _buffer(self, fmt: str) -> None:
        target = game_settings().buffer_size
        levels = buffer_levels()
        quests = {q.number: q.title for q in Quest.objects.filter(enabled=True)}
        if fmt == "json":
            self.stdout.write(json.dumps({"target": target, "levels": levels}))
            return
        for number, title in sorted(quests.items()):
            self.stdout.write(f"{number}  {title:<24} {levels.get(number, 0)}/{target}")

    def _refill(self, numbers: list[int] | None, max_runs: int | None) -> None:
        quest_ids = None
        if numbers:
            found = dict(Quest.objects.filter(number__in=numbers).values_list("number", "pk"))
            missing = sorted(set(numbers) - set(found))
            if missing:
                raise CommandError(f"No quest number {', '.join(map(str, missing))}.")
            quest_ids = list(found.values())
        report = buffer_refill(quest_ids=quest_ids, max_runs=max_runs)
        if report.duplicates:
            copies = sum(report.duplicates.values())
            self.stdout.write(f"Left out {copies} mission(s) already in the buffer (not counted as fills).")
        if report.total:
            made = ", ".join(f"quest {number}: {count}" for number, count in sorted(report.created.items()))
            self.stdout.write(f"Generated {report.total} run(s) ({made}).")
            if report.stopped:
                self.stdout.write(f"Stopped early: {report.stopped}.")
        elif report.stopped:
            self.stdout.write(f"Generated no runs: {report.stopped}.")
        else:
            target = game_settings().buffer_size
            self.stdout.write(f"Generated no runs: the buffer is full ({target} run(s) per quest, QUESTS_BUFFER_SIZE).")

    def _archive_check(self) -> None:
        problems = archive_problems()
        if problems:
            raise CommandError(f"The archive has {len(problems)} problem(s):\n" + "\n".join(problems))
        self.stdout.write(f"Archive OK: {archive_summary()}.")
