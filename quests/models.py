"""The game's state: quests and their difficulty tiers (admin-editable generation settings),
players, quest runs and the daily mission."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from quests.services.callsigns import callsign_key


class Quest(models.Model):
    """One of the five quests. `number` is passed to the key pool as `quest=N`."""

    number = models.PositiveSmallIntegerField(
        unique=True, validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    slug = models.SlugField(unique=True)
    title = models.CharField(max_length=100)
    destination = models.CharField(max_length=60, help_text="Where the quest takes place, e.g. 'Saturn's rings'.")
    theme = models.CharField(max_length=200, help_text="One line shown on the star map.")
    system_prompt = models.TextField(help_text="Tells the model who it is and what science the quest covers.")
    topics = models.TextField(
        blank=True, help_text="One topic per line; each generated run focuses on one, for variety."
    )
    enabled = models.BooleanField(default=True)
    # Debounces "refill the buffer" tasks enqueued when players take runs from it.
    refill_requested_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["number"]

    def __str__(self) -> str:
        return f"{self.number}. {self.title}"

    def topic_list(self) -> list[str]:
        return [line.strip() for line in self.topics.splitlines() if line.strip()]


class Tier(models.TextChoices):
    """Difficulty tiers of every quest, unlocked by rank (see services.scoring.TIER_UNLOCKS)."""

    CADET = "cadet", "Cadet"
    OFFICER = "officer", "Officer"
    COMMANDER = "commander", "Commander"


class QuestTier(models.Model):
    """One difficulty tier of a quest, with its own LLM configuration (edited in admin)."""

    quest = models.ForeignKey(Quest, on_delete=models.CASCADE, related_name="tiers")
    tier = models.CharField(max_length=16, choices=Tier.choices)
    model = models.CharField(
        max_length=100, blank=True, help_text="Groq model id. Blank: the key pool's default model."
    )
    temperature = models.FloatField(default=0.8, validators=[MinValueValidator(0.0), MaxValueValidator(2.0)])
    max_tokens = models.PositiveIntegerField(
        default=1800, validators=[MinValueValidator(200), MaxValueValidator(8000)]
    )
    guidance = models.TextField(
        blank=True, help_text="How demanding this tier's missions are; added to the quest's prompt."
    )

    class Meta:
        ordering = ["quest__number", "tier"]
        constraints = [models.UniqueConstraint(fields=["quest", "tier"], name="questtier_one_per_tier")]

    def __str__(self) -> str:
        return f"{self.quest.title}: {self.get_tier_display()}"


class Player(models.Model):
    """A guest (kept in the session) or a signed-up user's progress."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="player"
    )
    callsign = models.CharField(max_length=24)
    # The callsign's confusable skeleton (UTS #39, case-folded): unique, so look-alikes of a
    # taken callsign are refused by the database even when two requests race.
    callsign_key = models.CharField(max_length=200, unique=True, editable=False)
    xp = models.PositiveIntegerField(default=0)
    runs_completed = models.PositiveIntegerField(default=0)
    perfect_runs = models.PositiveIntegerField(default=0)
    correct_answers = models.PositiveIntegerField(default=0)
    streak_days = models.PositiveIntegerField(default=0)
    best_streak = models.PositiveIntegerField(default=0)
    last_played_on = models.DateField(null=True, blank=True)
    # A streak freeze, earned by a 7-day streak (one held at a time), covers one missed day
    # (services.streaks); the day it last covered is shown on the profile's calendar.
    streak_freeze_held = models.BooleanField(default=False)
    streak_freeze_used_on = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["-xp", "id"], name="player_leaderboard")]

    def __str__(self) -> str:
        return self.callsign

    def save(self, *args, **kwargs):
        # The key follows the callsign on every save, whoever creates the row.
        self.callsign_key = callsign_key(self.callsign)
        super().save(*args, **kwargs)

    @property
    def is_guest(self) -> bool:
        return self.user_id is None


class RunSource(models.TextChoices):
    LIVE = "live", "Generated live"
    BUFFER = "buffer", "Generated ahead"
    ARCHIVE = "archive", "Archive transmission"
    # A mission the player chose to fly again: practice, 0 XP (services.runs.run_replay).
    REPLAY = "replay", "Practice replay"


class FallbackReason(models.TextChoices):
    """Why a player got an archive transmission instead of a live mission."""

    UNAVAILABLE = "unavailable", "No key can serve now"
    BUSY = "busy", "Other live missions are being written"
    RESERVED = "reserved", "Kept for signed-in players while the pool is short"
    LIMITED = "limited", "Live-mission limit reached"
    FAILED = "failed", "Generation failed"
    TIMEOUT = "timeout", "Not written in time"
    REPEAT = "repeat", "The live mission was one the player had flown"


class RunStatus(models.TextChoices):
    PENDING = "pending", "Waiting for its transmission"
    READY = "ready", "Ready"
    ANSWERED = "answered", "Answered"


class XpNote(models.TextChoices):
    """Why a run counted less XP than its score earned."""

    NONE = "", "Counted in full"
    REPEAT = "repeat", "Mission already credited"
    CAPPED = "capped", "Daily XP cap of the quest reached"


class QuestRunQuerySet(models.QuerySet):
    def buffered(self, quest_id: int, tier: str = Tier.CADET):
        """Fresh runs generated ahead and not yet served to anyone."""
        return self.filter(
            quest_id=quest_id, tier=tier, player__isnull=True, status=RunStatus.READY, source=RunSource.BUFFER
        )


class DailyMission(models.Model):
    """The mission of one day, shared by every player: generated ahead by a task, or taken
    from the archive when nothing was generated in time. Each player plays their own copy
    (a QuestRun with options shuffled) once a day.

    Variant 0 is everyone's daily. A player who has already flown its content gets the day's
    first alternative (variant 1, 2, ...) they have not flown, from the archive, the same for
    every such player (services.daily)."""

    day = models.DateField()
    variant = models.PositiveSmallIntegerField(default=0)
    quest = models.ForeignKey(Quest, on_delete=models.PROTECT, related_name="daily_missions")
    tier = models.CharField(max_length=16, choices=Tier.choices, default=Tier.CADET)
    source = models.CharField(max_length=16, choices=RunSource.choices)
    title = models.CharField(max_length=160)
    briefing = models.TextField()
    questions = models.JSONField()
    archive_ref = models.CharField(max_length=32, blank=True)
    model = models.CharField(max_length=100, blank=True)
    request_id = models.UUIDField(null=True, blank=True)
    # The content's identity (services.xp.content_key): players who flew it get an alternative.
    content_key = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-day", "variant"]
        constraints = [models.UniqueConstraint(fields=["day", "variant"], name="dailymission_one_per_day_variant")]

    def __str__(self) -> str:
        alternative = f" (alternative {self.variant})" if self.variant else ""
        return f"Daily mission of {self.day}{alternative}: {self.title}"


class QuestRun(models.Model):
    """One play of a quest: a briefing and three questions, served to one player once.

    `questions` holds the answers too; it never reaches the browser before grading.
    """

    quest = models.ForeignKey(Quest, on_delete=models.PROTECT, related_name="runs")
    tier = models.CharField(max_length=16, choices=Tier.choices, default=Tier.CADET)
    player = models.ForeignKey(Player, null=True, blank=True, on_delete=models.CASCADE, related_name="runs")
    daily = models.ForeignKey(DailyMission, null=True, blank=True, on_delete=models.PROTECT, related_name="runs")
    source = models.CharField(max_length=16, choices=RunSource.choices)
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.READY)
    title = models.CharField(max_length=160, blank=True)
    briefing = models.TextField(blank=True)
    questions = models.JSONField(default=list, blank=True)
    archive_ref = models.CharField(max_length=32, blank=True, help_text="Curated library entry, for archive runs.")
    # Provenance of generated runs and what happened while generating (invalid output, retries).
    model = models.CharField(max_length=100, blank=True)
    request_id = models.UUIDField(null=True, blank=True)
    generation_note = models.CharField(max_length=255, blank=True)
    # Archive runs: why the player did not get a live mission (shown to them in plain words).
    fallback_reason = models.CharField(max_length=16, blank=True, choices=FallbackReason.choices)
    # A live run is written by the django-q2 task that claims it (see services.live).
    claimed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    served_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    answers = models.JSONField(null=True, blank=True)
    correct_count = models.PositiveSmallIntegerField(null=True, blank=True)
    # What the score earned, and what counted after the fair-play rules (services.xp).
    xp_earned = models.PositiveIntegerField(default=0)
    xp_awarded = models.PositiveIntegerField(default=0)
    xp_note = models.CharField(max_length=16, choices=XpNote.choices, default=XpNote.NONE, blank=True)
    # The questions' identity (prompts and right answers), whatever the options' order: XP is
    # given for a mission's content once per player.
    content_key = models.CharField(max_length=64, blank=True)
    # The player's streak once this run was answered: the daily's share card shows it.
    streak_at_answer = models.PositiveIntegerField(null=True, blank=True)
    # Seconds from serving to answering: the daily board's time, kept in a column its index orders by.
    seconds_taken = models.PositiveIntegerField(null=True, blank=True)

    objects = QuestRunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["quest", "tier", "status", "source", "player"], name="questrun_buffer_tier"),
            models.Index(fields=["player", "-answered_at"], name="questrun_player_history"),
            models.Index(fields=["created_at"], name="questrun_created"),
            models.Index(fields=["source", "created_at"], name="questrun_source_created"),
            # What this player has flown on a quest (services.novelty), read by every hand-out.
            models.Index(fields=["player", "quest", "content_key"], name="questrun_player_content"),
            # A day's board: most correct answers, then the quickest (selectors.daily_leaderboard).
            models.Index(
                fields=["daily", "-correct_count", "seconds_taken", "answered_at", "id"],
                condition=Q(status=RunStatus.ANSWERED, daily__isnull=False),
                name="questrun_daily_board",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status=RunStatus.ANSWERED) | Q(answered_at__isnull=False, player__isnull=False),
                name="questrun_answered_has_player",
            ),
            models.CheckConstraint(
                condition=Q(correct_count__isnull=True) | Q(correct_count__lte=3),
                name="questrun_correct_count_range",
            ),
            # The database holds the fair-play rules even when two workers grade at once.
            models.UniqueConstraint(
                fields=["player", "content_key"],
                condition=Q(xp_awarded__gt=0),
                name="questrun_xp_once_per_content",
            ),
            models.UniqueConstraint(
                fields=["player", "daily"], condition=Q(daily__isnull=False), name="questrun_one_daily_per_player"
            ),
            # The buffer never queues two copies of one content (services.prefetch).
            models.UniqueConstraint(
                fields=["quest", "tier", "content_key"],
                condition=Q(player__isnull=True, source=RunSource.BUFFER, status=RunStatus.READY) & ~Q(content_key=""),
                name="questrun_buffer_unique_content",
            ),
        ]

    def __str__(self) -> str:
        return f"Run {self.pk} of quest {self.quest_id} ({self.source}, {self.status})"

    @property
    def is_archive(self) -> bool:
        return self.source == RunSource.ARCHIVE

    @property
    def is_perfect(self) -> bool:
        return self.correct_count == len(self.questions) and bool(self.questions)



# The game's later features keep their models in modules of their own; Django finds them here.
from quests.models_flight_school import ReviewAnswer, ReviewCard  # noqa: E402, F401
from quests.models_leagues import LeagueGroup, LeagueMember, LeagueWeek  # noqa: E402, F401
