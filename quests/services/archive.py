"""The curated fallback library: hand-checked runs shipped as JSON in `quests/fallback/`.

Served as an "archive transmission" when the key pool is exhausted or the model's output
stays invalid, so a player always gets a mission.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from quests.services.schema import RunContent, validate_content

LIBRARY_DIR = Path(__file__).resolve().parent.parent / "fallback"


@dataclass(frozen=True)
class ArchiveEntry:
    ref: str
    quest_number: int
    content: RunContent


@cache
def library() -> dict[int, tuple[ArchiveEntry, ...]]:
    """Every archive entry by quest number, validated against the same schema as LLM output."""
    entries: dict[int, list[ArchiveEntry]] = {}
    for path in sorted(LIBRARY_DIR.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        number = int(data["quest"])
        for raw in data["runs"]:
            content = validate_content(raw)
            entries.setdefault(number, []).append(ArchiveEntry(ref=raw["ref"], quest_number=number, content=content))
    return {number: tuple(items) for number, items in entries.items()}


def archive_pick(*, quest_number: int, seen_refs: set[str], rng: random.Random | None = None) -> ArchiveEntry:
    """An entry of this quest the player has not seen yet; when all are seen, any entry."""
    rng = rng or random.Random()
    entries = library().get(quest_number)
    if not entries:
        raise LookupError(f"The archive has no runs for quest {quest_number}.")
    fresh = [e for e in entries if e.ref not in seen_refs]
    return rng.choice(fresh or list(entries))


def shuffled_questions(content: RunContent, *, rng: random.Random | None = None) -> list[dict]:
    """The questions with options in a new order, so a replayed archive run is not a memory test."""
    rng = rng or random.Random()
    questions = []
    for q in content.questions:
        order = list(range(len(q["options"])))
        rng.shuffle(order)
        questions.append(
            {
                "prompt": q["prompt"],
                "options": [q["options"][i] for i in order],
                "answer": order.index(q["answer"]),
                "explanation": q["explanation"],
            }
        )
    return questions
