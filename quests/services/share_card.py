"""The daily mission's share card: spoiler-free (one square per question, right or wrong, the
time and the streak; never a question, an answer or the mission's title), as plain text that
pastes well anywhere and as a PNG for link previews (services.share_image).

A card is reached through a signed token of its run, so a shared link shows that one card and
nobody can walk through other players' runs by counting."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.core import signing

from quests.models import QuestRun, RunStatus

SALT = "quests.daily-share"
RIGHT, WRONG = "🟩", "🟥"


def share_token(run: QuestRun) -> str:
    return signing.Signer(salt=SALT, sep=".").sign(str(run.pk))


def run_for_token(token: str) -> QuestRun | None:
    """The answered daily run a share token names, or None for a token that is not ours."""
    try:
        pk = int(signing.Signer(salt=SALT, sep=".").unsign(token))
    except (signing.BadSignature, ValueError):
        return None
    return (
        QuestRun.objects.filter(pk=pk, daily__isnull=False, status=RunStatus.ANSWERED)
        .select_related("player", "quest", "daily")
        .first()
    )


@dataclass(frozen=True)
class ShareCard:
    day: date
    quest_title: str
    marks: list[bool]  # one per question: right or wrong, in the order asked
    seconds: int
    streak: int
    callsign: str

    @property
    def correct(self) -> int:
        return sum(self.marks)

    @property
    def squares(self) -> str:
        return "".join(RIGHT if right else WRONG for right in self.marks)

    @property
    def time(self) -> str:
        minutes, seconds = divmod(self.seconds, 60)
        return f"{minutes}:{seconds:02d}"

    @property
    def title(self) -> str:
        return f"CosmosQuest daily · {self.day.day} {self.day:%b %Y}"

    @property
    def summary(self) -> str:
        streak = f" · {self.streak}-day streak" if self.streak > 1 else ""
        return f"{self.correct}/{len(self.marks)} in {self.time}{streak}"

    def text(self, url: str) -> str:
        """Plain text for the clipboard: a line each, emoji squares, the link last."""
        streak = f" · {self.streak}-day streak" if self.streak > 1 else ""
        return f"{self.title}\n{self.squares} {self.correct}/{len(self.marks)}\nTime {self.time}{streak}\n{url}"


def share_card(run: QuestRun) -> ShareCard:
    answers = run.answers or []
    marks = [chosen == question["answer"] for chosen, question in zip(answers, run.questions, strict=False)]
    seconds = max(0, int((run.answered_at - run.served_at).total_seconds())) if run.served_at else 0
    return ShareCard(
        day=run.daily.day,
        quest_title=run.quest.title,
        marks=marks,
        seconds=seconds,
        streak=run.streak_at_answer or 0,
        callsign=run.player.callsign,
    )
