"""Grading a run on the server: answers are checked here and nowhere else."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from quests.models import Player, QuestRun, RunStatus
from quests.services.flight_school import cards_from_run
from quests.services.leagues import league_credit, leagues_close_due
from quests.services.scoring import rank_for, run_xp
from quests.services.streaks import state_of, streak_on_play
from quests.services.xp import xp_credit


class GradingError(Exception):
    """A submission that cannot be graded; `status` is the HTTP status the view answers with."""

    status = 400
    title = "Transmission rejected"


class RunNotFound(GradingError):
    status = 404
    title = "Mission not found"


class RunNotReady(GradingError):
    title = "Mission not ready"


class RunAlreadyAnswered(GradingError):
    title = "Mission already answered"


class InvalidAnswers(GradingError):
    title = "Invalid answers"


@dataclass(frozen=True)
class Graded:
    run: QuestRun
    correct: int
    xp: int  # what counted; run.xp_earned is what the score earned
    rank_before: str
    rank_after: str
    freeze_earned: bool = False
    freeze_used: bool = False
    review_cards: int = 0  # missed questions sent to flight school

    @property
    def promoted(self) -> bool:
        return self.rank_before != self.rank_after


def check_answers(*, run: QuestRun, answers: list[int]) -> None:
    if len(answers) != len(run.questions):
        raise InvalidAnswers(f"Expected {len(run.questions)} answers, got {len(answers)}.")
    for i, (answer, question) in enumerate(zip(answers, run.questions, strict=True), start=1):
        if isinstance(answer, bool) or not isinstance(answer, int) or not 0 <= answer < len(question["options"]):
            raise InvalidAnswers(f"The answer to question {i} is not one of its options.")


def run_grade(*, run_id: int, player: Player, answers: list[int]) -> Graded:
    """Grade the player's answers once. A second submission, someone else's run or an
    answer out of range raises a GradingError and changes nothing."""
    run = QuestRun.objects.filter(pk=run_id, player=player).select_related("quest").first()
    if run is None:
        raise RunNotFound("There is no mission with that number in your log.")
    if run.status == RunStatus.ANSWERED:
        raise RunAlreadyAnswered("You have already answered this mission; its result is in your log.")
    if run.status != RunStatus.READY:
        raise RunNotReady("This mission's transmission has not arrived yet.")
    check_answers(run=run, answers=answers)
    correct = sum(1 for a, q in zip(answers, run.questions, strict=True) if a == q["answer"])
    now = timezone.now()
    today = timezone.localdate(now)
    # A league week that is over is closed before any XP of the new one counts (its own
    # transaction: it writes many players' standings, never under one player's lock).
    leagues_close_due(now=now)
    with transaction.atomic():
        # Lock the player row first: concurrent submissions queue here, and the conditional
        # update below lets exactly one of them through.
        locked = Player.objects.select_for_update().get(pk=player.pk)
        update = streak_on_play(state=state_of(locked), today=today)
        streak = update.state.days
        earned = run_xp(correct=correct, total=len(run.questions), streak_days=streak, tier=run.tier)
        xp, note = xp_credit(player_id=player.pk, run=run, earned=earned, at=now)
        done = QuestRun.objects.filter(pk=run.pk, player=player, status=RunStatus.READY).update(
            status=RunStatus.ANSWERED,
            answers=answers,
            correct_count=correct,
            xp_earned=earned,
            xp_awarded=xp,
            xp_note=note,
            answered_at=now,
            streak_at_answer=streak,
            seconds_taken=max(0, int((now - run.served_at).total_seconds())) if run.served_at else None,
        )
        if not done:
            raise RunAlreadyAnswered("You have already answered this mission; its result is in your log.")
        perfect = int(correct == len(run.questions))
        Player.objects.filter(pk=player.pk).update(
            xp=F("xp") + xp,
            runs_completed=F("runs_completed") + 1,
            perfect_runs=F("perfect_runs") + perfect,
            correct_answers=F("correct_answers") + correct,
            streak_days=streak,
            best_streak=Greatest(F("best_streak"), streak),
            last_played_on=today,
            streak_freeze_held=update.state.freeze_held,
            streak_freeze_used_on=update.state.freeze_used_on,
        )
        cards = cards_from_run(run=run, answers=answers, player_id=player.pk, today=today)
        league_credit(player_id=player.pk, xp=xp, at=now)
    run.refresh_from_db()
    return Graded(
        run=run,
        correct=correct,
        xp=xp,
        rank_before=rank_for(locked.xp).name,
        rank_after=rank_for(locked.xp + xp).name,
        freeze_earned=update.freeze_earned,
        freeze_used=update.freeze_used,
        review_cards=cards,
    )
