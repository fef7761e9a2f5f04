"""Callsigns: what a valid one looks like, and the key that makes look-alikes collide.

A callsign is unique by its *key*: the UTS #39 confusable skeleton of its case-folded form,
so `Admin`, `аdmin` (Cyrillic а) and `Ꭺdmin` (Cherokee A) all share the key of `admin`. The
key is stored in a unique column (Player.callsign_key): the database refuses a look-alike even
when two requests race.

The skeleton follows UTS #39 section 4 with Unicode's own data (`quests/data/confusables.txt`,
the MA table shipped by Unicode): NFD, Default_Ignorable_Code_Point characters removed, each
character replaced by its prototype, NFD again.

Default-ignorable characters (variation selectors, the combining grapheme joiner, Hangul
fillers, zero-width and bidi controls, tags, ...: `quests/data/default_ignorable.txt`, from
Unicode's DerivedCoreProperties, since Python's unicodedata lacks the property) draw nothing, so
`admin` followed by one looks like `admin`. A callsign may not hold any, and the key drops them,
so a name that slipped in before still collides with its visible twin.
"""

from __future__ import annotations

import random
import unicodedata
from functools import cache
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "data"
CONFUSABLES = DATA / "confusables.txt"
DEFAULT_IGNORABLE = DATA / "default_ignorable.txt"
MIN_LENGTH, MAX_LENGTH = 3, 24
# Besides letters, digits and combining marks: separators a callsign may hold inside.
SEPARATORS = frozenset(" _.-")
MAX_MARKS_IN_A_ROW = 2  # accents stack; towers of combining marks ("zalgo") do not pass

RULES = (
    f"A callsign has {MIN_LENGTH} to {MAX_LENGTH} characters: letters (any alphabet), digits, spaces, dots, "
    "dashes or underscores, starting and ending with a letter or digit."
)
INVISIBLE = "A callsign cannot hold invisible characters (such as variation selectors, joiners or fillers)."

_ADJECTIVES = ["Nova", "Comet", "Orbit", "Quasar", "Pulsar", "Nebula", "Zenith", "Aurora", "Photon", "Vega"]
_NOUNS = ["Falcon", "Voyager", "Pioneer", "Kestrel", "Raven", "Drifter", "Ranger", "Skipper", "Lynx", "Otter"]


class InvalidCallsign(ValueError):
    pass


@cache
def _prototypes() -> dict[str, str]:
    table: dict[str, str] = {}
    for raw in CONFUSABLES.read_text(encoding="utf-8-sig").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        source, target, *_ = (part.strip() for part in line.split(";"))
        table[chr(int(source, 16))] = "".join(chr(int(cp, 16)) for cp in target.split())
    return table


@cache
def default_ignorable() -> frozenset[str]:
    """Every Default_Ignorable_Code_Point character (4,174 in Unicode 15)."""
    found: set[str] = set()
    for raw in DEFAULT_IGNORABLE.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        span, prop = (part.strip() for part in line.split(";"))
        if prop != "Default_Ignorable_Code_Point":
            continue
        first, _, last = span.partition("..")
        found.update(chr(cp) for cp in range(int(first, 16), int(last or first, 16) + 1))
    return frozenset(found)


def strip_default_ignorable(text: str) -> str:
    ignorable = default_ignorable()
    return "".join(ch for ch in text if ch not in ignorable)


def skeleton(text: str) -> str:
    """UTS #39 skeleton(X): two strings that look alike have the same skeleton."""
    table = _prototypes()
    decomposed = strip_default_ignorable(unicodedata.normalize("NFD", text))
    return unicodedata.normalize("NFD", "".join(table.get(ch, ch) for ch in decomposed))


def callsign_key(callsign: str) -> str:
    """The identity of a callsign: skeleton of the case-folded text, repeated until stable,
    because a prototype may be upper case (`0` → `O`) and a folded letter may have a prototype."""
    key = unicodedata.normalize("NFKC", callsign)
    for _ in range(5):
        folded = skeleton(key.casefold())
        if folded == key:
            break
        key = folded
    return key


def _is_allowed(ch: str) -> bool:
    category = unicodedata.category(ch)
    return category[0] in "LM" or category == "Nd" or ch in SEPARATORS


def callsign_clean(value: str) -> str:
    """The callsign as it will be stored (NFKC, single spaces), or InvalidCallsign with a
    message for the player. Default-ignorable characters (variation selectors, joiners, fillers,
    bidi controls) never pass."""
    # Checked before normalizing: NFKC keeps them (and makes none from other characters).
    if any(ch in default_ignorable() for ch in value or ""):
        raise InvalidCallsign(INVISIBLE)
    text = unicodedata.normalize("NFKC", " ".join((value or "").split()))
    if not MIN_LENGTH <= len(text) <= MAX_LENGTH or not all(_is_allowed(ch) for ch in text):
        raise InvalidCallsign(RULES)
    # Starts with a letter or digit; ends with one too, or with the accent of one.
    if unicodedata.category(text[0])[0] not in "LN" or unicodedata.category(text[-1])[0] not in "LNM":
        raise InvalidCallsign(RULES)
    run = 0
    for ch in text:
        run = run + 1 if unicodedata.category(ch)[0] == "M" else 0
        if run > MAX_MARKS_IN_A_ROW:
            raise InvalidCallsign("Too many accents on one letter.")
    return text


def callsign_generate(*, rng: random.Random | None = None) -> str:
    rng = rng or random.SystemRandom()
    return f"{rng.choice(_ADJECTIVES)}-{rng.choice(_NOUNS)}-{rng.randint(10, 9999)}"
