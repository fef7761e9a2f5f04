"""Server time of the game's pages with a big history: 10,000 players and 1,000,000 runs.

    BENCH_DB_NAME=wt_features_bench .venv/bin/python bench/game_pages.py
    BENCH_DB_NAME=wt_features_bench .venv/bin/python bench/game_pages.py --reuse     # keep the data

PostgreSQL only (SQLite is the embedded default, not the many-players database). Fills a fresh
database by COPY: players; runs spread over the five quests and the last 60 days, each player
with about 100 (their dailies among them; today's daily flown by 5,000 players); this week's
leagues; review cards. Then times each page in-process through Django's full request stack
(middleware, view, template; no network, no queueing): `--repeat` requests per page, each as a
different player with a history, and the same pages for a newcomer with none (the baseline:
what a page costs before any history weighs on it).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import configure_environment, create_database, percentile, setup_django  # noqa: E402

QUESTIONS = [
    {"prompt": f"Question {i}?", "options": ["Alpha", "Beta", "Gamma", "Delta"], "answer": i % 4,
     "fact": "A fact of the briefing.", "explanation": "Why."}
    for i in range(3)
]
CONTENTS_PER_QUEST = 2000


def key(*parts) -> str:
    return hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()


def populate(*, players: int, runs: int, rng: random.Random) -> None:
    from django.db import connection
    from django.utils import timezone

    from quests.models import DailyMission, LeagueGroup, LeagueWeek, Player, Quest
    from quests.services.callsigns import callsign_key
    from quests.services.leagues import GROUP_SIZE, week_start

    now = timezone.now()
    today = timezone.localdate()
    quests = list(Quest.objects.order_by("number"))
    started = time.perf_counter()
    Player.objects.bulk_create(
        [Player(callsign=f"Pilot-{i:05d}", callsign_key=callsign_key(f"Pilot-{i:05d}"), xp=rng.randint(0, 4000),
                runs_completed=100, streak_days=rng.randint(0, 20), last_played_on=today - timedelta(days=rng.randint(0, 3)))
         for i in range(players)],
        batch_size=5000,
    )
    player_ids = list(Player.objects.order_by("pk").values_list("pk", flat=True))
    dailies = {}
    for back in range(60):
        day = today - timedelta(days=back)
        quest = quests[day.toordinal() % len(quests)]
        dailies[day] = DailyMission.objects.create(
            day=day, quest=quest, source="archive", title=f"Daily {day}", briefing="A briefing.", questions=QUESTIONS,
            content_key=key("daily", day),
        )
    columns = ("quest_id", "tier", "player_id", "daily_id", "source", "status", "title", "briefing", "questions",
               "archive_ref", "model", "generation_note", "fallback_reason", "created_at", "served_at", "answered_at",
               "answers", "correct_count", "xp_earned", "xp_awarded", "xp_note", "content_key", "streak_at_answer",
               "seconds_taken")
    questions = json.dumps(QUESTIONS)
    per_player = max(1, runs // players)
    daily_days = sorted(dailies)[-30:]
    written = 0
    with connection.cursor() as cursor, cursor.cursor.copy(
        f"COPY quests_questrun ({', '.join(columns)}) FROM STDIN"
    ) as copy:
        for index, player_id in enumerate(player_ids):
            # A third of the players fly every daily of the last 30 days; the rest fly missions.
            flies_dailies = index % 3 == 0
            daily_runs = daily_days if flies_dailies else []
            for j in range(per_player):
                answered = now - timedelta(days=rng.random() * 60)
                correct = rng.choice((0, 1, 2, 3, 3))
                daily = None
                if j < len(daily_runs):
                    daily = dailies[daily_runs[j]]
                    answered = datetime.combine(daily.day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=rng.uniform(0, 23))
                    quest_id, content = daily.quest_id, daily.content_key
                else:
                    quest = quests[j % len(quests)]
                    quest_id, content = quest.pk, key(quest.number, (index * 7 + j) % CONTENTS_PER_QUEST)
                xp = correct * 10 + (20 if correct == 3 else 0)
                taken = rng.randint(20, 200)
                copy.write_row((
                    quest_id, "cadet", player_id, daily.pk if daily else None, "archive", "answered",
                    f"Mission {j} of quest {quest_id}", "", questions, "", "", "", "",
                    answered - timedelta(minutes=4), answered - timedelta(seconds=taken), answered,
                    json.dumps([q["answer"] if k < correct else (q["answer"] + 1) % 4 for k, q in enumerate(QUESTIONS)]),
                    correct, xp, xp, "", content, 1, taken,
                ))
                written += 1
    # This week's leagues: half the players have earned XP this week.
    week, _ = LeagueWeek.objects.get_or_create(starts_on=week_start(now))
    members = player_ids[::2]
    with connection.cursor() as cursor:
        groups = []
        for number, start in enumerate(range(0, len(members), GROUP_SIZE), start=1):
            groups.append(LeagueGroup(week=week, division=1, number=number, size=len(members[start:start + GROUP_SIZE])))
        LeagueGroup.objects.bulk_create(groups)
        group_ids = list(LeagueGroup.objects.filter(week=week).order_by("number").values_list("pk", flat=True))
        with cursor.cursor.copy(
            "COPY quests_leaguemember (group_id, player_id, week_starts_on, division, xp, joined_at, xp_at, outcome) FROM STDIN"
        ) as copy:
            for i, player_id in enumerate(members):
                copy.write_row((group_ids[i // GROUP_SIZE], player_id, week.starts_on, 1, rng.randint(5, 900), now, now, ""))
        # Twenty missed questions per player, a few due today.
        with cursor.cursor.copy(
            "COPY quests_reviewcard (player_id, quest_id, question_key, prompt, options, answer, explanation, fact, box,"
            " due_on, misses, reviews, version, created_at) FROM STDIN"
        ) as copy:
            for player_id in player_ids:
                for c in range(20):
                    copy.write_row((player_id, quests[c % 5].pk, key("card", player_id, c), f"Question {c}?",
                                    json.dumps(["Alpha", "Beta", "Gamma", "Delta"]), c % 4, "Why.", "Fact.",
                                    1 + c % 3, today + timedelta(days=rng.randint(-1, 7)), 1, 0, 0, now))
        cursor.execute("ANALYZE")
    print(f"filled: {len(player_ids)} players, {written} runs, {len(members)} league members, "
          f"{len(player_ids) * 20} review cards in {time.perf_counter() - started:.0f} s", flush=True)


def client_for(player_id: int | None):
    from django.conf import settings
    from django.test import Client

    from quests.services.players import SESSION_KEY

    client = Client(HTTP_HOST="127.0.0.1")
    if player_id is not None:
        session = client.session
        session[SESSION_KEY] = player_id
        session.save()
        client.cookies[settings.SESSION_COOKIE_NAME] = session.session_key
    return client


def measure(pages: list[str], *, player_ids: list[int], repeat: int, rng: random.Random) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {page: [] for page in pages}
    clients = [client_for(pid) for pid in rng.sample(player_ids, min(repeat, len(player_ids)))]
    for page in pages:
        for client in clients[:2]:  # warm-up: templates compiled, connections open
            client.get(page.format(quest=1))
        for i, client in enumerate(clients):
            path = page.format(quest=1 + i % 5)
            started = time.perf_counter()
            response = client.get(path)
            times[page].append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (path, response.status_code)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--players", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--reuse", action="store_true", help="keep the database filled by an earlier run")
    args = parser.parse_args()
    configure_environment("postgres", name=os.environ.get("BENCH_DB_NAME", "cosmosquest_bench_pages"))
    if not args.reuse:
        create_database("postgres")
    setup_django()
    from django.conf import settings

    # No collectstatic here: static URLs without the manifest (what the web unit serves is the same page).
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    rng = random.Random(17)
    from quests.models import Player, QuestRun

    if not args.reuse:
        populate(players=args.players, runs=args.runs, rng=rng)
    players = list(Player.objects.values_list("pk", flat=True))
    print(f"database: {len(players)} players, {QuestRun.objects.count()} runs", flush=True)
    pages = ["/quest/{quest}/", "/daily/", "/", "/leagues/", "/flight-school/", "/profile/", "/leaderboard/"]
    with_history = measure(pages, player_ids=players, repeat=args.repeat, rng=rng)
    newcomers = [Player.objects.create(callsign=f"Newcomer-{i}").pk for i in range(min(50, args.repeat))]
    baseline = measure(pages, player_ids=newcomers, repeat=len(newcomers), rng=rng)
    print(f"\n{'page':<18}{'median':>9}{'p95':>9}   newcomer median   ratio   (ms, {args.repeat} requests)")
    for page in pages:
        mine, base = with_history[page], baseline[page]
        print(f"{page.format(quest='N'):<18}{statistics.median(mine):>9.1f}{percentile(mine, 0.95):>9.1f}"
              f"{statistics.median(base):>18.1f}{statistics.median(mine) / statistics.median(base):>8.2f}")


if __name__ == "__main__":
    main()
