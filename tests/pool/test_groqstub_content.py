"""The stand-in writes missions like a model would: on the prompt's quest, at the prompt's tier,
valid for the game's schema and tier rules, and varied, so that one quest can be played many
times in a row without the same content twice. It reads nothing but the messages it receives."""

from __future__ import annotations

import json
import random
import re

import pytest

from keymanager.testing.groqstub import content
from keymanager.testing.groqstub.facts import subjects
from keymanager.testing.groqstub.missions import question_items
from quests.models import Quest, Tier
from quests.services.content import content_fields
from quests.services.generation import build_messages, generate_content, tier_config
from quests.services.schema import parse_reply, validate_content
from tests.quests_fixtures import seeded  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("seeded")]

JSON_MODE = {"type": "json_object"}
IN_A_ROW = 20
# What a mission of each seeded quest must be about: one of these words in its title or briefing.
ABOUT = {
    1: ("Moon", "lunar"),
    2: ("Mars", "Martian"),
    3: ("Jupiter", "Io", "Europa", "Ganymede", "Callisto"),
    4: ("Saturn", "Enceladus", "Titan", "rings"),
    5: ("exoplanet", "TRAPPIST-1", "Proxima Centauri", "51 Pegasi", "star"),
}


def about(mission: dict, quest_number: int) -> bool:
    text = f"{mission['title']} {mission['briefing']}"
    return any(re.search(rf"\b{re.escape(word)}\b", text) for word in ABOUT[quest_number])


def missions_in_a_row(quest: Quest, tier: str, count: int, *, seed: int = 0) -> list:
    """`count` replies of one stand-in to the game's own prompts for this quest and tier, parsed
    and validated by the game for that tier."""
    writer, rng, topics = content.new_writer(), random.Random(seed), random.Random(seed)
    config = tier_config(quest=quest, tier=tier)
    runs = []
    for _ in range(count):
        messages = build_messages(quest=quest, topic=topics.choice(quest.topic_list()), config=config)
        runs.append(parse_reply(content.generate(messages, JSON_MODE, rng, writer), tier=tier))
    return runs


@pytest.mark.parametrize("tier", Tier.values)
@pytest.mark.parametrize("number", sorted(ABOUT))
def test_twenty_missions_in_a_row_are_valid_on_the_quest_and_never_the_same_content(number, tier):
    quest = Quest.objects.get(number=number)
    runs = missions_in_a_row(quest, tier, IN_A_ROW)
    keys = [content_fields(run)["content_key"] for run in runs]
    assert len(set(keys)) == IN_A_ROW, f"{quest.title} {tier}: a repeat within {IN_A_ROW} missions"
    assert all(about(run.as_dict(), number) for run in runs), quest.title
    # Varied, not just reshuffled: consecutive missions share at most one question.
    for first, second in zip(runs, runs[1:], strict=False):
        shared = {q["prompt"] for q in first.questions} & {q["prompt"] for q in second.questions}
        assert len(shared) <= 1, shared


def test_it_writes_each_tier_the_way_the_prompt_asks():
    quest = Quest.objects.get(number=3)
    cadet, officer, commander = (missions_in_a_row(quest, tier, 1)[0] for tier in Tier.values)
    assert all("fact" in q and "facts" not in q for q in cadet.questions)
    assert all(len(q["facts"]) == 2 for q in officer.questions)
    assert all(q["reasoning"] in ("cause", "consequence") for q in commander.questions)
    # The same writer keeps a shelf per tier: an officer prompt never gets cadet content.
    assert not {q["prompt"] for q in cadet.questions} & {q["prompt"] for q in officer.questions}


def test_the_same_seed_writes_the_same_sequence_and_another_seed_another():
    quest = Quest.objects.get(number=1)
    first = [run.as_dict() for run in missions_in_a_row(quest, Tier.OFFICER, 5, seed=4)]
    again = [run.as_dict() for run in missions_in_a_row(quest, Tier.OFFICER, 5, seed=4)]
    other = [run.as_dict() for run in missions_in_a_row(quest, Tier.OFFICER, 5, seed=5)]
    assert first == again
    assert first != other


@pytest.mark.parametrize("subject", subjects(), ids=lambda s: s.key)
def test_every_question_of_the_fact_table_passes_the_schema(subject):
    # Each item in a mission of its own, with two other items that do not clash with it: a fact
    # that drifts from its sentence, or a wrong option out of range, turns this red.
    for tier in Tier.values:
        items = question_items(subject, tier)
        for item in items:
            others = []
            for other in items:
                if len(others) < 2 and not any(set(other.sentences) & set(i.sentences) for i in [item, *others]):
                    others.append(other)
            rng = random.Random(1)
            sentences = list(dict.fromkeys(s for i in [item, *others] for s in i.sentences))
            briefing = " ".join(["The survey log opens with the facts this mission needs, as the ship settles into orbit.",
                                 *sentences, "Every figure has been checked twice by the science officer on watch.",
                                 "Mission control expects your answers before the next communication window.",
                                 "End of the survey log for today."])
            mission = {"title": "Table check", "briefing": briefing,
                       "questions": [i.write(rng) for i in [item, *others]]}
            validate_content(mission, tier=tier)


@pytest.mark.parametrize(
    ("prompt", "tier"),
    [
        ("Write a new commander-level mission for quest 1.", "commander"),
        ("Write a new Officer-level mission.", "officer"),
        ('Each question has "facts" and "reasoning" keys.', "commander"),
        ('Each question has "facts" and "calculation" keys.', "officer"),
        ("Three questions about space, please.", "cadet"),
    ],
)
def test_it_reads_the_tier_from_the_prompt(prompt, tier):
    assert content.asked_tier(prompt) == tier


def test_a_prompt_on_no_known_subject_still_gets_a_valid_mission():
    reply = content.generate([{"role": "user", "content": "Three questions about space, please."}], JSON_MODE,
                             random.Random(1))
    assert parse_reply(reply).title


def test_json_mode_without_a_mission_request_gets_a_short_reply():
    reply = json.loads(content.generate([{"role": "user", "content": "Say hello."}], JSON_MODE, random.Random(1)))
    assert set(reply) == {"reply"}


def test_the_galilean_moons_get_jupiters_moons_through_the_pool_at_every_tier(pool_factory):
    # Real HTTP, real SDK, the game's own generation: an officer run gets a valid officer mission.
    pool_factory(orgs=1)
    quest = Quest.objects.get(number=3)
    for tier in Tier.values:
        generated = generate_content(quest=quest, purpose="quest", tier=tier, rng=random.Random(2))
        assert generated is not None and generated.note == "", (tier, generated)
        assert about(generated.content.as_dict(), 3)
