"""`manage.py schedules_setup`: create or update every django-q2 schedule (idempotent)."""

from __future__ import annotations

import importlib

from django.apps import apps
from django.core.management.base import BaseCommand
from django.utils.module_loading import module_has_submodule


def schedule_setters() -> list:
    """`ensure_schedules` of every installed app's `tasks` module that has one: this one names
    no other app (the pool knows nothing of the game)."""
    setters = []
    for app in apps.get_app_configs():
        if module_has_submodule(app.module, "tasks"):
            ensure = getattr(importlib.import_module(f"{app.name}.tasks"), "ensure_schedules", None)
            if ensure is not None:
                setters.append(ensure)
    return setters


class Command(BaseCommand):
    help = "Create or update every django-q2 schedule of every installed app (idempotent)."

    def handle(self, *args, **options):
        for ensure in schedule_setters():
            for schedule in ensure():
                every = f"every {schedule.minutes} min" if schedule.minutes else schedule.get_schedule_type_display().lower()
                self.stdout.write(f"{schedule.name}: {schedule.func}, {every}, next run {schedule.next_run:%Y-%m-%d %H:%M} UTC")
        self.stdout.write(self.style.SUCCESS("Schedules are up to date."))
