"""Wrong options of the same kind as the right one (planets with planets, numbers with numbers of
the same unit and range), and no absurd ones, on every tier."""

from __future__ import annotations

import math

import pytest

from quests.models import Tier
from quests.services.schema import InvalidRun, validate_content
from quests.services.schema.calculation import CalculationError, evaluate
from quests.services.schema.options import absurd, kind_problem
from quests.services.schema.quantities import numbers_in, parse_quantity
from tests.quests_fixtures import archive_raw


@pytest.mark.parametrize(
    ("right", "wrong"),
    [
        ("Mercury", "Venus"),
        ("Io", "Titan"),
        ("Earth's Moon", "Ganymede"),
        ("Jezero crater", "Gale crater"),
        ("The Sea of Tranquility", "Tycho crater"),  # surface features stand in for one another
        ("The Cassini Division", "The Encke Gap"),
        ("Juno", "Galileo"),  # "Galileo" is a person and a spacecraft
        ("Galileo Galilei", "Johannes Kepler"),
        ("51 Pegasi b", "Kepler-22b"),
        ("TRAPPIST-1e", "HD 209458 b"),
        ("Mercury", "Vulcan"),  # a name the lists do not know gets the benefit of the doubt
        ("About 384,000 km", "About 38,400 km"),  # ten times: the edge of plausible
        ("About 384,000 km", "About 3.8 million km"),
        ("About 8 minutes", "About 1,000 seconds"),  # units of one dimension compare
        ("About 1.3 seconds", "About 13 seconds"),
        ("About 38%", "About one-third"),
        ("About one-sixth", "About half"),
        ("About 465 °C", "About -60 °C"),  # temperatures compare in kelvin
        ("About 5.4 sieverts", "About 2 sieverts"),  # an unknown unit is a count
        ("In 1610", "In 1979"),
        ("Seven", "Twelve"),
        ("Carbon dioxide", "Nitrogen"),
        ("Liquid methane and ethane", "Liquid water"),
        ("Pieces of water ice", "Solid rock"),
        ("It rotates once for each orbit", "It does not rotate at all"),
    ],
)
def test_options_of_one_kind_are_accepted(right, wrong):
    assert kind_problem(right, wrong) is None


@pytest.mark.parametrize(
    ("right", "wrong", "reason"),
    [
        ("Mercury", "Olympus Mons", "not a planet like"),
        ("Io", "Mars", "not a moon"),
        ("51 Pegasi b", "Proxima Centauri", "not a exoplanet"),
        ("Mercury", "A small rocky world", "not a planet like"),
        ("About 384,000 km", "About 150 million km", "more than 10 times away"),
        ("About 29.5 days", "About 24 hours", "more than 10 times away"),
        ("About 8 minutes", "About 8 km", "not a time"),
        ("About 384,000 km", "Too far to measure", "not a length"),
        ("Seven", "About 7 km", "not a count"),
        ("It rotates once for each orbit", "Jupiter", "is a planet, the right answer .* is a phrase"),
        ("It rotates once for each orbit", "About 27 days", "is a time, the right answer"),
    ],
)
def test_a_wrong_option_of_another_kind_is_refused(right, wrong, reason):
    assert kind_problem(right, wrong) is not None
    with pytest.raises(AssertionError, match=reason):
        assert kind_problem(right, wrong) is None, kind_problem(right, wrong)


@pytest.mark.parametrize("option", ["The rings of Mars", "Forests seen from afar", "Mars's rings", "Aliens",
                                    "Moons of Venus", "Magic"])
def test_absurd_options_are_refused(option):
    assert absurd(option)


@pytest.mark.parametrize("option", ["Rings of dust around Jupiter", "The Sea of Tranquility", "Cities of light"])
def test_plausible_options_are_not_absurd(option):
    assert not absurd(option)


def test_the_schema_refuses_a_run_with_a_wrong_option_of_another_kind_on_every_tier():
    for ref, tier in [("moon-01", Tier.CADET), ("moon-o1", Tier.OFFICER), ("moon-c2", Tier.COMMANDER)]:
        run = archive_raw(ref)
        validate_content(run, tier=tier)
        q = run["questions"][0]
        wrong = next(i for i in range(4) if i != q["answer"])
        q["options"][wrong] = "Olympus Mons"
        with pytest.raises(InvalidRun, match="question 1: 'Olympus Mons' is "):
            validate_content(run, tier=tier)


def test_the_schema_refuses_an_absurd_option():
    run = archive_raw("mars-09")
    q = run["questions"][0]
    q["options"][(q["answer"] + 1) % 4] = "The rings of Mars"
    with pytest.raises(InvalidRun, match="'The rings of Mars' is absurd"):
        validate_content(run)


def test_the_schema_refuses_a_number_far_out_of_range():
    run = archive_raw("moon-01")  # "What is the average distance between Earth and the Moon?"
    q = run["questions"][0]
    q["options"][(q["answer"] + 1) % 4] = "About 150 million km"
    with pytest.raises(InvalidRun, match="more than 10 times away from the right answer 'About 384,000 km'"):
        validate_content(run)


@pytest.mark.parametrize(
    ("option", "dimension", "base"),
    [
        ("About 384,000 km", "length", 3.84e8),
        ("Roughly 3.8 million km", "length", 3.8e9),
        ("About 4.2 light-years", "length", 4.2 * 9.4607e15),
        ("About 8 minutes", "time", 480),
        ("About 24.7 hours", "time", 24.7 * 3600),
        ("About 1.5 km/s", "speed", 1500),
        ("About 1.62 m/s²", "acceleration", 1.62),
        ("-180 °C", "temperature", 93.15),
        ("About 38%", "proportion", 0.38),
        ("About one-sixth", "proportion", 1 / 6),
        ("Between about 3 and 22 minutes", "time", 12.5 * 60),
        ("Seven Earth-sized planets", "count", 7),
        ("In 1610", "date", 1610),
    ],
)
def test_quantities_are_read_with_their_unit(option, dimension, base):
    quantity = parse_quantity(option)
    assert quantity.dimension == dimension and math.isclose(quantity.base, base, rel_tol=1e-6)


@pytest.mark.parametrize("option", ["Olympus Mons", "One hemisphere is dark and the other bright", "Galileo Galilei, in 1610"])
def test_phrases_that_contain_numbers_are_not_quantities(option):
    assert parse_quantity(option) is None


def test_numbers_in_a_fact_include_words_fractions_and_magnitudes():
    found = numbers_in("TRAPPIST-1 has seven planets, one-sixth of 3.8 million km away, and a six-sided storm.")
    assert {1.0, 7.0, 6.0, 3.8, 3.8e6} <= found


@pytest.mark.parametrize(
    ("expression", "value"),
    [("384,000 / 300,000", 1.28), ("(24 + 50 / 60) / 2", 12.4167), ("4.6e9 - 4.5e9", 1e8), ("10**6 * 2", 2e6),
     ("29.5 ÷ 2", 14.75), ("7 × 3", 21), ("384000 / 300000 = 1.28", 1.28)],
)
def test_calculations_are_evaluated_as_arithmetic(expression, value):
    assert math.isclose(evaluate(expression)[0], value, rel_tol=1e-4)


@pytest.mark.parametrize("expression", ["open('x')", "1 / 0", "2 ** 100", "[1, 2]", "", "a + 1", "(" * 200 + "1", "9" * 400])
def test_anything_but_arithmetic_is_refused(expression):
    with pytest.raises(CalculationError):
        evaluate(expression)
