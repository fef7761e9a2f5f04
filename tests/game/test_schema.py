"""The quest-run schema and the curated archive library."""

from __future__ import annotations

import copy
import json
import random

import pytest

from quests.models import Tier
from quests.services.archive import MIN_RUNS, archive_entries, library, shuffled_questions
from quests.services.novelty import archive_choose, entry_key
from quests.services.schema import InvalidRun, parse_reply, validate_content
from tests.quests_fixtures import archive_content

GOOD = archive_content(2, 3)


def mutated(path: list, value) -> dict:
    data = copy.deepcopy(GOOD)
    target = data
    for step in path[:-1]:
        target = target[step]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


def test_it_accepts_a_well_formed_run_and_normalises_whitespace():
    data = mutated(["title"], "  Red   Dust \n")
    content = validate_content(data)
    assert content.title == "Red Dust"
    assert len(content.questions) == 3


@pytest.mark.parametrize(
    ("path", "value", "reason"),
    [
        (["title"], KeyError, "missing title"),
        (["title"], 42, "expected a string"),
        (["title"], "x", "length"),
        (["briefing"], "Too short.", "length"),
        (["briefing"], "x" * 2500, "length"),
        (["briefing"], "One long sentence that goes on " + "and on " * 60 + "without a stop.", "paragraph"),
        (["questions", 1, "fact"], KeyError, "missing fact"),
        (["questions", 1, "fact"], "A sentence that appears nowhere in the briefing at all.", "word for word"),
        (["questions"], [], "exactly 3"),
        (["questions", 0], "a string", "expected an object"),
        (["questions", 1, "options"], ["a", "b", "c"], "exactly 4 options"),
        (["questions", 1, "options"], ["Same", "same", "Other", "Else"], "not distinct"),
        (["questions", 1, "options"], ["a", "b", "c", 4], "expected a string"),
        (["questions", 2, "answer"], 4, "answer must be"),
        (["questions", 2, "answer"], -1, "answer must be"),
        (["questions", 2, "answer"], "1", "answer must be"),
        (["questions", 2, "answer"], True, "answer must be"),
        (["questions", 2, "answer"], 1.0, "answer must be"),
        (["questions", 0, "explanation"], KeyError, "missing explanation"),
        (["questions", 0, "prompt"], "", "length"),
    ],
)
def test_it_rejects_malformed_runs(path, value, reason):
    with pytest.raises(InvalidRun, match=reason):
        validate_content(mutated(path, value))


def test_each_question_needs_its_own_fact_that_names_the_answer():
    data = copy.deepcopy(GOOD)
    data["questions"][1]["fact"] = data["questions"][0]["fact"]
    with pytest.raises(InvalidRun, match="its own fact"):
        validate_content(data)
    # A sentence of the briefing, but not the one that gives this answer.
    data = copy.deepcopy(GOOD)
    q = data["questions"][0]
    q["options"][q["answer"]] = "Proctor"  # a crater name the fact does not give
    with pytest.raises(InvalidRun, match="does not name the right answer"):
        validate_content(data)


def test_a_fact_is_found_whatever_its_case_spacing_or_quotes():
    data = copy.deepcopy(GOOD)
    data["questions"][0]["fact"] = '"  ' + data["questions"][0]["fact"].upper().replace(" ", "   ") + ' "'
    assert validate_content(data).questions[0]["fact"]


def test_it_rejects_repeated_questions():
    data = copy.deepcopy(GOOD)
    data["questions"][1]["prompt"] = data["questions"][0]["prompt"].upper()
    with pytest.raises(InvalidRun, match="repeats"):
        validate_content(data)


@pytest.mark.parametrize("text", ["", "not json", "[1, 2, 3]", '{"reply": "hello"}', "{" * 5000])
def test_parse_reply_rejects_non_run_json(text):
    with pytest.raises(InvalidRun):
        parse_reply(text)


def test_parse_reply_accepts_json_in_a_code_fence():
    assert parse_reply("```json\n" + json.dumps(GOOD) + "\n```").title == GOOD["title"]


def test_the_archive_covers_every_tier_of_every_quest():
    lib = library()
    assert sorted(lib) == [1, 2, 3, 4, 5]
    refs = set()
    for number, entries in lib.items():
        for tier, wanted in MIN_RUNS.items():
            assert len(archive_entries(quest_number=number, tier=tier)) >= wanted, (number, tier)
        prompts = [q["prompt"] for e in entries for q in e.content.questions]
        assert len(prompts) == len(set(prompts)), f"quest {number} repeats a question"
        for entry in entries:
            assert entry.ref not in refs
            refs.add(entry.ref)


def test_the_archive_choice_prefers_runs_the_player_has_not_flown():
    entries = archive_entries(quest_number=1)
    flown = {entry_key(e) for e in entries[:-1]}
    assert archive_choose(player_id=None, quest_number=1, tier=Tier.CADET, flown=flown)[0].ref == entries[-1].ref
    # All flown: an entry all the same (practice), never an error.
    entry, new = archive_choose(player_id=None, quest_number=1, tier=Tier.CADET, flown={entry_key(e) for e in entries})
    assert entry.quest_number == 1 and not new
    # Each tier picks from its own shelf.
    assert archive_choose(player_id=None, quest_number=1, tier=Tier.COMMANDER, flown=set())[0].tier == Tier.COMMANDER


def test_shuffled_questions_keep_the_right_answer():
    entry = library()[4][0]
    for seed in range(20):
        shuffled = shuffled_questions(entry.content, rng=random.Random(seed))
        for original, new in zip(entry.content.questions, shuffled, strict=True):
            assert new["options"][new["answer"]] == original["options"][original["answer"]]
            assert sorted(new["options"]) == sorted(original["options"])
