"""Checking the curated archive for the people who write it: every problem at once, each named
by its file and ref, under the same schema and tier rules as the LLM's replies.

The game itself loads the archive with `archive.library()`, which stops at the first invalid
entry; this audit keeps going so one run of `manage.py quests archive-check` lists everything.
"""

from __future__ import annotations

import json
from collections import Counter

from quests.models import Tier
from quests.services import archive
from quests.services.archive import MIN_RUNS, archive_entries, archive_shortfall, library
from quests.services.schema import InvalidRun, validate_content


def archive_problems() -> list[str]:
    """Every invalid entry, reused ref and missing run, as one line each; empty when all is well."""
    problems: list[str] = []
    seen: dict[str, str] = {}
    for path in sorted(archive.LIBRARY_DIR.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            runs = data["runs"]
            int(data["quest"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            problems.append(f"{path.name}: not a quest file ({exc.__class__.__name__}: {exc})")
            continue
        for index, raw in enumerate(runs, start=1):
            ref = raw.get("ref") if isinstance(raw, dict) else None
            name = f"{path.name} {ref or f'run {index}'}"
            try:
                validate_content(raw, tier=Tier(raw.get("tier", Tier.CADET)))
            except (InvalidRun, ValueError, AttributeError) as exc:
                problems.append(f"{name}: {exc}")
            if not ref:
                problems.append(f"{name}: missing ref")
            elif ref in seen:
                problems.append(f"{name}: ref already used in {seen[ref]}")
            else:
                seen[ref] = path.name
    if not problems:
        for (number, tier), held in sorted(archive_shortfall().items()):
            problems.append(f"quest {number} {tier}: {held} run(s), {MIN_RUNS[Tier(tier)]} needed")
    return problems


def archive_summary() -> str:
    """One line: how many runs the (valid) archive holds, per tier."""
    lib = library()
    per_tier = Counter(entry.tier for entries in lib.values() for entry in entries)
    tiers = ", ".join(f"{per_tier[tier]} {tier}" for tier in Tier.values)
    counts = {len(archive_entries(quest_number=n, tier=t)) for n in lib for t in Tier.values}
    each = f"; {counts.pop()} per quest and tier" if len(counts) == 1 else ""
    return f"{sum(per_tier.values())} runs for quests {sorted(lib)} ({tiers}{each})"
