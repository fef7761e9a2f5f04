"""Flight school: every question a player missed comes back for review after 1, 3 and 7 days
(Leitner boxes 1-3); answered right in box 3 it retires (services.flight_school)."""

from __future__ import annotations

from django.db import models


class ReviewCard(models.Model):
    """One missed question of one player, with what it takes to ask it again."""

    player = models.ForeignKey("quests.Player", on_delete=models.CASCADE, related_name="review_cards")
    quest = models.ForeignKey("quests.Quest", on_delete=models.PROTECT, related_name="+")
    # The question's identity (its prompt and right answer), whatever the options' order.
    question_key = models.CharField(max_length=64)
    prompt = models.TextField()
    options = models.JSONField()
    answer = models.PositiveSmallIntegerField()
    explanation = models.TextField(blank=True)
    fact = models.TextField(blank=True)
    box = models.PositiveSmallIntegerField(default=1)
    due_on = models.DateField()
    retired_at = models.DateTimeField(null=True, blank=True)
    misses = models.PositiveIntegerField(default=1)
    reviews = models.PositiveIntegerField(default=0)
    # Grows with every answer: a review form names the version it showed, so a second
    # submission of the same form changes nothing, and the option order follows it.
    version = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    last_reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["player", "question_key"], name="reviewcard_one_per_question"),
            models.CheckConstraint(condition=models.Q(box__gte=1, box__lte=3), name="reviewcard_box_range"),
        ]
        indexes = [models.Index(fields=["player", "retired_at", "due_on"], name="reviewcard_due")]

    def __str__(self) -> str:
        return f"Card {self.pk} of player {self.player_id}, box {self.box}"


class ReviewAnswer(models.Model):
    """One answered review, with the XP it counted (the daily review allowance is summed here)."""

    card = models.ForeignKey(ReviewCard, on_delete=models.CASCADE, related_name="answers")
    player = models.ForeignKey("quests.Player", on_delete=models.CASCADE, related_name="review_answers")
    answered_at = models.DateTimeField()
    correct = models.BooleanField()
    box_before = models.PositiveSmallIntegerField()
    xp_awarded = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["player", "answered_at"], name="reviewanswer_player_day")]

    def __str__(self) -> str:
        return f"Review of card {self.card_id}: {'right' if self.correct else 'missed'}"
