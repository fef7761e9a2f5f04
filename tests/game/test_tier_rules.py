"""Tiers that are really harder: officer questions combine two quoted facts or work a number out
(and the number must follow from the facts), commander questions ask why or what follows. Each
test breaks one rule in a real archive mission by one small edit and sees it refused."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quests.models import Tier
from quests.services.schema import InvalidRun, parse_reply, validate_content
from tests.quests_fixtures import archive_raw, game_settings, seeded  # noqa: F401

OFFICER = "moon-o1"  # Q1: two facts and 384000 / 300000; Q3: one fact and 12742 / 3474
COMMANDER = "moon-c1"  # Q1 asks why ("cause"), Q2 what follows ("consequence")


def refused(run: dict, tier: str, reason: str) -> None:
    with pytest.raises(InvalidRun, match=reason):
        validate_content(run, tier=tier)


def test_an_officer_mission_keeps_its_facts_and_calculation_and_shows_both_quotes():
    content = validate_content(archive_raw(OFFICER), tier=Tier.OFFICER)
    first = content.questions[0]
    assert first["facts"] == [
        "The Moon orbits Earth at an average distance of about 384,000 km.",
        "Radio signals travel at the speed of light, about 300,000 km per second.",
    ]
    assert first["calculation"] == "384000 / 300000"
    # The debriefing shows `fact`: both quotes.
    assert first["fact"] == " ".join(first["facts"])


def test_a_cadet_question_is_not_enough_for_the_officer_tier():
    run = archive_raw(OFFICER)
    run["questions"][0]["fact"] = run["questions"][0].pop("facts")[0]
    refused(run, Tier.OFFICER, 'missing facts .*"facts", a list')
    # And the tier is the caller's: the same reply parsed as an officer reply is refused.
    with pytest.raises(InvalidRun, match="missing facts"):
        parse_reply(json.dumps(run), tier=Tier.OFFICER)


def test_one_fact_needs_a_calculation():
    run = archive_raw(OFFICER)
    del run["questions"][2]["calculation"]
    refused(run, Tier.OFFICER, "combine two facts .* or one fact and a calculation")


def test_the_two_facts_must_be_distinct():
    run = archive_raw(OFFICER)
    q = run["questions"][0]
    q["facts"][1] = q["facts"][0]
    refused(run, Tier.OFFICER, "two facts must be distinct")


def test_each_fact_is_quoted_word_for_word():
    run = archive_raw(OFFICER)
    run["questions"][0]["facts"][1] = "Radio signals travel at about 300,000 km per second."
    refused(run, Tier.OFFICER, "question 1 fact 2: the fact must be quoted word for word")


def test_a_calculation_uses_only_numbers_the_facts_state():
    run = archive_raw(OFFICER)
    run["questions"][0]["calculation"] = "384400 / 300000"  # 384,400 km is true, but not what the briefing says
    refused(run, Tier.OFFICER, "uses 384400, which the quoted facts do not state")


def test_a_calculation_must_give_the_right_answer():
    run = archive_raw(OFFICER)
    run["questions"][0]["calculation"] = "384000 / 300000 * 2"
    refused(run, Tier.OFFICER, "gives 2.56, not the right answer 'About 1.3 seconds'")


def test_a_calculation_must_point_at_the_right_answer_and_no_other():
    run = archive_raw(OFFICER)
    q = run["questions"][0]
    q["options"][q["options"].index("About 0.4 seconds")] = "About 1.28 seconds"
    refused(run, Tier.OFFICER, "as close to 'About 1.28 seconds' as to the right answer")


@pytest.mark.parametrize("calculation", ["__import__('os').system('true')", "384000 / (300000 - 300000)",
                                         "sum([384000])", "384000 /", "2 ** 10 ** 10"])
def test_a_calculation_is_plain_arithmetic_never_code(calculation):
    run = archive_raw(OFFICER)
    run["questions"][0]["calculation"] = calculation
    refused(run, Tier.OFFICER, "question 1 calculation: ")


def test_a_number_answer_is_stated_or_worked_out():
    run = archive_raw(OFFICER)
    del run["questions"][0]["calculation"]  # two facts, but 1.3 seconds is in neither
    refused(run, Tier.OFFICER, "neither stated in the quoted facts nor worked out")


def test_every_quoted_fact_bears_on_its_question():
    run = archive_raw("moon-o5")
    q = run["questions"][1]  # "Which site did the last crewed landing visit?": facts 4 and 5
    q["facts"][1] = "Apollo 14 explored Fra Mauro in February 1971."
    refused(run, Tier.OFFICER, "fact 2 has nothing to do with the question")


def test_the_facts_name_a_right_answer_that_is_not_a_number():
    run = archive_raw("mars-o9")
    q = run["questions"][1]  # "Which rover kept working through the planet-wide dust storm of 2018?" Curiosity
    q["facts"][1] = "Mars is about 1.5 times as far from the Sun as Earth is."
    refused(run, Tier.OFFICER, "quoted facts do not name the right answer")


def test_each_question_cites_its_own_facts():
    run = archive_raw(COMMANDER)
    run["questions"][2]["facts"] = list(run["questions"][0]["facts"])
    refused(run, Tier.COMMANDER, "each question needs its own facts")


def test_a_commander_mission_is_valid_with_its_reasoning():
    content = validate_content(archive_raw(COMMANDER), tier=Tier.COMMANDER)
    assert [q["reasoning"] for q in content.questions] == ["cause", "consequence", "cause"]


def test_a_commander_question_says_whether_it_asks_why_or_what_follows():
    run = archive_raw(COMMANDER)
    del run["questions"][0]["reasoning"]
    refused(run, Tier.COMMANDER, 'reasoning must be "cause"')


def test_a_why_question_is_not_a_consequence():
    run = archive_raw(COMMANDER)
    run["questions"][1]["reasoning"] = "cause"  # "What follows for the length of Earth's day...?"
    refused(run, Tier.COMMANDER, "with reasoning 'cause' asks why")


def test_a_commander_question_that_asks_neither_why_nor_what_follows_is_refused():
    run = archive_raw(COMMANDER)
    run["questions"][0]["prompt"] = "Which face of the Moon do we always see?"
    refused(run, Tier.COMMANDER, "with reasoning 'cause' asks why")


def test_a_commander_question_is_grounded_like_an_officer_question():
    run = archive_raw(COMMANDER)
    run["questions"][0]["facts"] = run["questions"][0]["facts"][:1]
    refused(run, Tier.COMMANDER, "commander questions combine two facts")


def test_cadet_missions_still_validate_without_a_tier():
    # Callers that never heard of tiers keep the cadet rules.
    content = validate_content(archive_raw("moon-01"))
    assert all(set(q) == {"prompt", "options", "answer", "fact", "explanation"} for q in content.questions)


@pytest.mark.parametrize("ref", ["mars-o3", "jupiter-c3", "saturn-o4", "exo-o3"])
def test_archive_missions_of_every_quest_pass_their_own_tier_and_not_the_cadet_one(ref):
    run = archive_raw(ref)
    validate_content(run, tier=run["tier"])
    with pytest.raises(InvalidRun, match="missing fact"):
        validate_content(run, tier=Tier.CADET)


@pytest.mark.django_db
@pytest.mark.usefixtures("game_settings", "seeded")
def test_the_debriefing_of_an_officer_mission_quotes_both_facts(client):
    from html import escape

    from django.urls import reverse
    from model_bakery import baker

    from quests.models import Player, Quest
    from quests.services.runs import run_start

    player = baker.make(Player, callsign="Officer", xp=200)
    session = client.session
    session["quests_player_id"] = player.pk
    session.save()
    run = run_start(player=player, quest=Quest.objects.get(number=1), tier=Tier.OFFICER)  # no keys: the archive
    answers = {f"q{i}": str(q["answer"]) for i, q in enumerate(run.questions, start=1)}
    assert client.post(reverse("quests:run_answer", args=[run.pk]), answers).status_code == 302
    html = client.get(reverse("quests:run_result", args=[run.pk])).content.decode()
    for question in run.questions:
        for fact in question["facts"]:
            assert escape(fact) in html


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=60)
    | st.sampled_from(["384000 / 300000", "10**10**10", "9" * 400, "About 1e308 km", "About 0 km", "cause", ""]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)


@given(ref=st.sampled_from([OFFICER, COMMANDER, "exo-o3", "saturn-c9"]), question=st.integers(0, 2),
       key=st.sampled_from(["facts", "calculation", "reasoning", "options", "answer", "prompt", "explanation"]),
       value=JSON_VALUES)
@settings(max_examples=300, deadline=None, derandomize=True, database=None)
def test_any_mangled_reply_is_refused_with_a_reason_never_an_error(ref, question, key, value):
    run = archive_raw(ref)
    run["questions"][question][key] = value
    try:
        validate_content(run, tier=run["tier"])
    except InvalidRun:
        pass
