"""Text helpers shared by the schema's rules: lengths, normalising for quotes, keywords."""

from __future__ import annotations

import re
from typing import Any

LIMITS = {
    "title": (3, 120),
    "briefing": (350, 2400),
    "prompt": (8, 300),
    "option": (1, 140),
    "fact": (20, 500),
    "explanation": (8, 400),
}
# Words too common to show that a fact names an answer.
COMMON = frozenset(
    "about above after also among and any are around as at be been before below between but by can could "
    "did does each for from had has have her his how into is it its just less like many may more most much "
    "near not now of off on only onto or our out over per same than that the their them then there these "
    "they this those through to too under until very was were what when where which while who why will "
    "with within would you your".split()
)
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)


class InvalidRun(ValueError):
    """The content does not match the schema; the message says where and why."""


def text_field(value: Any, name: str, where: str) -> str:
    if not isinstance(value, str):
        raise InvalidRun(f"{where}: expected a string, got {type(value).__name__}")
    text = " ".join(value.split())
    low, high = LIMITS[name]
    if not low <= len(text) <= high:
        raise InvalidRun(f"{where}: length {len(text)} outside {low}-{high} characters")
    return text


def norm(text: str) -> str:
    return " ".join(text.split()).casefold().strip(" \"'“”‘’")


def keywords(text: str) -> set[str]:
    """Numbers and words of three letters or more that are not filler."""
    return {t for t in _TOKEN.findall(text.casefold()) if (t.isdigit() or len(t) >= 3) and t not in COMMON}


_SHORT_WORDS = frozenset("an as at be by do go he if in is it me my no of on or so to up us we".split())


def stems(text: str) -> set[str]:
    """Keywords cut to their first five letters (without a plural s), so "volcanic" meets "volcanoes"
    and "years" meets "year"; two-letter names ("Io") count too."""
    short = {t.casefold() for t in _TOKEN.findall(text) if len(t) == 2 and t[0].isupper() and t.casefold() not in _SHORT_WORDS}
    return short | {(word[:-1] if len(word) > 3 and word.endswith("s") else word)[:5] for word in keywords(text)}


def sentences(text: str) -> int:
    return len([part for part in re.split(r"(?<=[.!?])\s+", text) if len(part) >= 15])
