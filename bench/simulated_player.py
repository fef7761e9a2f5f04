"""A simulated player against the Groq stand-in and against the archive alone: how often does
the game hand out a mission's content the player has already flown?

    .venv/bin/python bench/simulated_player.py                  # SQLite
    BENCH_DB_NAME=wt_features_bench .venv/bin/python bench/simulated_player.py --db postgres

Each mode runs on a fresh database with one signed-in player who flies `--missions` cadet
missions on one quest and `--dailies` daily missions, through the game's services as the pages
and the django-q2 cluster do (quests.testing.simulated_player). Reported per mode: repeats, and
repeats while content the player had not flown was available to that hand-out (the archive or
the buffer; for a daily, the day's mission or its quest's archive), which must be 0.

- `stand-in`: keys in the pool, the stand-in's own unscripted writing (its mission library);
  the daily missions are written ahead as the `quests.prepare_daily` schedule does.
- `archive`: no keys at all; everything comes from the curated archive.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import configure_environment, create_database, setup_django  # noqa: E402

MODEL = "openai/gpt-oss-20b"
ROOMY = {"rpm": 10_000, "rpd": 1_000_000, "tpm": 10**8, "tpd": 10**9}


def run_mode(mode: str, *, db: str, missions: int, dailies: int, quest_number: int) -> dict:
    from django.contrib.auth.models import User
    from django.db import connections
    from django.utils import timezone

    from keymanager.models import Limit, Provider
    from keymanager.services.keys import key_add
    from keymanager.services.providers import forget_clients
    from keymanager.testing.groqstub import GroqStub, make_key
    from quests.models import Player, Quest
    from quests.services.daily import daily_prepare
    from quests.testing.simulated_player import SimulatedPlayer

    connections.close_all()
    create_database(db)
    stub = None
    if mode == "stand-in":
        keys = [make_key() for _ in range(2)]
        stub = GroqStub(orgs={f"org_{i}": {"keys": [k], "limits": {MODEL: ROOMY}} for i, k in enumerate(keys)}).start()
        from django.conf import settings

        settings.GROQ_BASE_URL = stub.url
        forget_clients()
        for i, key in enumerate(keys):
            key_add(provider=Provider.GROQ, name=f"groq-{i}", secret=key, organization=f"org_{i}", order=i)
            Limit.objects.update_or_create(provider=Provider.GROQ, organization=f"org_{i}", model=MODEL, defaults=ROOMY)
    started = time.perf_counter()
    try:
        user = User.objects.create_user(f"sim-{mode}", password="simulated-player-1")
        # An established account: a new one starts with a small live quota that grows with play.
        User.objects.filter(pk=user.pk).update(date_joined=timezone.now() - timedelta(days=30))
        sim = SimulatedPlayer(Player.objects.create(user=user, callsign=f"Sim {mode}"))
        quest = Quest.objects.get(number=quest_number)
        for _ in range(missions):
            sim.fly_mission(quest)
        today = timezone.localdate()
        for offset in range(dailies):
            day = today + timedelta(days=offset)
            if stub is not None:
                daily_prepare(day=day)  # the hourly schedule writes each day ahead
            sim.fly_daily(day)
    finally:
        if stub is not None:
            stub.stop()
    log = sim.log
    result = {"mode": mode, "seconds": round(time.perf_counter() - started, 1)}
    for kind in ("mission", "daily"):
        flights = log.of(kind)
        result[kind] = {
            "flown": len(flights),
            "distinct": log.distinct(kind),
            "repeats": log.repeats(kind),
            "repeats_while_unflown_existed": log.violations(kind),
            "first_repeat": log.first_repeat(kind),
            "sources": {s: sum(str(f.source) == s for f in flights) for s in sorted({str(f.source) for f in flights})},
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--missions", type=int, default=30)
    parser.add_argument("--dailies", type=int, default=14)
    parser.add_argument("--quest", type=int, default=1)
    parser.add_argument("--mode", choices=["stand-in", "archive", "both"], default="both")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    configure_environment(
        args.db,
        name=os.environ.get("BENCH_DB_NAME", "cosmosquest_bench_player"),
        QUESTS_REFILL_ON_SERVE="false",
        QUESTS_LIVE_RATE_PLAYER="10000/h",
        QUESTS_LIVE_MAX_IN_FLIGHT="1000",
    )
    setup_django()
    from django.conf import settings

    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": True}
    modes = ["stand-in", "archive"] if args.mode == "both" else [args.mode]
    results = [run_mode(m, db=args.db, missions=args.missions, dailies=args.dailies, quest_number=args.quest)
               for m in modes]
    print(f"{'mode':<10}{'kind':<9}{'flown':>6}{'distinct':>9}{'repeats':>8}{'violations':>11}{'first repeat':>13}  sources")
    for r in results:
        for kind in ("mission", "daily"):
            k = r[kind]
            print(f"{r['mode']:<10}{kind:<9}{k['flown']:>6}{k['distinct']:>9}{k['repeats']:>8}"
                  f"{k['repeats_while_unflown_existed']:>11}{str(k['first_repeat'] or '-'):>13}  {k['sources']}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
