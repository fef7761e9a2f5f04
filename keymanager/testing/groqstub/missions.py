"""The stand-in's writer: missions from the fact table (facts/) for the tier a prompt asks for.

A mission is a briefing (an opening, the facts its questions need, a fact or two more, a closing)
and three questions drawn from the subject's question items for the tier:
- cadet: "About how wide is Io?" (a measure stated in the briefing) and named facts ("Where did
  Apollo 11 land?"), each with the one "fact" that answers it;
- officer: differences and ratios of two measures and radio travel times, worked out in a
  "calculation" from two quoted "facts", and links of two facts;
- commander: causes and consequences ("Why...", "What follows..."), with their "reasoning",
  and what follows from a radio delay.
Wrong numbers are other worlds' values or plausible multiples, always within a factor of eight of
the right one; wrong names come from the same list as the right one.

Like a model at a non-zero temperature, the writer varies: it deals items from a shuffled deck per
subject and tier, so consecutive missions share few questions, and it never writes the same
content (the same questions with the same right answers) twice for a subject and tier until it
has written every combination. Everything is drawn from the random generator it is given, so a
seeded stand-in writes the same sequence again.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .facts import LIGHT_SENTENCE, LIGHT_SPEED_KM_S, LIGHT_YEAR_SENTENCE, Measure, Subject

TIERS = ("cadet", "officer", "commander")
QUESTIONS = 3
MAX_FACTOR = 8.0  # wrong numbers stay within this factor of the right one
MIN_GAP = 0.25  # and at least this far apart (relative), so a worked-out answer points at one option
MIN_RATIO = 1.3  # "about 1.1 times" makes a dull question
MIN_BRIEFING = 450  # characters of facts in a briefing, at least


@dataclass(frozen=True)
class Item:
    """One question the writer can ask: its identity, the facts the briefing must state, and how
    to write it (options drawn and shuffled by the generator)."""

    prompt: str
    answer: str
    sentences: tuple[str, ...]
    write: Callable[[random.Random], dict[str, Any]]
    tags: frozenset[str] = frozenset()

    @property
    def key(self) -> tuple[str, str]:
        return (self.prompt, self.answer)


# ----- numbers as a writer shows them -------------------------------------------------------------
def shown(value: float) -> str:
    """384400 -> "384,400", 150000000 -> "150 million", 1.77 -> "1.77"."""
    for size, word in ((1e9, "billion"), (1e6, "million")):
        if abs(value) >= size and (value / size) == round(value / size, 2):
            return f"{value / size:g} {word}"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:g}"


def plain(value: float) -> str:
    """The number as a calculation writes it: digits only."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def rounded(value: float) -> float:
    """Two significant figures (three from 100 up): how a briefing states a worked-out figure."""
    if value == 0:
        return 0.0
    digits = 3 if abs(value) >= 100 else 2
    return round(value, digits - 1 - math.floor(math.log10(abs(value))))


def _about(value: float, unit: str) -> str:
    return f"About {shown(value)} {unit}".rstrip()


def _plausible(right: float, candidates: list[float], rng: random.Random, count: int = 3) -> list[float]:
    """`count` wrong values: from `candidates` first (in order), then multiples of `right`; each
    within MAX_FACTOR of `right`, apart from it and from each other."""
    chosen: list[float] = []
    multiples = [right * f for f in (2, 0.5, 3, 1 / 3, 1.5, 0.7, 4, 0.25)]
    rng.shuffle(multiples)
    for value in [*candidates, *multiples]:
        value = rounded(value)
        if value <= 0 or not 1 / MAX_FACTOR <= value / right <= MAX_FACTOR:
            continue
        if all(abs(value - other) > MIN_GAP * max(value, other) for other in [right, *chosen]):
            chosen.append(value)
        if len(chosen) == count:
            return chosen
    raise ValueError(f"no plausible wrong values for {right}")


def _question(rng: random.Random, prompt: str, right: str, wrong: list[str], explanation: str,
              **grounding: Any) -> dict[str, Any]:
    options = [right, *wrong]
    rng.shuffle(options)
    return {"prompt": prompt, "options": options, "answer": options.index(right), **grounding,
            "explanation": explanation}


def _tags(text: str) -> frozenset[str]:
    return frozenset(re.findall(r"[\w-]{3,}", text.casefold()))


# ----- question items per tier --------------------------------------------------------------------
def _sentence(m: Measure) -> str:
    return m.sentence.format(v=shown(m.value))


def _measure_item(subject: Subject, m: Measure) -> Item:
    group = subject.groups[m.group]
    prompt = group.ask.format(thing=m.name)
    right = _about(m.value, group.unit)
    others = [o.value for o in subject.measures if o.group == m.group and o is not m]
    fact = _sentence(m)

    def write(rng: random.Random) -> dict[str, Any]:
        pool = others[:]
        rng.shuffle(pool)
        wrong = [_about(v, group.unit) for v in _plausible(m.value, pool, rng)]
        return _question(rng, prompt, right, wrong, f"The briefing states it: {fact}", fact=fact)

    return Item(prompt, right, (fact,), write, _tags(m.tags))


def _named_item(named) -> Item:
    def write(rng: random.Random) -> dict[str, Any]:
        return _question(rng, named.prompt, named.answer, rng.sample(list(named.wrong), 3), named.explanation,
                         fact=named.sentence)

    return Item(named.prompt, named.answer, (named.sentence,), write, _tags(named.tags))


def _worked_item(prompt: str, value: float, unit: str, candidates: list[float], facts: tuple[str, ...],
                 calculation: str, explanation: str, tags: frozenset[str], *, prefix: str = "About",
                 reasoning: str = "") -> Item:
    shown_value = rounded(value)
    right = f"{prefix} {shown(shown_value)} {unit}".rstrip()
    extra = {"reasoning": reasoning} if reasoning else {}

    def write(rng: random.Random) -> dict[str, Any]:
        wrong = [f"{prefix} {shown(v)} {unit}".rstrip() for v in _plausible(shown_value, candidates, rng)]
        return _question(rng, prompt, right, wrong, explanation, facts=list(facts), calculation=calculation, **extra)

    return Item(prompt, right, facts, write, tags)


def _pairs(subject: Subject):
    for name, group in subject.groups.items():
        members = sorted((m for m in subject.measures if m.group == name), key=lambda m: m.value, reverse=True)
        for i, a in enumerate(members):
            for b in members[i + 1:]:
                yield group, a, b


def _officer_items(subject: Subject) -> list[Item]:
    items = []
    for group, a, b in _pairs(subject):
        facts = (_sentence(a), _sentence(b))
        tags = _tags(f"{a.tags} {b.tags}")
        if group.more:
            difference = a.value - b.value
            items.append(_worked_item(
                group.more.format(a=a.name, b=b.name), difference, group.unit, [a.value + b.value, a.value], facts,
                f"{plain(a.value)} - {plain(b.value)}",
                f"{shown(a.value)} minus {shown(b.value)} {group.unit} is about {shown(rounded(difference))} {group.unit}.",
                tags))
        ratio = a.value / b.value
        if group.times and ratio >= MIN_RATIO:
            items.append(_worked_item(
                group.times.format(a=a.name, b=b.name), ratio, "times", [ratio + 1, ratio * 2], facts,
                f"{plain(a.value)} / {plain(b.value)}",
                f"{shown(a.value)} divided by {shown(b.value)} is about {shown(rounded(ratio))}.", tags))
    for m in subject.measures:
        if subject.groups[m.group].light:
            seconds = m.value / LIGHT_SPEED_KM_S
            value, unit, divide = _time_unit(seconds)
            items.append(_worked_item(
                f"About how long does a radio signal take to cross the distance from Earth to {m.name}?", value, unit,
                [], (_sentence(m), LIGHT_SENTENCE), f"{plain(m.value)} / {LIGHT_SPEED_KM_S}{divide}",
                f"{shown(m.value)} km at 300,000 km per second takes about {shown(rounded(value))} {unit}.",
                _tags(m.tags)))
        if m.group in subject.light_years:
            others = [o.value for o in subject.measures if o.group == m.group and o is not m]
            items.append(_stated_item(
                f"The light we see from {m.name} tonight set out about how many years ago?", m.value, "years", others,
                (_sentence(m), LIGHT_YEAR_SENTENCE),
                f"Light covers one light-year per year, so light from {shown(m.value)} light-years away left "
                f"{shown(m.value)} years ago.", _tags(m.tags)))
    for link in subject.links:
        items.append(_link_item(link))
    return items


def _stated_item(prompt: str, value: float, unit: str, candidates: list[float], facts: tuple[str, ...],
                 explanation: str, tags: frozenset[str]) -> Item:
    right = _about(value, unit)

    def write(rng: random.Random) -> dict[str, Any]:
        pool = candidates[:]
        rng.shuffle(pool)
        wrong = [_about(v, unit) for v in _plausible(value, pool, rng)]
        return _question(rng, prompt, right, wrong, explanation, facts=list(facts), calculation="")

    return Item(prompt, right, facts, write, tags)


def _link_item(link) -> Item:
    def write(rng: random.Random) -> dict[str, Any]:
        return _question(rng, link.prompt, link.answer, list(link.wrong), link.explanation, facts=list(link.facts),
                         calculation=link.calculation)

    return Item(link.prompt, link.answer, link.facts, write, _tags(link.tags))


def _time_unit(seconds: float) -> tuple[float, str, str]:
    """(value, unit, the division a calculation appends) for a travel time."""
    if seconds < 100:
        return seconds, "seconds", ""
    if seconds < 6000:
        return seconds / 60, "minutes", " / 60"
    return seconds / 3600, "hours", " / 3600"


def _commander_items(subject: Subject) -> list[Item]:
    items = []
    for cause in subject.causes:
        def write(rng: random.Random, cause=cause) -> dict[str, Any]:
            return _question(rng, cause.prompt, cause.answer, list(cause.wrong), cause.explanation,
                             facts=list(cause.facts), calculation="", reasoning=cause.reasoning)

        items.append(Item(cause.prompt, cause.answer, cause.facts, write, _tags(cause.tags)))
    for m in subject.measures:
        if subject.groups[m.group].light:
            seconds = 2 * m.value / LIGHT_SPEED_KM_S
            value, unit, divide = _time_unit(seconds)
            items.append(_worked_item(
                f"If mission control radios a probe at {m.name}, what follows for the wait before its reply can arrive?",
                value, unit, [value / 2], (_sentence(m), LIGHT_SENTENCE),
                f"2 * {plain(m.value)} / {LIGHT_SPEED_KM_S}{divide}",
                f"The call and the reply each cross {shown(m.value)} km at the speed of light, about "
                f"{shown(rounded(value))} {unit} in all.", _tags(m.tags), prefix="At least about",
                reasoning="consequence"))
    return items


def question_items(subject: Subject, tier: str) -> list[Item]:
    """Every question the writer can ask about `subject` at `tier`."""
    if tier == "cadet":
        return [*(_measure_item(subject, m) for m in subject.measures), *(_named_item(n) for n in subject.named)]
    return _officer_items(subject) if tier == "officer" else _commander_items(subject)


# ----- missions -------------------------------------------------------------------------------------
@dataclass
class _Shelf:
    items: list[Item]
    deck: list[int] = field(default_factory=list)
    written: set[frozenset[tuple[str, str]]] = field(default_factory=set)
    last: list[int] = field(default_factory=list)  # the items of the mission written last


class MissionWriter:
    """Writes missions for (subject, tier); remembers what it wrote, so content does not repeat."""

    def __init__(self, subjects: tuple[Subject, ...]) -> None:
        self.subjects = {s.key: s for s in subjects}
        self._shelves: dict[tuple[str, str], _Shelf] = {}

    def _shelf(self, subject: Subject, tier: str) -> _Shelf:
        key = (subject.key, tier)
        if key not in self._shelves:
            self._shelves[key] = _Shelf(question_items(subject, tier))
        return self._shelves[key]

    def _deal(self, shelf: _Shelf, rng: random.Random, topic: frozenset[str], tier: str) -> list[Item]:
        chosen: list[Item] = []
        skipped: list[int] = []
        on_topic = [i for i in shelf.deck if topic & shelf.items[i].tags and i not in shelf.last]
        if on_topic and rng.random() < 0.7:
            shelf.deck.remove(on_topic[0])
            chosen.append(shelf.items[on_topic[0]])
        while len(chosen) < QUESTIONS:
            if not shelf.deck:
                # A fresh shuffle, with the previous mission's questions at the bottom of the deck.
                shelf.deck = list(range(len(shelf.items)))
                rng.shuffle(shelf.deck)
                shelf.deck.sort(key=lambda i: i in shelf.last or i in [shelf.items.index(c) for c in chosen])
            index = shelf.deck.pop(0)
            item = shelf.items[index]
            if any(_clash(item, other, tier) for other in chosen):
                skipped.append(index)
                continue
            chosen.append(item)
        shelf.deck[:0] = [i for i in skipped if i not in shelf.deck]  # kept for the next mission
        return chosen

    def write(self, subject_key: str, tier: str, rng: random.Random, topic: str = "") -> dict[str, Any]:
        subject = self.subjects[subject_key]
        shelf = self._shelf(subject, tier)
        topic_words = _tags(topic)
        combinations = math.comb(len(shelf.items), QUESTIONS)
        for _ in range(200):
            items = self._deal(shelf, rng, topic_words, tier)
            identity = frozenset(item.key for item in items)
            if identity not in shelf.written or len(shelf.written) >= combinations:
                break
        shelf.written.add(identity)
        shelf.last = [shelf.items.index(item) for item in items]
        return self._mission(subject, items, rng)

    def _mission(self, subject: Subject, items: list[Item], rng: random.Random) -> dict[str, Any]:
        questions = [item.write(rng) for item in items]
        facts: list[str] = []
        for item in items:
            facts += [s for s in item.sentences if s not in facts]
        # A fact or two more, as a model pads a briefing: values of the same kind first (so wrong
        # options have their owners), then any other fact of the subject, up to a full paragraph.
        groups = {m.group for m in subject.measures if _sentence(m) in facts}
        near = [_sentence(m) for m in subject.measures if m.group in groups]
        far = [_sentence(m) for m in subject.measures if m.group not in groups] + [n.sentence for n in subject.named]
        rng.shuffle(near)
        rng.shuffle(far)
        body = facts[:]
        for spare in [s for s in near + far if s not in facts]:
            if len(body) - len(facts) >= 2 and len(" ".join(body)) >= MIN_BRIEFING:
                break
            body.append(spare)
        briefing = " ".join([rng.choice(subject.openings), *body, rng.choice(subject.closings)])
        return {"title": rng.choice(subject.titles), "briefing": briefing, "questions": questions}


def _clash(item: Item, other: Item, tier: str) -> bool:
    """Two questions that cannot share a mission: the same question, or (the schema's rule) the
    same quoted facts; a cadet question also needs a fact of its own."""
    if item.prompt == other.prompt or set(item.sentences) == set(other.sentences):
        return True
    return tier == "cadet" and bool(set(item.sentences) & set(other.sentences))
