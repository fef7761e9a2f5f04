"""django-q2 tasks of the key pool, and the schedules that run them.

Tasks take ids and plain values, never secrets or model instances, and each finishes
well inside the cluster's `timeout` (which stays below its `retry`).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.core.mail import mail_admins
from django.utils import timezone
from django_q.models import Schedule
from django_q.tasks import async_task

from keymanager.selectors.usage import usage_stats
from keymanager.services import alerts, probes, retention, rollups
from keymanager.services.fallbacks import curated_fallbacks
from keymanager.services.usage_table import render_table, report_rows

logger = logging.getLogger("keymanager.tasks")

# Seconds; below Q_CLUSTER["timeout"] (120) which is below its "retry" (180).
TASK_TIMEOUT = 90


def retention_days() -> int:
    return int(getattr(settings, "KEYMANAGER_USAGE_RETENTION_DAYS", 30))


def check_alerts() -> dict:
    run = alerts.check_alerts()
    return {"opened": [i.pk for i in run.opened], "resolved": [i.pk for i in run.resolved]}


def rollup_usage() -> int:
    return rollups.rollup_usage()


def probe_cooled_keys() -> list[int]:
    """Enqueue one probe per key whose cooldown ended; each probe is its own task."""
    key_ids = probes.keys_to_probe()
    for key_id in key_ids:
        async_task("keymanager.tasks.probe_key", key_id, timeout=TASK_TIMEOUT, task_name=f"probe-key-{key_id}")
    return key_ids


def probe_key(key_id: int) -> str:
    result = probes.probe_key(key_id=key_id)
    if result is None:
        return "skipped: used or probed since its cooldown ended"
    return result.message


def prune_usage() -> dict:
    result = retention.prune_usage(older_than=timedelta(days=retention_days()))
    return {"usage_logs": result.usage_logs, "cooldowns": result.cooldowns}


def send_daily_report() -> str:
    """Mail admins the last 24 hours by key (the `usage_report` table)."""
    now = timezone.now()
    since = now - timedelta(hours=24)
    stats = usage_stats(since=since, until=now, by=("key",))
    rows = report_rows(stats, "key", curated={})
    total = usage_stats(since=since, until=now)
    curated = curated_fallbacks(since=since, until=now).get((), None)
    total_row = report_rows(total, None, curated={(): curated} if curated is not None else {})[0]
    rows.append({"key": total_row.pop("group"), **total_row})
    body = (
        f"CosmosQuest key pool usage, {since:%Y-%m-%d %H:%M} to {now:%Y-%m-%d %H:%M} UTC\n\n"
        + render_table(rows, "key")
        + "\n\nThe dashboard: /admin/api-dashboard/\n"
    )
    mail_admins(f"Key pool usage report {now:%Y-%m-%d}", body)
    return f"{len(rows) - 1} key(s) reported"


SCHEDULES = [
    # (name, func, schedule_type, minutes, daily at "HH:MM" UTC)
    ("keymanager: alerts", "keymanager.tasks.check_alerts", Schedule.MINUTES, 1, None),
    ("keymanager: usage rollups", "keymanager.tasks.rollup_usage", Schedule.MINUTES, 5, None),
    ("keymanager: probe cooled keys", "keymanager.tasks.probe_cooled_keys", Schedule.MINUTES, 1, None),
    ("keymanager: daily usage report", "keymanager.tasks.send_daily_report", Schedule.DAILY, None, "07:00"),
    ("keymanager: prune usage logs", "keymanager.tasks.prune_usage", Schedule.DAILY, None, "03:30"),
]


def _next_at(clock: str | None):
    now = timezone.now()
    if clock is None:
        return now
    hour, minute = (int(part) for part in clock.split(":"))
    first = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    return first if first > now else first + timedelta(days=1)


def ensure_schedules() -> list[Schedule]:
    """Create or update every schedule of the key pool; safe to run on every start.

    An existing schedule keeps its next run; only what it runs and how often is updated.
    """
    result = []
    for name, func, schedule_type, minutes, clock in SCHEDULES:
        fields = {
            "func": func,
            "schedule_type": schedule_type,
            "minutes": minutes,
            "repeats": -1,
            "kwargs": f"q_options={{'timeout': {TASK_TIMEOUT}}}",
        }
        schedule = Schedule.objects.filter(name=name).order_by("pk").first()
        if schedule is None:
            schedule = Schedule.objects.create(name=name, next_run=_next_at(clock), **fields)
        else:
            changed = [f for f, v in fields.items() if getattr(schedule, f) != v]
            for f in changed:
                setattr(schedule, f, fields[f])
            if changed:
                schedule.save(update_fields=changed)
            Schedule.objects.filter(name=name).exclude(pk=schedule.pk).delete()  # duplicates from old runs
        result.append(schedule)
    return result
