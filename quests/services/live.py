"""Live missions: written by a django-q2 task, never inside a web request.

A launch that may go live creates a pending run that already holds an archive mission (chosen
in that POST) and enqueues `quests.tasks.write_live_run` after commit. The progress page only
reads: it shows progress while the task writes, the mission once it is ready, and the archive
mission it already holds once `live_wait_seconds` (plus a short grace) have passed, whether or
not any cluster is running. The task writes the live mission only before that deadline; a
mission that arrives later is kept for the next player as a buffered run, so no quota is lost.
"""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from keymanager.services import default_model
from quests.conf import game_settings
from quests.models import FallbackReason, Player, Quest, QuestRun, RunSource, RunStatus, Tier
from quests.services.content import content_fields
from quests.services.generation import generate_content, tier_config
from quests.services.headroom import live_headroom
from quests.services.limits import account_is_new, live_take
from quests.services.novelty import has_flown
from quests.services.prefetch import buffer_keep

logger = logging.getLogger("quests")

# The page waits this much longer than the task may write, so that a mission written just
# before its deadline is never replaced by the archive on a page that read the run a moment
# earlier (clocks of web and worker hosts differ by less than this).
GRACE_SECONDS = 2
# Below Q_CLUSTER's timeout (120 s) and retry (180 s): a slow task is never delivered twice.
TASK_TIMEOUT = 100
WRITE_TASK = "quests.tasks.write_live_run"


class LiveState:
    WRITING = "writing"  # the task has not finished and the deadline has not passed
    READY = "ready"  # a live or buffered mission is ready
    ARCHIVE = "archive"  # an archive mission: chosen at launch, or the live one did not come in time
    ANSWERED = "answered"


def fallback_at(run: QuestRun) -> datetime:
    """When the progress page stops waiting for the live mission and shows the archive."""
    return run.created_at + timedelta(seconds=game_settings().live_wait_seconds + GRACE_SECONDS)


def live_state(run: QuestRun, *, now: datetime | None = None) -> str:
    """What the player's pages show for this run. Reads only."""
    if run.status == RunStatus.ANSWERED:
        return LiveState.ANSWERED
    if run.status == RunStatus.READY:
        return LiveState.ARCHIVE if run.source == RunSource.ARCHIVE else LiveState.READY
    if (now or timezone.now()) >= fallback_at(run):
        return LiveState.ARCHIVE
    return LiveState.WRITING


def live_refusal(
    *, player: Player, quest: Quest, address: str | None, tier: str = Tier.CADET, counted: bool = False
) -> str | None:
    """Why this launch cannot go live (a FallbackReason), or None when it may.

    Cheap checks first; the rate limits last, so they count only launches that would
    otherwise have spent quota (`counted`: this launch was counted already). Guests and
    accounts younger than a day share the reserve: what the pool keeps for established players.
    """
    conf = game_settings()
    headroom = live_headroom(model=tier_config(quest=quest, tier=tier).model or default_model())
    if headroom <= 0:
        return FallbackReason.UNAVAILABLE
    if (player.is_guest or account_is_new(player)) and headroom <= conf.guest_min_headroom:
        return FallbackReason.RESERVED
    if live_in_flight() >= conf.live_max_in_flight:
        return FallbackReason.BUSY
    if not counted and live_take(player=player, address=address) is not None:
        return FallbackReason.LIMITED
    return None


def live_in_flight() -> int:
    """Live runs whose task has not finished: queued or being written. A run left pending by a
    stopped cluster stops counting after `generation_stale_seconds`."""
    since = timezone.now() - timedelta(seconds=game_settings().generation_stale_seconds)
    return QuestRun.objects.filter(source=RunSource.LIVE, status=RunStatus.PENDING, created_at__gt=since).count()


def live_enqueue(*, run: QuestRun) -> None:
    """Queue the task that writes this run, once the launch's transaction has committed (the
    worker must find the row). Only the id travels. A broker that cannot take the task leaves
    the run pending: its player gets the archive at the deadline, not an error."""
    from django_q.tasks import async_task

    run_id = run.pk
    transaction.on_commit(
        lambda: async_task(WRITE_TASK, run_id, task_name=f"live-run-{run_id}", timeout=TASK_TIMEOUT), robust=True
    )


def live_write(*, run_id: int, rng: random.Random | None = None) -> str:
    """Write a pending live run (the task's body). Returns what happened, for the task's result.

    Claimed with a conditional update, so a task delivered twice writes once. `complete()` is
    called outside any transaction; every write after it is one conditional update.
    """
    conf = game_settings()
    claimed_at = timezone.now()
    stale = claimed_at - timedelta(seconds=conf.generation_stale_seconds)
    claimed = (
        QuestRun.objects.filter(pk=run_id, source=RunSource.LIVE, status=RunStatus.PENDING)
        .filter(Q(claimed_at__isnull=True) | Q(claimed_at__lt=stale))
        .update(claimed_at=claimed_at)
    )
    if not claimed:
        return "not pending"
    run = QuestRun.objects.select_related("quest").get(pk=run_id)
    deadline = timedelta(seconds=conf.live_wait_seconds)
    if claimed_at >= run.created_at + deadline:
        # Queued past its deadline (a backlog, or a cluster that was down): its player has the
        # archive mission already. Spending quota now would only fill the buffer under pressure.
        live_fall_back(run_id=run_id, reason=FallbackReason.TIMEOUT)
        return "timeout"
    content, reason = _content_new_to_player(run=run, deadline=deadline, rng=rng)
    if content is None:
        note = "live generation unavailable" if reason == FallbackReason.FAILED else ""
        live_fall_back(run_id=run_id, reason=reason, note=note)
        return "failed" if reason == FallbackReason.FAILED else "repeat"
    written = QuestRun.objects.filter(
        pk=run_id, status=RunStatus.PENDING, claimed_at=claimed_at, created_at__gt=timezone.now() - deadline
    ).update(status=RunStatus.READY, served_at=timezone.now(), archive_ref="", fallback_reason="", **content)
    if written:
        return "live"
    # Too late for its player, who is shown the archive mission by now: the next player gets it.
    buffer_keep(quest=run.quest, tier=run.tier, fields=content)
    live_fall_back(run_id=run_id, reason=FallbackReason.TIMEOUT)
    logger.info("live run %s: written after its deadline, kept as a buffered run", run_id)
    return "buffered"


# One more call when the model repeats a mission its player has flown (the repeat is kept for
# the buffer, where other players can have it).
REPEAT_RETRIES = 1


def _content_new_to_player(
    *, run: QuestRun, deadline: timedelta, rng: random.Random | None
) -> tuple[dict | None, str]:
    """(run fields, "") for a live mission its player has not flown; (None, reason) to serve the
    archive mission the run holds instead: FAILED when the pool wrote nothing valid, REPEAT when
    the model wrote only missions the player has flown and the archive mission is new to them.
    When that one is flown too, the live mission is served after all: practice, 0 XP."""
    content: dict | None = None
    for _attempt in range(1 + REPEAT_RETRIES):
        generated = generate_content(quest=run.quest, purpose="quest", tier=run.tier, rng=rng)
        if generated is None:
            return (content, "") if content is not None and _held_is_flown(run) else (None, FallbackReason.FAILED)
        content = {
            **content_fields(generated.content, rng=rng),
            "model": generated.model,
            "request_id": generated.request_id,
            "generation_note": generated.note,
        }
        if not has_flown(player_id=run.player_id, key=content["content_key"], except_run_id=run.pk):
            return content, ""
        logger.info("live run %s: the model repeated a mission its player has flown", run.pk)
        buffer_keep(quest=run.quest, tier=run.tier, fields=content)
        if timezone.now() >= run.created_at + deadline:
            break
    if _held_is_flown(run):
        return content, ""
    return None, FallbackReason.REPEAT


def _held_is_flown(run: QuestRun) -> bool:
    """Whether the archive mission a pending run holds is one its player has flown already."""
    return has_flown(player_id=run.player_id, key=run.content_key, except_run_id=run.pk)


def live_fall_back(*, run_id: int, reason: str, note: str = "") -> bool:
    """Serve the archive mission a pending run already holds. Idempotent: only a pending run
    changes, so a late task and the player's answer can both call it."""
    return bool(
        QuestRun.objects.filter(pk=run_id, status=RunStatus.PENDING).update(
            status=RunStatus.READY,
            source=RunSource.ARCHIVE,
            served_at=timezone.now(),
            fallback_reason=reason,
            generation_note=f"served from the archive: {note or FallbackReason(reason).label.lower()}",
        )
    )


def live_settle(*, run: QuestRun) -> QuestRun:
    """Before answers are graded: a pending run past its fallback time becomes the archive run
    its player was shown. A POST, so this write is where it belongs."""
    if run.status == RunStatus.PENDING and live_state(run) == LiveState.ARCHIVE:
        live_fall_back(run_id=run.pk, reason=FallbackReason.TIMEOUT)
        run.refresh_from_db()
    return run
