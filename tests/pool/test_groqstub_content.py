"""The stand-in writes missions on the prompt's topic (as a model would), valid for the game's
schema, from nothing but the messages it receives."""

from __future__ import annotations

import json
import random
import re

import pytest

from keymanager.testing.groqstub import content
from keymanager.testing.groqstub.missions import MISSIONS
from quests.models import Quest, Tier
from quests.services.generation import build_messages, generate_content, tier_config
from quests.services.schema import parse_reply
from tests.quests_fixtures import seeded  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("seeded")]

JSON_MODE = {"type": "json_object"}
# What a mission of each seeded quest must be about: one of these words in its title or briefing.
ABOUT = {
    1: ("Moon", "lunar"),
    2: ("Mars", "Martian"),
    3: ("Jupiter", "Io", "Europa", "Ganymede", "Callisto"),
    4: ("Saturn", "Enceladus", "Titan"),
    5: ("exoplanets", "TRAPPIST-1", "Proxima Centauri b"),
}


def about(mission: dict, quest_number: int) -> bool:
    text = f"{mission['title']} {mission['briefing']}"
    return any(re.search(rf"\b{re.escape(word)}\b", text) for word in ABOUT[quest_number])


@pytest.mark.parametrize("number", sorted(ABOUT))
def test_every_topic_of_every_quest_gets_a_valid_mission_on_that_quest(number):
    quest = Quest.objects.get(number=number)
    for tier in Tier.values:
        config = tier_config(quest=quest, tier=tier)
        for i, topic in enumerate(quest.topic_list()):
            messages = build_messages(quest=quest, topic=topic, config=config)
            run = parse_reply(content.generate(messages, JSON_MODE, random.Random(i)))  # the game's schema
            assert about(run.as_dict(), number), (quest.title, tier, topic, run.title)


def test_the_library_is_valid_and_every_mission_is_reachable():
    for mission in MISSIONS:
        parse_reply(json.dumps(content.quest(random.Random(0), " ".join(mission["keywords"]))))
        prompt = f"Write a mission with 3 questions about {', '.join(mission['keywords'])}"
        # A prompt naming a mission's keywords finds every one of them and ranks that mission first.
        assert content.topic_score(mission, prompt) == len(mission["keywords"])
        assert content.topic_score(mission, prompt) == max(content.topic_score(m, prompt) for m in MISSIONS)


def test_a_prompt_on_no_known_topic_still_gets_a_mission():
    reply = content.generate([{"role": "user", "content": "Three questions about space, please."}], JSON_MODE,
                             random.Random(1))
    assert parse_reply(reply).title


def test_the_galilean_moons_get_jupiters_moons_through_the_pool(pool_factory):
    # The report: "The Galilean Moons" got "Stars and Galaxies". Through the real pool and HTTP.
    pool_factory(orgs=1)
    quest = Quest.objects.get(number=3)
    for seed in range(4):
        generated = generate_content(quest=quest, purpose="quest", rng=random.Random(seed))
        assert generated is not None and about(generated.content.as_dict(), 3), generated
