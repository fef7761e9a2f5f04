"""Serving quest runs to players: from the buffer, written live by a task, or from the archive."""

from __future__ import annotations

import logging
import random

from django.utils import timezone

from quests.models import FallbackReason, Player, Quest, QuestRun, RunSource, RunStatus, Tier
from quests.services.archive import archive_pick
from quests.services.content import content_fields
from quests.services.limits import live_take
from quests.services.live import live_enqueue, live_refusal

logger = logging.getLogger("quests")

ACTIVE = (RunStatus.PENDING, RunStatus.READY)


def run_start(*, player: Player, quest: Quest, tier: str = Tier.CADET, address: str | None = None) -> QuestRun:
    """The player's run of this quest: the one already open, else a buffered one of this tier,
    else a live one written by a django-q2 task (see services.live), else an archive run at once.

    Never calls the LLM: a web request only decides and enqueues. A live run holds its archive
    mission from the start, so its player is never left waiting past the deadline.
    """
    open_run = (
        QuestRun.objects.filter(player=player, quest=quest, status__in=ACTIVE, daily__isnull=True)
        .order_by("-created_at")
        .first()
    )
    if open_run is not None:
        return open_run
    counted = False
    if QuestRun.objects.buffered(quest.pk, tier).exists():
        # A buffered mission handed out is written again by a refill: one LLM call, counted
        # like a live launch. Beyond the limits the archive, and the buffer stays for others.
        if live_take(player=player, address=address) is not None:
            return _archive_run(player=player, quest=quest, tier=tier, reason=FallbackReason.LIMITED)
        counted = True
        claimed = _claim_buffered(player=player, quest=quest, tier=tier)
        if claimed is not None:
            from quests.services.prefetch import refill_request  # avoids an import cycle

            refill_request(quest=quest)  # only after a counted hand-out
            return claimed
    reason = live_refusal(player=player, quest=quest, tier=tier, address=address, counted=counted)
    if reason:
        return _archive_run(player=player, quest=quest, tier=tier, reason=reason)
    fields = _archive_fields(player_id=player.pk, quest=quest, tier=tier, rng=None)
    fields["source"] = RunSource.LIVE
    run = QuestRun.objects.create(quest=quest, tier=tier, player=player, status=RunStatus.PENDING, **fields)
    live_enqueue(run=run)
    return run


def _archive_run(*, player: Player, quest: Quest, tier: str, reason: str) -> QuestRun:
    return QuestRun.objects.create(
        quest=quest,
        tier=tier,
        player=player,
        status=RunStatus.READY,
        served_at=timezone.now(),
        fallback_reason=reason,
        generation_note=f"served from the archive: {FallbackReason(reason).label.lower()}",
        **_archive_fields(player_id=player.pk, quest=quest, tier=tier, rng=None),
    )


def _claim_buffered(*, player: Player, quest: Quest, tier: str) -> QuestRun | None:
    """Take the oldest buffered run. The conditional update is the claim: of two players
    racing for one run, exactly one update matches, and the other tries the next run."""
    for _ in range(5):
        candidate = QuestRun.objects.buffered(quest.pk, tier).order_by("created_at").values_list("pk", flat=True).first()
        if candidate is None:
            return None
        taken = QuestRun.objects.filter(pk=candidate, player__isnull=True, status=RunStatus.READY).update(
            player=player, served_at=timezone.now()
        )
        if taken:
            return QuestRun.objects.get(pk=candidate)
    return None


def _archive_fields(*, player_id: int | None, quest: Quest, tier: str, rng: random.Random | None) -> dict:
    seen = set(
        QuestRun.objects.filter(player_id=player_id, quest=quest, source=RunSource.ARCHIVE)
        .exclude(archive_ref="")
        .values_list("archive_ref", flat=True)
    )
    entry = archive_pick(quest_number=quest.number, tier=tier, seen_refs=seen, rng=rng)
    return {
        "source": RunSource.ARCHIVE,
        **content_fields(entry.content, rng=rng),
        "archive_ref": entry.ref,
        "model": "",
    }

