"""How varied the Groq stand-in's missions are: per quest and tier, how many missions it writes in
a row before the first repeat of content (the same questions with the same right answers, the
game's `content_key`), each one parsed and validated by the game for its tier.

    .venv/bin/python bench/stub_variety.py              # up to 300 missions per quest and tier
    .venv/bin/python bench/stub_variety.py --max 50 --seed 3

The prompts are the game's own (`build_messages` for the seeded quests and tiers, a topic drawn
per mission), sent to one stand-in writer as `make demo` does; no database or network is used.
"""

from __future__ import annotations

import argparse
import importlib
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import configure_environment, setup_django  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max", type=int, default=300, help="most missions to write per quest and tier")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    configure_environment("sqlite", name="cosmosquest_stub_variety")
    setup_django()

    from keymanager.testing.groqstub import content
    from quests.models import Quest, QuestTier, Tier
    from quests.services.content import content_fields
    from quests.services.generation import TIER_DEFAULTS, build_messages
    from quests.services.schema import InvalidRun, parse_reply

    seeds = importlib.import_module("quests.migrations.0002_seed_quests").QUESTS
    print(f"{'quest':<20} {'tier':<10} {'in a row before a repeat':>26} {'invalid':>8}")
    for data in seeds:
        quest = Quest(**{k: v for k, v in data.items() if k not in ("temperature", "max_tokens")})
        for tier in Tier.values:
            config = QuestTier(quest=quest, tier=tier, **TIER_DEFAULTS[Tier(tier)])
            writer, rng, topics = content.new_writer(), random.Random(args.seed), random.Random(args.seed)
            seen: set[str] = set()
            invalid = 0
            for _ in range(args.max):
                messages = build_messages(quest=quest, topic=topics.choice(quest.topic_list()), config=config)
                try:
                    run = parse_reply(content.generate(messages, {"type": "json_object"}, rng, writer), tier=tier)
                except InvalidRun:
                    invalid += 1
                    continue
                key = content_fields(run)["content_key"]
                if key in seen:
                    break
                seen.add(key)
            streak = f"{len(seen)}" if len(seen) < args.max else f">= {args.max}"
            print(f"{quest.title:<20} {tier:<10} {streak:>26} {invalid:>8}")


if __name__ == "__main__":
    main()
