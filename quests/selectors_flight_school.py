"""Reads for the flight school (review) page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import Count
from django.utils import timezone

from quests.models import Player, ReviewCard
from quests.services.flight_school import XP_PER_RIGHT_REVIEW, XP_REVIEWS_PER_DAY, option_order, review_xp_on


@dataclass(frozen=True)
class ReviewQuestion:
    card: ReviewCard
    options: list[str]  # in the order shown at the card's version


@dataclass(frozen=True)
class FlightSchool:
    due: int
    question: ReviewQuestion | None
    upcoming: list[tuple[date, int]]  # the next 7 days with cards due
    learning: int  # cards not retired
    retired: int
    xp_today: int
    xp_left_today: int
    xp_per_right: int = XP_PER_RIGHT_REVIEW


def due_count(*, player: Player | None) -> int:
    if player is None:
        return 0
    return ReviewCard.objects.filter(player=player, retired_at__isnull=True, due_on__lte=timezone.localdate()).count()


def flight_school(*, player: Player | None) -> FlightSchool:
    today = timezone.localdate()
    if player is None:
        return FlightSchool(due=0, question=None, upcoming=[], learning=0, retired=0, xp_today=0,
                            xp_left_today=XP_REVIEWS_PER_DAY)
    active = ReviewCard.objects.filter(player=player, retired_at__isnull=True)
    due = active.filter(due_on__lte=today)
    card = due.select_related("quest").order_by("due_on", "box", "pk").first()
    question = None
    if card is not None:
        question = ReviewQuestion(card=card, options=[card.options[i] for i in option_order(card)])
    upcoming = list(
        active.filter(due_on__gt=today, due_on__lte=today + timedelta(days=7))
        .values_list("due_on")
        .annotate(n=Count("id"))
        .order_by("due_on")
    )
    xp_today = review_xp_on(player_id=player.pk, day=today)
    return FlightSchool(
        due=due.count(),
        question=question,
        upcoming=upcoming,
        learning=active.count(),
        retired=ReviewCard.objects.filter(player=player, retired_at__isnull=False).count(),
        xp_today=xp_today,
        xp_left_today=max(0, XP_REVIEWS_PER_DAY - xp_today),
    )
