"""Weekly leagues: groups of about 30 players ranked by the XP they earn in one week (Monday
to Sunday, UTC). When a week is over, the top of each group moves up a division and the
bottom moves down (services.leagues)."""

from __future__ import annotations

from django.db import models


class LeagueWeek(models.Model):
    """One league week. `closed_at` is set, once, by whoever closes it first (services.leagues)."""

    starts_on = models.DateField(unique=True, help_text="The week's Monday (UTC).")
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-starts_on"]

    def __str__(self) -> str:
        return f"League week of {self.starts_on}"


class LeagueGroup(models.Model):
    """About 30 players of one division in one week."""

    week = models.ForeignKey(LeagueWeek, on_delete=models.CASCADE, related_name="groups")
    division = models.PositiveSmallIntegerField()
    number = models.PositiveSmallIntegerField()
    size = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["week", "division", "number"]
        constraints = [
            models.UniqueConstraint(fields=["week", "division", "number"], name="leaguegroup_unique_number"),
        ]
        indexes = [models.Index(fields=["week", "division", "size"], name="leaguegroup_open")]

    def __str__(self) -> str:
        return f"{self.week.starts_on}: division {self.division}, group {self.number}"


class LeagueOutcome(models.TextChoices):
    UP = "up", "Moved up"
    STAY = "stay", "Stayed"
    DOWN = "down", "Moved down"


class LeagueMember(models.Model):
    """A player's place in one week's group: joined with their first XP of the week."""

    group = models.ForeignKey(LeagueGroup, on_delete=models.CASCADE, related_name="members")
    player = models.ForeignKey("quests.Player", on_delete=models.CASCADE, related_name="league_memberships")
    # Copies of the group's week and division, so "this player's week" is one indexed row.
    week_starts_on = models.DateField()
    division = models.PositiveSmallIntegerField()
    xp = models.PositiveIntegerField(default=0)
    joined_at = models.DateTimeField(auto_now_add=True)
    # When the XP last grew: of two players on the same XP, the one who got there first ranks higher.
    xp_at = models.DateTimeField()
    # Set when the week is closed.
    final_rank = models.PositiveSmallIntegerField(null=True, blank=True)
    outcome = models.CharField(max_length=8, choices=LeagueOutcome.choices, blank=True)
    next_division = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["player", "week_starts_on"], name="leaguemember_one_group_a_week"),
        ]
        indexes = [
            models.Index(fields=["group", "-xp", "xp_at"], name="leaguemember_standing"),
            models.Index(fields=["player", "-week_starts_on"], name="leaguemember_player_weeks"),
        ]

    def __str__(self) -> str:
        return f"{self.player_id} in {self.group_id}: {self.xp} XP"
