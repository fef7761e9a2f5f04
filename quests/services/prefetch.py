"""Ahead-of-time generation: keep a few fresh runs per quest so players rarely wait.

The buffer holds cadet missions, the tier every player can fly and the one most played;
officer and commander missions are written on launch (or come from the archive).

The buffer never queues two copies of one content: a unique index on the unserved buffered
runs' (quest, tier, content key) refuses the second, even from two refills at once, and a
refill whose mission is already queued does not count as a fill.

Prefetch yields to players: it runs only while the pool has clear headroom for the quest's
model, makes at most `refills_per_run` runs per task, and stops at the first sign of
pressure (an exhausted pool or invalid output) instead of waiting.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from keymanager.services import default_model
from quests.conf import game_settings
from quests.models import Quest, QuestRun, RunSource, RunStatus, Tier
from quests.services.content import content_fields
from quests.services.generation import generate_content, tier_config
from quests.services.headroom import pool_headroom

logger = logging.getLogger("quests")

# A quest whose missions come back already queued this many times in one refill waits for the
# next refill: the model is repeating itself, and more calls would mostly buy more copies.
DUPLICATES_PER_QUEST = 2


@dataclass
class RefillReport:
    created: dict[int, int] = field(default_factory=dict)  # quest number -> runs made
    stopped: str = ""  # why the refill stopped early, if it did
    duplicates: dict[int, int] = field(default_factory=dict)  # quest number -> missions already queued

    @property
    def total(self) -> int:
        return sum(self.created.values())

    @property
    def calls(self) -> int:
        """Missions written, duplicates included: what the refill cost the pool."""
        return self.total + sum(self.duplicates.values())


def buffer_levels() -> dict[int, int]:
    """Buffered (cadet) runs per quest number."""
    levels = {q.number: 0 for q in Quest.objects.filter(enabled=True)}
    for number in QuestRun.objects.filter(
        player__isnull=True, status=RunStatus.READY, source=RunSource.BUFFER, tier=Tier.CADET
    ).values_list("quest__number", flat=True):
        levels[number] = levels.get(number, 0) + 1
    return levels


def buffer_refill(*, quest_ids: list[int] | None = None, max_runs: int | None = None) -> RefillReport:
    """Top each quest's buffer up to `buffer_size`, emptiest quest first, within the caps."""
    conf = game_settings()
    cap = conf.refills_per_run if max_runs is None else max_runs
    report = RefillReport()
    quests = Quest.objects.filter(enabled=True)
    if quest_ids is not None:
        quests = quests.filter(pk__in=quest_ids)
    levels = buffer_levels()
    wanted = sorted(
        ((levels.get(q.number, 0), q) for q in quests if levels.get(q.number, 0) < conf.buffer_size),
        key=lambda item: (item[0], item[1].number),
    )
    fallback_model = default_model()
    # The cap counts missions written, duplicates too: a model that repeats itself cannot make
    # one refill spend the pool without bound.
    while wanted and report.calls < cap:
        level, quest = wanted.pop(0)
        headroom = pool_headroom(model=tier_config(quest=quest, tier=Tier.CADET).model or fallback_model)
        # Strictly more than the reserved share must be free: players keep at least that much.
        if headroom <= conf.prefetch_min_headroom:
            report.stopped = f"pool headroom {headroom:.0%}, at or below the {conf.prefetch_min_headroom:.0%} kept for players"
            break
        generated = generate_content(quest=quest, purpose="quest-prefetch", background=True)
        if generated is None:
            report.stopped = f"quest {quest.number}: no valid run from the pool"
            break
        fields = {
            **content_fields(generated.content),
            "model": generated.model,
            "request_id": generated.request_id,
            "generation_note": generated.note,
        }
        if buffer_keep(quest=quest, tier=Tier.CADET, fields=fields):
            report.created[quest.number] = report.created.get(quest.number, 0) + 1
            level += 1
        else:
            report.duplicates[quest.number] = report.duplicates.get(quest.number, 0) + 1
        if level < conf.buffer_size and report.duplicates.get(quest.number, 0) < DUPLICATES_PER_QUEST:
            wanted.append((level, quest))
            wanted.sort(key=lambda item: (item[0], item[1].number))
    if report.stopped:
        logger.info("buffer refill stopped early: %s", report.stopped)
    return report


def buffer_keep(*, quest: Quest, tier: str, fields: dict) -> bool:
    """Queue a written mission for the next player; False when a copy of its content is queued
    already (the unique index decides, so two writers at once keep one)."""
    try:
        with transaction.atomic():
            QuestRun.objects.create(quest=quest, tier=tier, source=RunSource.BUFFER, status=RunStatus.READY, **fields)
    except IntegrityError:
        logger.info("quest %s: a copy of this %s mission is already in the buffer", quest.number, tier)
        return False
    return True


def refill_request(*, quest: Quest) -> bool:
    """Ask the task queue for a refill of this quest after the current transaction commits.

    Debounced per quest with a conditional update, so a crowd of players taking runs
    enqueues one task, not one each.
    """
    conf = game_settings()
    if not conf.refill_on_serve:
        return False
    now = timezone.now()
    due = now - timedelta(seconds=conf.refill_debounce_seconds)
    claimed = (
        Quest.objects.filter(pk=quest.pk)
        .filter(Q(refill_requested_at__isnull=True) | Q(refill_requested_at__lt=due))
        .update(refill_requested_at=now)
    )
    if not claimed:
        return False
    from django_q.tasks import async_task

    quest_id = quest.pk
    transaction.on_commit(
        lambda: async_task("quests.tasks.refill_quest", quest_id, task_name=f"refill-quest-{quest_id}", timeout=100)
    )
    return True
