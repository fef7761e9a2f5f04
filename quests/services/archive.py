"""The curated fallback library: hand-checked runs shipped as JSON in `quests/fallback/`.

Served as an "archive transmission" when the key pool is exhausted or the model's output
stays invalid, so a player always gets a mission.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from quests.models import Tier
from quests.services.content import shuffled_questions  # noqa: F401  (kept importable from here)
from quests.services.schema import RunContent, validate_content

LIBRARY_DIR = Path(__file__).resolve().parent.parent / "fallback"
# Runs the library must hold for every quest, per tier (checked by `manage.py quests archive-check`).
MIN_RUNS = {Tier.CADET: 10, Tier.OFFICER: 10, Tier.COMMANDER: 10}


@dataclass(frozen=True)
class ArchiveEntry:
    ref: str
    quest_number: int
    tier: str
    content: RunContent


@cache
def library() -> dict[int, tuple[ArchiveEntry, ...]]:
    """Every archive entry by quest number (all tiers), validated like LLM output."""
    entries: dict[int, list[ArchiveEntry]] = {}
    refs: set[str] = set()
    for path in sorted(LIBRARY_DIR.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        number = int(data["quest"])
        for raw in data["runs"]:
            tier = Tier(raw.get("tier", Tier.CADET))
            content = validate_content(raw, tier=tier)
            if raw["ref"] in refs:
                raise ValueError(f"{path.name}: archive ref {raw['ref']} is used twice")
            refs.add(raw["ref"])
            entries.setdefault(number, []).append(
                ArchiveEntry(ref=raw["ref"], quest_number=number, tier=tier, content=content)
            )
    return {number: tuple(items) for number, items in entries.items()}


def archive_entries(*, quest_number: int, tier: str = Tier.CADET) -> list[ArchiveEntry]:
    return [e for e in library().get(quest_number, ()) if e.tier == tier]


def archive_shortfall() -> dict[tuple[int, str], int]:
    """(quest number, tier) -> runs held, for every pair below MIN_RUNS."""
    short = {}
    for number in range(1, 6):
        for tier, wanted in MIN_RUNS.items():
            held = len(archive_entries(quest_number=number, tier=tier))
            if held < wanted:
                short[(number, str(tier))] = held
    return short

