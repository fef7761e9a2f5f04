"""Flight school: the questions a player missed come back until they are known (Leitner boxes).

- Every question answered wrong in any mission (the daily and practice replays too) becomes a
  card in box 1, due the next day. Missing it again later puts it back in box 1.
- A card comes back 1 day after it enters box 1, 3 days after box 2 and 7 days after box 3.
  Right in box 1 or 2: up a box. Right in box 3, the third right answer in a row: it retires.
  Wrong: back to box 1, due the next day.
- XP (inside the fair-play rules): 2 XP per right review, at most 20 XP a day from reviews,
  apart from the quests' daily caps. A card pays only when it is due, so at most three times per
  miss; missing a question on purpose costs the mission's 10 XP or more and earns back at most
  6, so reviews cannot be farmed. Reviews count for the weekly league, not for the streak.
- The options come in a new order for every review (derived from the card's version, which
  the form carries); a form sent twice, or for a card already reviewed, changes nothing.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone

from quests.models import Player, QuestRun, ReviewAnswer, ReviewCard
from quests.services.leagues import league_credit

INTERVAL_DAYS = {1: 1, 2: 3, 3: 7}
LAST_BOX = 3
XP_PER_RIGHT_REVIEW = 2
XP_REVIEWS_PER_DAY = 20


def _norm(text: str) -> str:
    return " ".join(str(text).split()).casefold()


def question_key(question: dict) -> str:
    """A question's identity: its prompt and right answer, whatever the options' order."""
    text = f"{_norm(question['prompt'])}\x1f{_norm(question['options'][question['answer']])}"
    return hashlib.sha256(text.encode()).hexdigest()


def cards_from_run(*, run: QuestRun, answers: list[int], player_id: int, today: date) -> int:
    """A card for each question of the run answered wrong (back to box 1 when it exists).
    Called by grading inside the transaction that holds the player's row lock."""
    made = 0
    for question, chosen in zip(run.questions, answers, strict=True):
        if chosen == question["answer"]:
            continue
        key = question_key(question)
        reset = {"box": 1, "due_on": today + timedelta(days=INTERVAL_DAYS[1]), "retired_at": None}
        if ReviewCard.objects.filter(player_id=player_id, question_key=key).update(
            **reset, misses=F("misses") + 1, version=F("version") + 1
        ):
            made += 1
            continue
        try:
            with transaction.atomic():
                ReviewCard.objects.create(
                    player_id=player_id,
                    quest_id=run.quest_id,
                    question_key=key,
                    prompt=question["prompt"],
                    options=question["options"],
                    answer=question["answer"],
                    explanation=question.get("explanation", ""),
                    fact=question.get("fact", ""),
                    **reset,
                )
        except IntegrityError:  # a merge moved the same question in meanwhile: that card stands
            continue
        made += 1
    return made


def option_order(card: ReviewCard) -> list[int]:
    """The order the card's options are shown in at its current version (original indices)."""
    order = list(range(len(card.options)))
    random.Random(f"{card.pk}:{card.version}").shuffle(order)
    return order


class ReviewError(Exception):
    """A review answer that cannot count; the message is for the player."""


class ReviewGone(ReviewError):
    """Not this player's card, or not due: already reviewed, retired, or not yet due."""


@dataclass(frozen=True)
class Reviewed:
    card: ReviewCard
    correct: bool
    xp: int
    retired: bool
    next_due: date | None
    right_option: str


def review_answer(*, player: Player, card_id: int, version: int, choice: int, now: datetime | None = None) -> Reviewed:
    """Grade one review: `choice` is the position of the chosen option as shown at `version`."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    card = ReviewCard.objects.filter(pk=card_id, player=player).first()
    if card is None or card.version != version or card.retired_at is not None or card.due_on > today:
        raise ReviewGone("That question has already been reviewed, or is not due yet.")
    order = option_order(card)
    if isinstance(choice, bool) or not 0 <= choice < len(order):
        raise ReviewError("Choose one of the four answers.")
    correct = order[choice] == card.answer
    retired = correct and card.box == LAST_BOX
    if retired:
        changes = {"retired_at": now}
        next_due = None
    else:
        box = min(card.box + 1, LAST_BOX) if correct else 1
        next_due = today + timedelta(days=INTERVAL_DAYS[box])
        changes = {"box": box, "due_on": next_due}
    with transaction.atomic():
        Player.objects.select_for_update().filter(pk=player.pk).first()
        claimed = ReviewCard.objects.filter(pk=card.pk, version=version, retired_at__isnull=True).update(
            **changes, version=F("version") + 1, reviews=F("reviews") + 1, last_reviewed_at=now
        )
        if not claimed:
            raise ReviewGone("That question has already been reviewed.")
        xp = 0
        if correct:
            xp = max(0, min(XP_PER_RIGHT_REVIEW, XP_REVIEWS_PER_DAY - review_xp_on(player_id=player.pk, day=today)))
        ReviewAnswer.objects.create(
            card=card, player=player, answered_at=now, correct=correct, box_before=card.box, xp_awarded=xp
        )
        if xp:
            Player.objects.filter(pk=player.pk).update(xp=F("xp") + xp)
            league_credit(player_id=player.pk, xp=xp, at=now)
    card.refresh_from_db()
    return Reviewed(
        card=card,
        correct=correct,
        xp=xp,
        retired=retired,
        next_due=next_due,
        right_option=card.options[card.answer],
    )


def review_xp_on(*, player_id: int, day: date) -> int:
    """XP this player's reviews have counted on this day (UTC)."""
    start = timezone.make_aware(datetime.combine(day, datetime.min.time()))
    answers = ReviewAnswer.objects.filter(
        player_id=player_id, answered_at__gte=start, answered_at__lt=start + timedelta(days=1)
    )
    return answers.aggregate(total=Sum("xp_awarded"))["total"] or 0


def reviews_merge(*, guest: Player, account: Player) -> int:
    """Move a guest's cards and reviews to the account joining them (a question both have keeps
    the account's card); the guest's review XP counts again under the account's daily
    allowance. Returns the XP that counted."""
    account_cards = dict(ReviewCard.objects.filter(player=account).values_list("question_key", "pk"))
    for card_id, key in ReviewCard.objects.filter(player=guest).values_list("pk", "question_key"):
        if key in account_cards:  # the guest's reviews of it join the account's card
            ReviewAnswer.objects.filter(card_id=card_id).update(card_id=account_cards[key])
        else:
            ReviewCard.objects.filter(pk=card_id).update(player=account)
    xp = 0
    for review in ReviewAnswer.objects.filter(player=guest).order_by("answered_at", "pk"):
        day = timezone.localdate(review.answered_at)
        credit = max(0, min(review.xp_awarded, XP_REVIEWS_PER_DAY - review_xp_on(player_id=account.pk, day=day)))
        ReviewAnswer.objects.filter(pk=review.pk).update(player=account, xp_awarded=credit)
        xp += credit
    return xp
