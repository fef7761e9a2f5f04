"""The stand-in's table of facts: what it knows about each subject, as a model would.

Each subject (one module per quest's destination) holds:
- measures: numbers the briefing can state ("Io is about {v} km across."), grouped so that
  members of a group compare (widths with widths): a cadet asks one, an officer works out a
  difference, a ratio or a radio signal's travel time, a commander what follows from a delay;
- named: a fact that names something (a place, a moon, a spacecraft) and the question it answers;
- links: two facts that answer a question together (officer);
- causes: two facts from which a why or a what-follows answer follows (commander).

Every sentence here is a fact of real astronomy with well-established values; the writer
(missions.py) turns them into missions for the tier a prompt asks for.
"""

from __future__ import annotations

from dataclasses import dataclass, field

LIGHT_SPEED_KM_S = 300_000
LIGHT_SENTENCE = "Radio signals travel at the speed of light, about 300,000 km per second."
LIGHT_YEAR_SENTENCE = "A light-year is the distance light travels in one year."


@dataclass(frozen=True)
class Group:
    """Measures that compare. Templates take {thing}, or {a} and {b} (a's value is the larger)."""

    unit: str
    ask: str
    more: str = ""  # officer: a difference ("How much wider is {a} than {b}?")
    times: str = ""  # officer: a ratio ("About how many times wider is {a} than {b}?")
    light: bool = False  # distances from Earth: a radio signal's travel time can be worked out


@dataclass(frozen=True)
class Measure:
    thing: str
    group: str
    value: float
    sentence: str  # "{v}" is the value as the writer shows it
    label: str = ""  # how a prompt names it, when not by `thing` ("the Moon at apogee")
    tags: str = ""

    @property
    def name(self) -> str:
        return self.label or self.thing


@dataclass(frozen=True)
class Named:
    sentence: str
    prompt: str
    answer: str
    wrong: tuple[str, ...]
    explanation: str
    tags: str = ""


@dataclass(frozen=True)
class Link:
    facts: tuple[str, str]
    prompt: str
    answer: str
    wrong: tuple[str, ...]
    explanation: str
    calculation: str = ""
    tags: str = ""


@dataclass(frozen=True)
class Cause:
    facts: tuple[str, str]
    prompt: str
    answer: str
    wrong: tuple[str, ...]
    explanation: str
    reasoning: str  # "cause" (why) or "consequence" (what follows)
    tags: str = ""


@dataclass(frozen=True)
class Subject:
    key: str
    keywords: tuple[str, ...]  # matched as whole words against the prompt, to recognise the quest
    titles: tuple[str, ...]
    openings: tuple[str, ...]
    closings: tuple[str, ...]
    groups: dict[str, Group]
    measures: tuple[Measure, ...]
    named: tuple[Named, ...]
    links: tuple[Link, ...]
    causes: tuple[Cause, ...]
    # Measures whose value in light-years is also the years their light has travelled.
    light_years: tuple[str, ...] = field(default=())


def subjects() -> tuple[Subject, ...]:
    from . import exoplanets, jupiter, mars, moon, saturn

    return (moon.SUBJECT, mars.SUBJECT, jupiter.SUBJECT, saturn.SUBJECT, exoplanets.SUBJECT)
