"""django-q2 tasks of the game. They take ids, never model instances or secrets."""

from __future__ import annotations

from django_q.models import Schedule

from quests.conf import game_settings
from quests.services.daily import daily_prepare_ahead
from quests.services.leagues import leagues_close_due
from quests.services.live import live_write
from quests.services.prefetch import buffer_refill

REFILL_SCHEDULE = "quests.refill_buffers"
DAILY_SCHEDULE = "quests.prepare_daily"
LEAGUES_SCHEDULE = "quests.close_leagues"
# Below Q_CLUSTER's timeout (120 s) and retry (180 s): a slow refill is never delivered twice.
TASK_TIMEOUT = 100


def refill_buffers() -> dict:
    """Scheduled: top up every quest's buffer within the caps and the pool's headroom."""
    report = buffer_refill()
    return {"created": report.created, "duplicates": report.duplicates, "stopped": report.stopped}


def refill_quest(quest_id: int) -> dict:
    """Enqueued when a player takes a buffered run of this quest."""
    report = buffer_refill(quest_ids=[quest_id], max_runs=game_settings().buffer_size)
    return {"created": report.created, "duplicates": report.duplicates, "stopped": report.stopped}


def write_live_run(run_id: int) -> str:
    """Enqueued when a player launches a mission that goes live (after the launch commits)."""
    return live_write(run_id=run_id)


def prepare_daily() -> dict:
    """Scheduled hourly: write today's (if missing) and tomorrow's daily mission ahead; today's
    from the archive when the pool cannot write it."""
    report = daily_prepare_ahead()
    return {"ready": report.ready, "missing": report.missing, "archive": report.archive}


def close_leagues() -> list[str]:
    """Scheduled hourly: close the league weeks that are over (pages and grading also close
    them when they find one; whoever comes first closes it, once)."""
    return [day.isoformat() for day in leagues_close_due()]


def ensure_schedules() -> list[Schedule]:
    """Create or update the game's schedules; safe to call any number of times."""
    schedule, _ = Schedule.objects.update_or_create(
        name=REFILL_SCHEDULE,
        defaults={
            "func": "quests.tasks.refill_buffers",
            "schedule_type": Schedule.MINUTES,
            "minutes": game_settings().refill_every_minutes,
            "repeats": -1,
        },
    )
    daily, _ = Schedule.objects.update_or_create(
        name=DAILY_SCHEDULE,
        defaults={"func": "quests.tasks.prepare_daily", "schedule_type": Schedule.HOURLY, "repeats": -1},
    )
    leagues, _ = Schedule.objects.update_or_create(
        name=LEAGUES_SCHEDULE,
        defaults={"func": "quests.tasks.close_leagues", "schedule_type": Schedule.HOURLY, "repeats": -1},
    )
    return [schedule, daily, leagues]
