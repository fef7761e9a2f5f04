"""Reading numbers with units out of answer options and briefing facts.

An option is a quantity when, after a hedge ("about", "roughly", "in"), it starts with a number:
digits ("384,000", "1.3", "-180"), words ("seven", "one-sixth", "twice") or either followed by a
magnitude ("3.8 million"). The unit after it decides the dimension ("km" and "light-years" are
both lengths) and converts the value to the dimension's base unit, so "8 minutes" and "480
seconds" compare equal. A number followed by some other word ("seven planets") is a count; a bare
year ("1610", "in 1969") is a date.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

# unit phrase -> (dimension, factor to the base unit); temperatures are converted separately.
UNITS: dict[str, tuple[str, float]] = {}


def _units(dimension: str, factor: float, *names: str) -> None:
    for name in names:
        UNITS[name] = (dimension, factor)


_units("length", 1.0, "m", "metre", "metres", "meter", "meters")
_units("length", 0.01, "cm", "centimetre", "centimetres", "centimeter", "centimeters")
_units("length", 0.001, "mm", "millimetre", "millimetres", "millimeter", "millimeters")
_units("length", 1000.0, "km", "kilometre", "kilometres", "kilometer", "kilometers")
_units("length", 1609.344, "mile", "miles")
_units("length", 1.495978707e11, "au", "astronomical unit", "astronomical units")
_units("length", 9.4607e15, "light-year", "light-years", "light year", "light years", "ly")
_units("length", 3.0857e16, "parsec", "parsecs", "pc")
_units("length", 6.371e6, "earth radius", "earth radii")
_units("length", 1.2742e7, "earth diameter", "earth diameters")
_units("length", 7.1492e7, "jupiter radius", "jupiter radii")
_units("time", 1.0, "s", "sec", "second", "seconds")
_units("time", 60.0, "min", "minute", "minutes")
_units("time", 3600.0, "h", "hr", "hrs", "hour", "hours")
_units("time", 86400.0, "day", "days", "earth day", "earth days")
_units("time", 604800.0, "week", "weeks")
_units("time", 2.6298e6, "month", "months")
_units("time", 3.15576e7, "year", "years", "earth year", "earth years", "yr", "yrs")
_units("time", 3.15576e8, "decade", "decades")
_units("time", 3.15576e9, "century", "centuries")
_units("speed", 1.0, "m/s", "metres per second", "meters per second")
_units("speed", 1000.0, "km/s", "kilometres per second", "kilometers per second", "km per second")
_units("speed", 1 / 3.6, "km/h", "kilometres per hour", "kilometers per hour", "km per hour")
_units("speed", 0.44704, "mph", "miles per hour")
_units("acceleration", 1.0, "m/s²", "m/s2", "metres per second squared", "meters per second squared")
_units("mass", 1.0, "kg", "kilogram", "kilograms")
_units("mass", 1000.0, "tonne", "tonnes", "ton", "tons")
_units("mass", 5.972e24, "earth mass", "earth masses")
_units("mass", 1.898e27, "jupiter mass", "jupiter masses")
_units("mass", 1.989e30, "solar mass", "solar masses")
_units("density", 1.0, "g/cm³", "g/cm3", "grams per cubic centimetre", "grams per cubic centimeter")
_units("pressure", 1e5, "bar", "bars")
_units("pressure", 100.0, "millibar", "millibars", "mbar", "hpa")
_units("pressure", 101325.0, "atmosphere", "atmospheres", "atm")
_units("pressure", 1.0, "pa", "pascal", "pascals")
_units("proportion", 0.01, "%", "percent", "per cent")
_units("proportion", 1.0, "times", "x", "×", "fold")
_units("angle", 1.0, "°", "degree", "degrees")
_units("temperature", 1.0, "k", "kelvin", "kelvins", "°c", "degrees celsius", "degrees c", "celsius", "°f",
       "degrees fahrenheit", "fahrenheit")

_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
         "sixteen seventeen eighteen nineteen").split()
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
         "ninety": 90}
WORD_NUMBERS: dict[str, float] = {word: float(i) for i, word in enumerate(_ONES)}
WORD_NUMBERS.update({word: float(v) for word, v in _TENS.items()})
for _tens_word, _tens in _TENS.items():
    for _i, _one in enumerate(_ONES[1:10], start=1):
        WORD_NUMBERS[f"{_tens_word}-{_one}"] = float(_tens + _i)
WORD_NUMBERS.update({"a dozen": 12.0, "dozen": 12.0, "a hundred": 100.0, "hundred": 100.0,
                     "a thousand": 1000.0})
_ORDINALS = {"half": 2, "halves": 2, "third": 3, "thirds": 3, "quarter": 4, "quarters": 4, "fourth": 4,
             "fourths": 4, "fifth": 5, "fifths": 5, "sixth": 6, "sixths": 6, "seventh": 7, "eighth": 8,
             "ninth": 9, "tenth": 10, "tenths": 10, "twelfth": 12, "twentieth": 20, "hundredth": 100,
             "hundredths": 100, "thousandth": 1000, "millionth": 1_000_000}
MAGNITUDES = {"thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12}

_HEDGE = re.compile(
    r"^(?:(?:about|around|roughly|approximately|approx\.|nearly|almost|some|just|only|exactly|close to|"
    r"more than|less than|fewer than|over|under|up to|at least|at most|a little|slightly|barely|in|by|after|"
    r"within|every|once every)\s+|[~≈]\s*)+"
)
_DIGITS = r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_WORD = "|".join(sorted((re.escape(w) for w in WORD_NUMBERS), key=len, reverse=True))
_FRACTION = (r"(?:(?P<numer>one|a|two|three|four|five|seven|nine)[- ])?"
             r"(?P<ordinal>" + "|".join(sorted(_ORDINALS, key=len, reverse=True)) + r")")
_NUMBER = re.compile(
    rf"(?P<multiple>twice|double|thrice|triple|half)(?![\w-])"
    rf"|(?P<fraction>{_FRACTION})(?![\w-])"
    rf"|(?P<digits>{_DIGITS})(?:\s*(?:to|-)\s*(?P<upper>{_DIGITS}))?"
    rf"|(?P<word>{_WORD})(?!\w)"
)
_MAGNITUDE = re.compile(r"\s*(?P<mag>thousand|million|billion|trillion)\b")
_UNIT_NAMES = sorted(UNITS, key=len, reverse=True)
_MULTIPLES = {"twice": 2.0, "double": 2.0, "thrice": 3.0, "triple": 3.0}


@dataclass(frozen=True)
class Quantity:
    """A number as written (magnitudes applied: "3.8 million" is 3,800,000), its dimension and
    its value in the dimension's base unit (metres, seconds, kelvin, ...)."""

    value: float
    dimension: str
    base: float
    unit: str = ""


def normalise(text: str) -> str:
    return " ".join(str(text).replace("−", "-").replace("–", "-").replace("\u202f", " ").split()).casefold()


def _fraction(match: re.Match) -> float:
    numer = match.group("numer")
    count = 1.0 if numer in (None, "one", "a") else WORD_NUMBERS[numer]
    return count / _ORDINALS[match.group("ordinal")]


def _digits(text: str) -> float:
    return float(text.replace(",", ""))


def _number_at(text: str, pos: int = 0) -> tuple[float, str, int] | None:
    """(value, how it was written, end) of the number at `pos`, magnitude applied."""
    match = _NUMBER.match(text, pos)
    if not match:
        return None
    if match.group("multiple"):
        word = match.group("multiple")
        return (0.5, "fraction", match.end()) if word == "half" else (_MULTIPLES[word], "multiple", match.end())
    if match.group("fraction"):
        return _fraction(match), "fraction", match.end()
    if match.group("digits"):
        value = _digits(match.group("digits"))
        if match.group("upper"):
            value = (value + _digits(match.group("upper"))) / 2
        kind = "digits"
    else:
        value, kind = WORD_NUMBERS[match.group("word")], "word"
    end = match.end()
    magnitude = _MAGNITUDE.match(text, end)
    if magnitude:
        value *= MAGNITUDES[magnitude.group("mag")]
        end = magnitude.end()
    return value, kind, end


def _unit_at(rest: str) -> str | None:
    for name in _UNIT_NAMES:
        if rest.startswith(name) and not rest[len(name):len(name) + 1].isalnum():
            return name
    return None


def _kelvin(value: float, unit: str) -> float:
    if "c" in unit and "f" not in unit:  # °c, celsius, degrees c
        return value + 273.15
    if "f" in unit:
        return (value - 32) * 5 / 9 + 273.15
    return value


def in_base_unit(value: float, quantity: Quantity) -> float:
    """`value`, written in `quantity`'s unit, converted like `quantity.base` was."""
    if quantity.dimension == "temperature":
        return _kelvin(value, quantity.unit)
    return value * UNITS[quantity.unit][1] if quantity.unit in UNITS else value


def parse_quantity(option: str) -> Quantity | None:
    """The quantity an option states, or None when it does not start with a number."""
    text = normalise(option).rstrip(".!")
    text = _HEDGE.sub("", text)
    if text.startswith("between "):
        text = _HEDGE.sub("", text.removeprefix("between ").replace(" and ", " to ", 1))
    if text in ("equal", "the same", "as much", "the same size"):
        return Quantity(value=1.0, dimension="proportion", base=1.0, unit="times")
    number = _number_at(text)
    if number is None:
        return None
    value, written, end = number
    if written == "fraction":
        return Quantity(value=value, dimension="proportion", base=value, unit="fraction")
    if written == "multiple":
        return Quantity(value=value, dimension="proportion", base=value, unit="times")
    attached = end < len(text) and text[end].isalpha()
    rest = text[end:].strip()
    if attached and rest == "s" and value.is_integer() and 1000 <= value <= 2100:
        return Quantity(value=value, dimension="date", base=value, unit="decade")  # "1970s"
    unit = _unit_at(rest)
    if unit is None:
        if not rest and written == "digits" and value.is_integer() and 1000 <= value <= 2100:
            return Quantity(value=value, dimension="date", base=value, unit="year")
        if len(rest.split()) > 2:
            return None  # "One hemisphere is dark..." is a sentence that happens to start with a number
        return Quantity(value=value, dimension="count", base=value, unit=rest.split(" ")[0] if rest else "")
    dimension, factor = UNITS[unit]
    if dimension == "temperature":
        return Quantity(value=value, dimension=dimension, base=_kelvin(value, unit), unit=unit)
    return Quantity(value=value, dimension=dimension, base=value * factor, unit=unit)


def numbers_in(text: str) -> set[float]:
    """Every number a text states, as written and with its magnitude applied ("3.8 million" gives
    3.8 and 3,800,000; "one-sixth" gives 1/6 and 6), for checking a calculation's inputs."""
    text = normalise(text)
    found: set[float] = set()
    pos = 0
    while pos < len(text):
        # A number starts a word: the "1" of "TRAPPIST-1" counts, the "e" of "the" does not.
        if pos and text[pos - 1].isalnum():
            pos += 1
            continue
        number = _number_at(text, pos)
        if number is None:
            pos += 1
            continue
        value, written, end = number
        found.add(value)
        match = _NUMBER.match(text, pos)
        if match.group("digits"):
            found.add(_digits(match.group("digits")))
            if match.group("upper"):
                found.add(_digits(match.group("upper")))
        if match.group("fraction"):
            found.add(float(_ORDINALS[match.group("ordinal")]))
        if written == "fraction" and match.group("multiple"):
            found.add(2.0)
        pos = max(end, pos + 1)
    return found


def same_number(a: float, b: float, *, tolerance: float = 1e-9) -> bool:
    return math.isclose(a, b, rel_tol=tolerance, abs_tol=1e-12)
