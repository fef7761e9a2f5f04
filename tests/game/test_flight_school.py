"""Flight school: missed questions come back after 1, 3 and 7 days (Leitner boxes), pay a
little XP within a daily allowance, and retire after three right answers."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from model_bakery import baker

from quests.models import LeagueMember, Player, Quest, QuestRun, ReviewAnswer, ReviewCard, RunSource, RunStatus
from quests.services.content import content_fields
from quests.services.flight_school import (
    XP_PER_RIGHT_REVIEW,
    XP_REVIEWS_PER_DAY,
    ReviewGone,
    option_order,
    review_answer,
)
from quests.services.grading import run_grade
from quests.services.players import player_claim_guest
from tests.quests_fixtures import archive_content, game_settings, right_answers, seeded, session_player  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("game_settings", "seeded")]


def missed(player: Player, *, quest: int = 1, index: int = 0, wrong: int = 1) -> QuestRun:
    """A graded run with its first `wrong` questions answered wrong."""
    run = baker.make(QuestRun, quest=Quest.objects.get(number=quest), player=player, source=RunSource.ARCHIVE,
                     status=RunStatus.READY, **content_fields(archive_content(quest, index)))
    answers = [(q["answer"] + 1) % 4 if i < wrong else q["answer"] for i, q in enumerate(run.questions)]
    run_grade(run_id=run.pk, player=player, answers=answers)
    return run


def at_day(day) -> datetime:
    return timezone.make_aware(datetime.combine(day, datetime.min.time())) + timedelta(hours=12)


def pick(card: ReviewCard, *, right: bool) -> int:
    """The shown position of the right (or a wrong) option at the card's current version."""
    order = option_order(card)
    return order.index(card.answer) if right else order.index((card.answer + 1) % 4)


def test_a_missed_question_comes_back_after_one_three_and_seven_days_then_retires():
    player = baker.make(Player, callsign="Learner")
    missed(player, wrong=2)
    today = timezone.localdate()
    cards = list(ReviewCard.objects.filter(player=player))
    assert len(cards) == 2 and {(c.box, c.due_on) for c in cards} == {(1, today + timedelta(days=1))}
    card = cards[0]
    with pytest.raises(ReviewGone):  # not due yet
        review_answer(player=player, card_id=card.pk, version=card.version, choice=pick(card, right=True))
    day = today
    for box, wait in ((1, 1), (2, 3), (3, 7)):
        day += timedelta(days=wait)
        card.refresh_from_db()
        assert (card.box, card.due_on) == (box, day)
        done = review_answer(player=player, card_id=card.pk, version=card.version,
                             choice=pick(card, right=True), now=at_day(day))
        assert done.correct and done.xp == XP_PER_RIGHT_REVIEW
    assert done.retired and done.card.retired_at is not None
    assert ReviewCard.objects.filter(player=player, retired_at__isnull=True).count() == 1
    player.refresh_from_db()
    assert ReviewAnswer.objects.filter(player=player).count() == 3


def test_a_wrong_review_goes_back_to_box_one_and_a_new_miss_of_a_retired_question_returns_it():
    player = baker.make(Player, callsign="Shaky")
    missed(player)
    card = ReviewCard.objects.get(player=player)
    day = timezone.localdate() + timedelta(days=1)
    review_answer(player=player, card_id=card.pk, version=card.version, choice=pick(card, right=True), now=at_day(day))
    card.refresh_from_db()
    assert card.box == 2
    day += timedelta(days=3)
    done = review_answer(player=player, card_id=card.pk, version=card.version, choice=pick(card, right=False),
                         now=at_day(day))
    assert not done.correct and done.xp == 0 and done.next_due == day + timedelta(days=1)
    card.refresh_from_db()
    assert card.box == 1
    ReviewCard.objects.filter(pk=card.pk).update(retired_at=timezone.now())
    missed(player, index=0)  # the same question missed again
    card.refresh_from_db()
    assert (card.retired_at, card.box, card.misses) == (None, 1, 2)


def test_reviews_pay_a_little_within_a_daily_allowance_and_count_for_the_league():
    player = baker.make(Player, callsign="Diligent")
    for index in range(4):
        missed(player, index=index, wrong=3)  # 12 cards
    player.refresh_from_db()
    xp_before = player.xp
    day = timezone.localdate() + timedelta(days=1)
    paid = []
    for card in ReviewCard.objects.filter(player=player):
        paid.append(review_answer(player=player, card_id=card.pk, version=card.version,
                                  choice=pick(card, right=True), now=at_day(day)).xp)
    assert sum(paid) == XP_REVIEWS_PER_DAY and paid[-1] == 0
    player.refresh_from_db()
    assert player.xp == xp_before + XP_REVIEWS_PER_DAY
    assert LeagueMember.objects.filter(player=player).exists()


def test_a_review_form_sent_twice_counts_once_and_the_option_order_changes():
    player = baker.make(Player, callsign="Double")
    missed(player)
    card = ReviewCard.objects.get(player=player)
    ReviewCard.objects.filter(pk=card.pk).update(due_on=timezone.localdate())
    card.refresh_from_db()
    version, choice = card.version, pick(card, right=True)
    review_answer(player=player, card_id=card.pk, version=version, choice=choice)
    with pytest.raises(ReviewGone):
        review_answer(player=player, card_id=card.pk, version=version, choice=choice)
    assert ReviewAnswer.objects.count() == 1
    orders = {tuple(option_order(ReviewCard(pk=card.pk, options=card.options, version=v))) for v in range(12)}
    assert len(orders) > 1


def test_flight_school_by_the_pages(client):
    client.post(reverse("quests:quest_launch", args=[2]))
    run = QuestRun.objects.get()
    answers = right_answers(run)
    answers["q1"] = str((run.questions[0]["answer"] + 1) % 4)
    response = client.post(reverse("quests:run_answer", args=[run.pk]), answers)
    assert "1 missed question will come back in Flight school tomorrow" in client.get(response["Location"]).content.decode()
    page = client.get(reverse("quests:flight_school")).content.decode()
    assert "Nothing due right now" in page and "1 question" in page
    ReviewCard.objects.update(due_on=timezone.localdate())
    page = client.get(reverse("quests:flight_school")).content.decode()
    card = ReviewCard.objects.get()
    assert escape(card.prompt) in page and 'name="choice"' in page and f'name="version" value="{card.version}"' in page
    assert 'aria-keyshortcuts="A 1"' in page
    response = client.post(reverse("quests:flight_school_answer"),
                           {"card": card.pk, "version": card.version, "choice": pick(card, right=True)})
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert "Right! +2 XP" in page and 'id="review-feedback"' in page
    # Sent again (back button and resubmit): a clear message, nothing counted twice.
    again = client.post(reverse("quests:flight_school_answer"),
                        {"card": card.pk, "version": card.version, "choice": 0}, follow=True)
    assert b"already been reviewed" in again.content and ReviewAnswer.objects.count() == 1
    for bad in ({}, {"card": "x", "version": "1", "choice": "0"}, {"card": card.pk, "version": card.version + 1},
                {"card": card.pk, "version": card.version + 1, "choice": "9"}):
        assert client.post(reverse("quests:flight_school_answer"), bad).status_code == 302
    assert ReviewAnswer.objects.count() == 1
    # Another player's card is not yours to answer.
    other = Client()
    other.post(reverse("quests:quest_launch", args=[3]))
    assert other.post(reverse("quests:flight_school_answer"),
                      {"card": card.pk, "version": card.version + 1, "choice": 0}).status_code == 302
    assert ReviewAnswer.objects.count() == 1
    assert session_player(client).xp > 0


def test_a_guest_joining_an_account_brings_their_cards_and_review_xp_within_the_allowance():
    user = baker.make(User, username="vega")
    account = baker.make(Player, user=user, callsign="Vega")
    guest = baker.make(Player, callsign="Guest-1")
    missed(account, index=0, wrong=1)
    missed(guest, index=0, wrong=1)  # the same question
    missed(guest, index=1, wrong=2)
    merged = player_claim_guest(user=user, guest_id=guest.pk)
    assert merged.pk == account.pk
    assert ReviewCard.objects.filter(player=account).count() == 3


@pytest.mark.django_db(transaction=True)
def test_two_submissions_of_one_review_at_once_count_once():
    import threading

    from django.db import connection

    from tests.quests_fixtures import seed_quests

    seed_quests()
    player = baker.make(Player, callsign="Twin")
    missed(player)
    card = ReviewCard.objects.get(player=player)
    ReviewCard.objects.filter(pk=card.pk).update(due_on=timezone.localdate())
    card.refresh_from_db()
    barrier = threading.Barrier(4)
    outcomes: list = []

    def submit() -> None:
        try:
            barrier.wait()
            outcomes.append(review_answer(player=player, card_id=card.pk, version=card.version,
                                          choice=pick(card, right=True)))
        except ReviewGone as exc:
            outcomes.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sum(not isinstance(o, Exception) for o in outcomes) == 1 and len(outcomes) == 4
    assert ReviewAnswer.objects.count() == 1
    player.refresh_from_db()
    card.refresh_from_db()
    assert card.box == 2 and card.reviews == 1
