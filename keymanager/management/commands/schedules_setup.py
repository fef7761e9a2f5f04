"""`manage.py schedules_setup`: create or update every django-q2 schedule (idempotent)."""

from __future__ import annotations

import importlib

from django.apps import apps
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create or update every django-q2 schedule of the key pool and the game (idempotent)."

    def handle(self, *args, **options):
        modules = ["keymanager.tasks"]
        if apps.is_installed("quests"):
            modules.append("quests.tasks")
        for name in modules:
            try:
                module = importlib.import_module(name)
            except ModuleNotFoundError as exc:
                if exc.name != name:
                    raise
                continue
            ensure = getattr(module, "ensure_schedules", None)
            if ensure is None:
                continue
            for schedule in ensure():
                every = f"every {schedule.minutes} min" if schedule.minutes else schedule.get_schedule_type_display().lower()
                self.stdout.write(f"{schedule.name}: {schedule.func}, {every}, next run {schedule.next_run:%Y-%m-%d %H:%M} UTC")
        self.stdout.write(self.style.SUCCESS("Schedules are up to date."))
