"""Helpers and fixtures for the game's tests (imported by tests/test_quests_*.py and test_game_*.py)."""

from __future__ import annotations

import json

import pytest

from quests.models import Player, Quest, QuestRun, RunSource, RunStatus
from quests.services.archive import library
from quests.services.xp import content_key


def archive_content(quest_number: int = 1, index: int = 0) -> dict:
    return library()[quest_number][index].content.as_dict()


def archive_raw(ref: str) -> dict:
    """An archive run exactly as its JSON file holds it (before validation normalises it)."""
    import copy
    import json

    from quests.services.archive import LIBRARY_DIR

    for path in sorted(LIBRARY_DIR.glob("*.json")):
        for run in json.loads(path.read_text(encoding="utf-8"))["runs"]:
            if run["ref"] == ref:
                return copy.deepcopy(run)
    raise LookupError(ref)


def mission_reply(quest_number: int = 1, n: int = 0, *, index: int = 0) -> dict:
    """A reply for the Groq stand-in to send (GroqStub.enqueue): a valid mission whose content
    is its own for each `n` (an archive mission with numbered questions)."""
    content = archive_content(quest_number, index)
    content = {
        **content,
        "title": f"{content['title']} ({n})",
        "questions": [{**q, "prompt": f"{q['prompt']} (log {n})"} for q in content["questions"]],
    }
    return {"content": json.dumps(content)}


def make_run(
    *,
    quest_number: int = 1,
    player: Player | None = None,
    source: str = RunSource.BUFFER,
    status: str = RunStatus.READY,
    index: int = 0,
) -> QuestRun:
    content = archive_content(quest_number, index)
    return QuestRun.objects.create(
        quest=Quest.objects.get(number=quest_number),
        player=player,
        source=source,
        status=status,
        title=content["title"],
        briefing=content["briefing"],
        questions=content["questions"],
        content_key=content_key(content["questions"]),
    )


def right_answers(run: QuestRun) -> dict[str, str]:
    return {f"q{i}": str(q["answer"]) for i, q in enumerate(run.questions, start=1)}


def wrong_answers(run: QuestRun) -> dict[str, str]:
    return {f"q{i}": str((q["answer"] + 1) % 4) for i, q in enumerate(run.questions, start=1)}


def signup_form(username: str, password: str = "orbit-velocity-42", password2: str | None = None) -> dict:
    """What a person's browser sends from the sign-up page: the token of a page shown a minute
    ago (services.signup's time check) and the hidden field left empty."""
    import time

    from quests.services.signup import challenge_token

    return {"username": username, "password1": password, "password2": password if password2 is None else password2,
            "form_token": challenge_token(now=time.time() - 60), "flight_plan": ""}


def session_player(client) -> Player:
    return Player.objects.get(pk=client.session["quests_player_id"])


@pytest.fixture
def game_settings(settings):
    """No background refills unless a test asks: keeps request paths free of LLM calls."""
    settings.QUESTS = {"refill_on_serve": False}
    return settings


def seed_quests() -> None:
    """Re-create the five quests and their tiers of the data migrations (transactional tests
    flush them)."""
    import importlib

    from quests.models import QuestTier

    seed = importlib.import_module("quests.migrations.0002_seed_quests")
    tiers = importlib.import_module("quests.migrations.0004_fill_tiers_keys_fair_xp")
    guidance = importlib.import_module("quests.migrations.0007_content_tier_guidance").GUIDANCE
    gone = {"model", "temperature", "max_tokens"}  # moved to the tiers in 0003-0005
    for data in seed.QUESTS:
        quest, _ = Quest.objects.get_or_create(
            number=data["number"], defaults={k: v for k, v in data.items() if k not in gone}
        )
        cadet = {"model": "", "temperature": data["temperature"], "max_tokens": 1800}
        for tier, values in [("cadet", cadet), *tiers.HIGHER.items()]:
            QuestTier.objects.get_or_create(quest=quest, tier=tier, defaults={**values, "guidance": guidance[tier]})


@pytest.fixture
def seeded(db):
    seed_quests()
