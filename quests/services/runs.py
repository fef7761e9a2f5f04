"""Serving quest runs to players: from the buffer, written live by a task, or from the archive,
skipping content the player has flown while there is content they have not (services.novelty);
and a replay the player chose, which is practice (0 XP)."""

from __future__ import annotations

import logging
import random

from django.db.models import Subquery
from django.utils import timezone

from quests.models import FallbackReason, Player, Quest, QuestRun, RunSource, RunStatus, Tier
from quests.services.content import content_fields
from quests.services.limits import live_take
from quests.services.live import live_enqueue, live_refusal
from quests.services.novelty import archive_choose, daily_keys, flown_keys

logger = logging.getLogger("quests")

ACTIVE = (RunStatus.PENDING, RunStatus.READY)


def run_start(*, player: Player, quest: Quest, tier: str = Tier.CADET, address: str | None = None) -> QuestRun:
    """The player's run of this quest: the one already open, else a buffered one of this tier
    the player has not flown, else a live one written by a django-q2 task (see services.live),
    else an archive run at once (one not flown while there is one).

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
    """Take the oldest buffered run whose content the player has not flown (and that is not
    today's daily). The conditional update is the claim: of two players racing for one run,
    exactly one update matches, and the other tries the next run."""
    mine = QuestRun.objects.filter(player=player, quest=quest).exclude(content_key="").values("content_key")
    candidates = (
        QuestRun.objects.buffered(quest.pk, tier)
        .exclude(content_key__in=Subquery(mine))
        .exclude(content_key__in=daily_keys(quest_id=quest.pk))
        .order_by("created_at")
    )
    for _ in range(5):
        candidate = candidates.values_list("pk", flat=True).first()
        if candidate is None:
            return None
        taken = QuestRun.objects.filter(pk=candidate, player__isnull=True, status=RunStatus.READY).update(
            player=player, served_at=timezone.now()
        )
        if taken:
            return QuestRun.objects.get(pk=candidate)
    return None


def _archive_fields(*, player_id: int | None, quest: Quest, tier: str, rng: random.Random | None) -> dict:
    entry, _new = archive_choose(
        player_id=player_id,
        quest_number=quest.number,
        tier=tier,
        flown=flown_keys(player_id=player_id, quest_id=quest.pk),
        held_back=daily_keys(quest_id=quest.pk),
        rng=rng,
    )
    return {
        "source": RunSource.ARCHIVE,
        **content_fields(entry.content, rng=rng),
        "archive_ref": entry.ref,
        "model": "",
    }



class NotReplayable(LookupError):
    """The run to replay is not an answered mission of this player."""


def run_replay(*, player: Player, run_id: int, rng: random.Random | None = None) -> QuestRun:
    """Fly an answered mission again, on purpose: practice, 0 XP (the content was flown). The
    options come in a new order. A mission already open on that quest is returned instead, as
    for any launch: one open mission per quest."""
    original = (
        QuestRun.objects.filter(pk=run_id, player=player, status=RunStatus.ANSWERED)
        .select_related("quest")
        .first()
    )
    if original is None:
        raise NotReplayable("There is no flown mission with that number in your log.")
    open_run = (
        QuestRun.objects.filter(player=player, quest=original.quest, status__in=ACTIVE, daily__isnull=True)
        .order_by("-created_at")
        .first()
    )
    if open_run is not None:
        return open_run
    content = {"title": original.title, "briefing": original.briefing, "questions": original.questions}
    return QuestRun.objects.create(
        quest=original.quest,
        tier=original.tier,
        player=player,
        source=RunSource.REPLAY,
        status=RunStatus.READY,
        served_at=timezone.now(),
        archive_ref=original.archive_ref,
        model=original.model,
        generation_note=f"practice replay of run {original.pk}",
        **content_fields(content, rng=rng),
    )
