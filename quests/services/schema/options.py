"""Wrong options of the same kind as the right one, and none that is absurd.

Every option gets a kind: a quantity (a number with a dimension: a length, a time, a count...), a
named thing (a planet, a moon, a crater, a spacecraft...), a proper name the lists do not know, or
a phrase. The wrong options must match the right one: numbers with numbers of the same dimension
within a factor of ten of the right value, planets with planets, phrases with phrases. A player
then has to know the answer, not spot the odd one out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from quests.services.schema.bodies import looks_like_a_name, name_kinds
from quests.services.schema.quantities import Quantity, parse_quantity

# How far a wrong number may be from the right one, as a ratio (the wrong options must be plausible).
RANGE_FACTOR = 10.0

# Options no one could take for an answer about space: life and objects of Earth's surface, fantasy,
# and features that famous bodies do not have.
_ABSURD = re.compile(
    r"\b(?:forests?|trees?|jungles?|grass(?:lands)?|flowers?|cheese|aliens?|little green men|dinosaurs?|"
    r"unicorns?|dragons?|wizards?|magic|fairies|elves|ghosts?|cows?|chocolate|pizza|candy)\b"
    r"|\brings? (?:of|around|circling) (?:mercury|venus|earth|mars|the moon)\b"
    r"|\b(?:mercury|venus|mars|the moon)(?:'s|’s) rings?\b|\bmartian rings?\b"
    r"|\bmoons? (?:of|around|circling) (?:mercury|venus)\b|\b(?:mercury|venus)(?:'s|’s) moons?\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class OptionKind:
    """`family` is "quantity", "name", "proper name" or "phrase"."""

    family: str
    quantity: Quantity | None = None
    names: frozenset[str] = frozenset()

    def describe(self) -> str:
        if self.quantity is not None:
            return f"a {self.quantity.dimension}" if self.quantity.dimension != "count" else "a count"
        if self.names and self.family == "name":
            return " or ".join(f"a {n}" for n in sorted(self.names))
        return "a proper name" if self.family == "proper name" else "a phrase"


def option_kind(option: str) -> OptionKind:
    names = name_kinds(option)
    if names == {"substance"}:
        # "Carbon dioxide", "water ice": materials are described as much as named ("pieces of water ice").
        return OptionKind("phrase", names=names)
    if names:
        return OptionKind("name", names=names)
    quantity = parse_quantity(option)
    if quantity is not None:
        return OptionKind("quantity", quantity=quantity)
    if looks_like_a_name(option):
        return OptionKind("proper name")
    return OptionKind("phrase")


def _same_range(right: Quantity, wrong: Quantity) -> bool:
    if right.dimension == "date":
        return True  # years are all alike in size; their spacing is the question's business
    a, b = abs(right.base), abs(wrong.base)
    if a == 0 or b == 0:
        return max(a, b) <= RANGE_FACTOR
    return max(a, b) / min(a, b) <= RANGE_FACTOR * (1 + 1e-9)


def kind_problem(right: str, wrong: str) -> str | None:
    """Why `wrong` is not of the same kind as `right`, or None when it is."""
    want, got = option_kind(right), option_kind(wrong)
    if want.family == "quantity":
        if got.quantity is None or got.quantity.dimension != want.quantity.dimension:
            return f"{wrong!r} is not {want.describe()} like the right answer {right!r}"
        if not _same_range(want.quantity, got.quantity):
            return (f"{wrong!r} is more than {RANGE_FACTOR:g} times away from the right answer {right!r}; "
                    "wrong numbers must be plausible")
        return None
    if want.family == "name":
        if got.family == "proper name" or (got.family == "name" and got.names & want.names):
            return None
        return f"{wrong!r} is not {want.describe()} like the right answer {right!r}"
    if want.family == "proper name":
        return None if got.family in ("name", "proper name") else f"{wrong!r} is not a name like {right!r}"
    if got.family == "phrase":
        return None
    return f"{wrong!r} is {got.describe()}, the right answer {right!r} is a phrase"


def absurd(option: str) -> bool:
    return bool(_ABSURD.search(option))


def options_problem(options: list[str], answer: int) -> str | None:
    """The first reason the options fail (an absurd option, a wrong one of another kind), or None."""
    for option in options:
        if absurd(option):
            return f"option {option!r} is absurd; every wrong option must be plausible"
    right = options[answer]
    for i, option in enumerate(options):
        if i != answer:
            problem = kind_problem(right, option)
            if problem:
                return problem
    return None
