"""Load benchmark of the game's pages: gunicorn + locust, 50 concurrent players.

    .venv/bin/python bench/game_load.py                      # SQLite
    .venv/bin/python bench/game_load.py --database postgres://postgres@127.0.0.1:5432/cosmosquest_game_bench

Sets up a fresh database, fills every quest's buffer, starts gunicorn with DEBUG off and no
keys in the pool (so an empty buffer falls back to the archive, never the network), runs
locust headless and prints, per page, server time p50/p99 (gunicorn's own measure, without
queueing), client latency p50/p99 (locust, with queueing) and error counts. Needs `pip install -r bench/requirements.txt`.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
BIN = Path(PY).parent


def environment(database: str | None, workdir: Path) -> dict[str, str]:
    from cryptography.fernet import Fernet

    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": "bench-secret-key-" + "x" * 40,
        "KEY_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SESSION_COOKIE_SECURE": "false",
        "CSRF_COOKIE_SECURE": "false",
        "LOG_LEVEL": "WARNING",
        "DATABASE_URL": database or f"sqlite:///{workdir / 'bench.sqlite3'}",
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "cosmosquest.settings",
    }
    for name in [n for n in env if n.startswith(("GROQ_API_KEY", "OPENAI_API_KEY"))]:
        env.pop(name)
    return env


def prepare(env: dict[str, str], *, runs_per_quest: int) -> None:
    database = env["DATABASE_URL"]
    if database.startswith("postgres"):
        base, name = database.rsplit("/", 1)
        subprocess.run(["psql", f"{base}/postgres", "-qc", f"DROP DATABASE IF EXISTS {name}"], check=True)
        subprocess.run(["psql", f"{base}/postgres", "-qc", f"CREATE DATABASE {name}"], check=True)
    manage = [PY, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], env=env, check=True)
    subprocess.run([*manage, "createcachetable"], env=env, check=True)
    subprocess.run([*manage, "collectstatic", "--noinput", "-v0"], env=env, check=True)
    fill = (
        "from quests.models import Quest, QuestRun, RunSource, RunStatus\n"
        "from quests.services.archive import library, shuffled_questions\n"
        "QuestRun.objects.all().delete()\n"
        "rows = []\n"
        "for quest in Quest.objects.all():\n"
        "    entries = library()[quest.number]\n"
        f"    for i in range({runs_per_quest}):\n"
        "        e = entries[i % len(entries)]\n"
        "        rows.append(QuestRun(quest=quest, source=RunSource.BUFFER, status=RunStatus.READY, title=e.content.title,\n"
        "                             briefing=e.content.briefing, questions=shuffled_questions(e.content)))\n"
        "QuestRun.objects.bulk_create(rows, batch_size=500)\n"
        "print(len(rows), 'buffered runs')\n"
    )
    subprocess.run([*manage, "shell", "-c", fill], env=env, check=True)


def serve(env: dict[str, str], *, port: int, workers: int, threads: int, access_log: Path) -> subprocess.Popen:
    # The access log records each request's server time (%(D)s, microseconds): the time a
    # worker spent on it, without the time it queued behind other requests.
    server = subprocess.Popen(
        [str(BIN / "gunicorn"), "cosmosquest.wsgi", "-b", f"127.0.0.1:{port}", "-w", str(workers),
         "--threads", str(threads), "--log-level", "warning", "--access-logfile", str(access_log),
         "--access-logformat", "%(m)s %(U)s %(s)s %(D)s"],
        env={**env, "QUESTS_REFILL_ON_SERVE": "false"},
        cwd=ROOT,
    )
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
            return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit("gunicorn did not start")


PAGES = [
    ("star map", re.compile(r"^GET /$")),
    ("quest page", re.compile(r"^GET /quest/\d+/$")),
    ("launch", re.compile(r"^POST /quest/\d+/launch$")),
    ("mission page", re.compile(r"^GET /run/\d+/$")),
    ("status (JSON)", re.compile(r"^GET /run/\d+/status$")),
    ("answer", re.compile(r"^POST /run/\d+/answer$")),
    ("leaderboard", re.compile(r"^GET /leaderboard/$")),
]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def report(prefix: Path, access_log: Path) -> None:
    with open(f"{prefix}_stats.csv", newline="") as handle:
        client = {row["Name"]: row for row in csv.DictReader(handle)}
    server: dict[str, list[float]] = {}
    errors: dict[str, int] = {}
    for line in access_log.read_text().splitlines():
        method, path, status, micros = line.split()
        name = next((n for n, rx in PAGES if rx.match(f"{method} {path}")), None)
        if name:
            server.setdefault(name, []).append(int(micros) / 1000)
            errors[name] = errors.get(name, 0) + (int(status) >= 500)
    print(f"{'page':<20}{'requests':>9}{'errors':>8}{'server p50':>11}{'server p99':>11}{'client p50':>11}{'client p99':>11}")
    for name, _ in PAGES:
        times = server.get(name)
        if not times:
            continue
        row = client.get(name, {})
        print(
            f"{name:<20}{len(times):>9}{errors[name] + int(row.get('Failure Count', 0)):>8}"
            f"{percentile(times, 50):>9.1f}ms{percentile(times, 99):>9.1f}ms"
            f"{row.get('50%', '-'):>9}ms{row.get('99%', '-'):>9}ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", help="DATABASE_URL; default a fresh SQLite file")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--duration", default="30s")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--runs-per-quest", type=int, default=400, help="buffered runs per quest before the load")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        env = environment(args.database, workdir)
        prepare(env, runs_per_quest=args.runs_per_quest)
        access_log = workdir / "access.log"
        server = serve(env, port=args.port, workers=args.workers, threads=args.threads, access_log=access_log)
        try:
            prefix = workdir / "locust"
            subprocess.run(
                [str(BIN / "locust"), "-f", str(ROOT / "bench" / "locustfile.py"), "--headless",
                 "-u", str(args.users), "-r", str(args.users), "-t", args.duration,
                 "--host", f"http://127.0.0.1:{args.port}", "--csv", str(prefix), "--only-summary",
                 "--loglevel", "WARNING"],
                check=False,
                env=env,
            )
            engine = "PostgreSQL" if env["DATABASE_URL"].startswith("postgres") else "SQLite"
            print(f"\n{engine}, {args.users} players, {args.duration}, gunicorn {args.workers}x{args.threads}:")
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(10)
        report(prefix, access_log)


if __name__ == "__main__":
    main()
