"""A simulated player, for the test and the benchmark of "never the same content twice".

It flies missions and daily missions through the game's own services, as the web pages do
(launch, the live writer a cluster would run, grading), and records for each hand-out whether
its content was one the player had flown, and whether content the player had not flown was
available to the hand-out at that moment: in the archive or the buffer (for a daily, the day's
mission or the archive of its quest). A repeat while such content existed is a violation of
the rule; a repeat once everything known is flown is allowed (practice, 0 XP).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date

from quests.models import DailyMission, Player, Quest, QuestRun, RunStatus, Tier
from quests.services.archive import archive_entries
from quests.services.daily import daily_for, daily_start, daily_today
from quests.services.grading import run_grade
from quests.services.live import live_fall_back, live_write
from quests.services.novelty import entry_key, flown_keys
from quests.services.runs import run_start


@dataclass(frozen=True)
class Flight:
    kind: str  # "mission" or "daily"
    source: str
    title: str
    content_key: str
    repeat: bool  # the player had flown this content before
    unflown_available: int  # contents new to the player the hand-out could have used
    xp: int

    @property
    def violation(self) -> bool:
        return self.repeat and self.unflown_available > 0


@dataclass
class FlightLog:
    flights: list[Flight] = field(default_factory=list)

    def of(self, kind: str) -> list[Flight]:
        return [f for f in self.flights if f.kind == kind]

    def repeats(self, kind: str) -> int:
        return sum(f.repeat for f in self.of(kind))

    def violations(self, kind: str) -> int:
        return sum(f.violation for f in self.of(kind))

    def first_repeat(self, kind: str) -> int | None:
        """1-based number of the first repeat of this kind, or None."""
        return next((i for i, f in enumerate(self.of(kind), start=1) if f.repeat), None)

    def distinct(self, kind: str) -> int:
        return len({f.content_key for f in self.of(kind)})


class SimulatedPlayer:
    def __init__(self, player: Player, *, rng: random.Random | None = None, wrong_rate: float = 0.2):
        self.player = player
        self.rng = rng or random.Random(17)
        self.wrong_rate = wrong_rate
        self.log = FlightLog()

    def _answers(self, run: QuestRun) -> list[int]:
        return [
            (q["answer"] + 1) % len(q["options"]) if self.rng.random() < self.wrong_rate else q["answer"]
            for q in run.questions
        ]

    def _grade(self, run: QuestRun, *, kind: str, flown: set[str], available: int) -> Flight:
        graded = run_grade(run_id=run.pk, player=self.player, answers=self._answers(run))
        self.player.refresh_from_db()
        flight = Flight(
            kind=kind,
            source=run.source,
            title=run.title,
            content_key=run.content_key,
            repeat=run.content_key in flown,
            unflown_available=available,
            xp=graded.xp,
        )
        self.log.flights.append(flight)
        return flight

    def fly_mission(self, quest: Quest, tier: str = Tier.CADET) -> Flight:
        flown = flown_keys(player_id=self.player.pk)
        archive = {entry_key(e) for e in archive_entries(quest_number=quest.number, tier=tier)}
        buffered = set(QuestRun.objects.buffered(quest.pk, tier).values_list("content_key", flat=True))
        available = len((archive | buffered) - flown)
        run = run_start(player=self.player, quest=quest, tier=tier)
        if run.status == RunStatus.PENDING:
            live_write(run_id=run.pk)  # what the django-q2 cluster does for a live launch
            live_fall_back(run_id=run.pk, reason="timeout")  # a no-op once the writer finished
            run.refresh_from_db()
        return self._grade(run, kind="mission", flown=flown, available=available)

    def fly_daily(self, day: date) -> Flight:
        flown = flown_keys(player_id=self.player.pk)
        main = daily_today(day=day)
        candidates = {entry_key(e) for e in archive_entries(quest_number=main.quest.number, tier=main.tier)}
        candidates |= set(DailyMission.objects.filter(day=day).values_list("content_key", flat=True))
        available = len(candidates - flown)
        daily_for(player=self.player, day=day)
        run = daily_start(player=self.player, day=day)
        return self._grade(run, kind="daily", flown=flown, available=available)
