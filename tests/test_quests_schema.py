"""The quest-run schema and the curated archive library."""

from __future__ import annotations

import copy
import json
import random

import pytest

from quests.services.archive import archive_pick, library, shuffled_questions
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
        (["briefing"], "x" * 1600, "length"),
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


def test_the_archive_has_at_least_ten_valid_runs_per_quest():
    lib = library()
    assert sorted(lib) == [1, 2, 3, 4, 5]
    refs = set()
    for number, entries in lib.items():
        assert len(entries) >= 10, number
        prompts = [q["prompt"] for e in entries for q in e.content.questions]
        assert len(prompts) == len(set(prompts)), f"quest {number} repeats a question"
        for entry in entries:
            assert entry.ref not in refs
            refs.add(entry.ref)


def test_archive_pick_prefers_runs_the_player_has_not_seen():
    entries = library()[1]
    seen = {e.ref for e in entries[:-1]}
    assert archive_pick(quest_number=1, seen_refs=seen).ref == entries[-1].ref
    # All seen: any entry, never an error.
    assert archive_pick(quest_number=1, seen_refs={e.ref for e in entries}).quest_number == 1


def test_shuffled_questions_keep_the_right_answer():
    entry = library()[4][0]
    for seed in range(20):
        shuffled = shuffled_questions(entry.content, rng=random.Random(seed))
        for original, new in zip(entry.content.questions, shuffled, strict=True):
            assert new["options"][new["answer"]] == original["options"][original["answer"]]
            assert sorted(new["options"]) == sorted(original["options"])
