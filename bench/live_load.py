"""Live missions under load: do other pages wait on the LLM? (issue 12)

    .venv/bin/python bench/live_load.py                         # ORM broker
    .venv/bin/python bench/live_load.py --broker redis          # Redis broker (REDIS_URL)
    .venv/bin/python bench/live_load.py --no-js                 # players follow the meta refresh

A production-like instance: gunicorn with `deploy/gunicorn.conf.py` (2 workers x 4 threads),
the django-q2 cluster beside it, PostgreSQL, the Groq stand-in in its own process with 4
organizations, free-tier limits and 2 s per completion, the prefetch buffer off. 16 signed-in
players launch missions continuously for 60 s (launch, wait for the mission as a browser does,
answer, launch again) while another client loads `/leaderboard/` every 0.2 s.

A player waits the way a browser does: with JavaScript (the default), polling the progress
page's status URL at the interval the page names; without (`--no-js`, and every page that has
no status URL, such as the code before issue 12), following the page's meta refresh. Times are
the clients' own (queueing in gunicorn included). Prints: other pages' p50 / p99 / worst, live
missions against what the stand-in admitted and against the pool's capacity for the run, and
the time from launch to questions of live missions.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, configure_environment, create_database, percentile  # noqa: E402

DB_NAME = "cosmosquest_async_live"
PY = sys.executable
BIN = Path(PY).parent
PASSWORD = "bench-orbit-velocity-42"
META_REFRESH = re.compile(r'<meta http-equiv="refresh" content="(\d+)(?:;\s*url=([^"]+))?"')
STATUS_URL = re.compile(r'data-status-url="([^"]+)"')
POLL_MS = re.compile(r'data-poll-ms="(\d+)"')
RUN_URL = re.compile(r"/run/(\d+)/")
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@dataclass
class Timings:
    lock: threading.Lock = field(default_factory=threading.Lock)
    pages: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    to_questions: dict[int, float] = field(default_factory=dict)  # run id -> seconds from launch
    delivered_at: dict[int, float] = field(default_factory=dict)  # run id -> seconds into the run

    slowest: list[tuple[float, float, str]] = field(default_factory=list)  # (seconds, at, page)
    started: float = field(default_factory=time.perf_counter)

    def add(self, name: str, seconds: float, ok: bool = True) -> None:
        with self.lock:
            self.pages.setdefault(name, []).append(seconds)
            self.slowest.append((seconds, time.perf_counter() - seconds - self.started, name))
            if not ok:
                self.errors[name] = self.errors.get(name, 0) + 1


def timed(timings: Timings, name: str, call, *args, **kwargs) -> httpx.Response:
    started = time.perf_counter()
    try:
        response = call(*args, **kwargs)
    except httpx.HTTPError:
        timings.add(name, time.perf_counter() - started, ok=False)
        raise
    timings.add(name, time.perf_counter() - started, ok=response.status_code < 500)
    return response


def log_in(n: int, base: str, address: str) -> httpx.Client:
    """A signed-in player's browser, before the clock starts (password hashing is slow by design)."""
    # Each player comes from its own address, as real players do (the proxy's X-Forwarded-For).
    client = httpx.Client(base_url=base, timeout=60, headers={"X-Forwarded-For": address})
    page = client.get("/accounts/login/")
    token = CSRF.search(page.text).group(1)
    response = client.post("/accounts/login/", data={"username": f"pilot{n}", "password": PASSWORD,
                                                     "csrfmiddlewaretoken": token})
    if response.status_code != 302:
        raise SystemExit(f"pilot{n} could not log in: {response.status_code}")
    return client


def player(n: int, client: httpx.Client, stop_at: float, timings: Timings, js: bool) -> None:
    try:
        rng = random.Random(n)
        while time.monotonic() < stop_at:
            number = rng.randint(1, 5)
            page = timed(timings, "quest page", client.get, f"/quest/{number}/")
            match = CSRF.search(page.text)
            if match is None:  # an open mission from before: continue it
                run_match = re.search(r'href="(/run/\d+/)"', page.text)
                if run_match is None:
                    time.sleep(0.2)
                    continue
                location = run_match.group(1)
                launched = time.perf_counter()
            else:
                launched = time.perf_counter()
                response = timed(timings, "launch", client.post, f"/quest/{number}/launch",
                                 data={"csrfmiddlewaretoken": match.group(1)})
                location = response.headers.get("location", "")
            run = RUN_URL.search(location)
            if run is None:
                time.sleep(0.2)
                continue
            run_id = int(run.group(1))
            page = timed(timings, "mission page", client.get, f"/run/{run_id}/")
            waited = time.perf_counter()
            while "Your challenge" not in page.text and time.perf_counter() - waited < 60:
                status_url = STATUS_URL.search(page.text)
                refresh = META_REFRESH.search(page.text)
                if js and status_url:
                    time.sleep(int(POLL_MS.search(page.text).group(1)) / 1000)
                    state = timed(timings, "status (JSON)", client.get, status_url.group(1)).json()
                    if state.get("state") != "writing":
                        page = timed(timings, "mission page", client.get, state["url"])
                elif refresh:
                    time.sleep(int(refresh.group(1)))
                    target = refresh.group(2) or f"/run/{run_id}/"
                    # Before issue 12 the refresh went to /transmit, which wrote the mission inside the request.
                    name = "transmit (LLM in request)" if target.endswith("/transmit") else "mission page"
                    page = timed(timings, name, client.get, target, follow_redirects=True)
                else:
                    break
            if "Your challenge" not in page.text:
                continue
            with timings.lock:
                timings.to_questions[run_id] = time.perf_counter() - launched
                timings.delivered_at[run_id] = time.perf_counter() - timings.started
            token = CSRF.search(page.text).group(1)
            answers = {f"q{i}": str(rng.randint(0, 3)) for i in (1, 2, 3)}
            response = timed(timings, "answer", client.post, f"/run/{run_id}/answer",
                             data={**answers, "csrfmiddlewaretoken": token})
            if response.status_code == 302:
                timed(timings, "result page", client.get, response.headers["location"])
    finally:
        client.close()


def leaderboard(base: str, stop_at: float, timings: Timings, every: float) -> None:
    with httpx.Client(base_url=base, timeout=60) as client:
        next_at = time.monotonic()
        while next_at < stop_at:
            time.sleep(max(0.0, next_at - time.monotonic()))
            try:
                timed(timings, "leaderboard", client.get, "/leaderboard/")
            except httpx.HTTPError:
                pass
            next_at += every


def start(cmd: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def wait_http(url: str, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit(f"{what} did not start")


def manage(*args: str, env: dict | None = None, capture: bool = False) -> str:
    done = subprocess.run([PY, str(ROOT / "manage.py"), *args], env=env or os.environ.copy(), cwd=ROOT,
                          check=True, capture_output=capture, text=True)
    return done.stdout if capture else ""


REPORT_SQL = """
import json
from django.db.models import Avg, Count
from keymanager.models import UsageLog
from quests.models import QuestRun, QuestTier
print(json.dumps({
    "sources": dict(QuestRun.objects.filter(player__isnull=False).values_list("source").annotate(n=Count("id"))),
    "runs": {r.pk: r.source for r in QuestRun.objects.filter(player__isnull=False).only("source")},
    "buffered": QuestRun.objects.filter(player__isnull=True).count(),
    "calls": UsageLog.objects.filter(outcome="success").aggregate(
        n=Count("id"), prompt=Avg("prompt_tokens"), completion=Avg("completion_tokens")),
    "max_tokens": QuestTier.objects.filter(tier="cadet").aggregate(m=Avg("max_tokens"))["m"],
}))
"""


def capacity(db: dict, seconds: float, orgs: int, limits: dict) -> tuple[float, float]:
    """Completions the stand-in can admit per 60 s window, over the run's length.

    The stand-in reserves prompt + max tokens at admission and settles to the tokens used when it
    replies, so in one window an organization admits k calls while (k - 1) settled calls plus one
    full reservation fit its TPM: k = (TPM - reservation) // used + 1, and never more than RPM.
    """
    calls = db["calls"]
    if not calls["n"]:
        return float("nan"), float("nan")
    used = calls["prompt"] + calls["completion"]
    reservation = calls["prompt"] + db["max_tokens"]
    per_org = min(limits["rpm"], (limits["tpm"] - reservation) // used + 1)
    return used, orgs * per_org * seconds / 60


@dataclass
class Instance:
    base: str
    stub: str
    env: dict
    workdir: Path

    def stub_stats(self) -> dict:
        return httpx.get(f"{self.stub}/_stub/stats", timeout=5).json()

    def worker_starts(self) -> int:
        return sum("Autorestarting" in line or "Booting worker" in line
                   for line in (self.workdir / "gunicorn.log").read_text().splitlines())

    def report(self) -> dict:
        return json.loads(manage("shell", "-c", REPORT_SQL, env=self.env, capture=True).strip().splitlines()[-1])


@contextmanager
def instance(*, broker: str, redis_url: str, orgs: int, latency: float, web_port: int, stub_port: int,
             users: int = 0, db_name: str = DB_NAME, **extra: str) -> Iterator[Instance]:
    """A production-like instance on its own database: the stand-in, the django-q2 cluster and
    gunicorn with deploy/gunicorn.conf.py (2 workers x 4 threads), prefetch off, behind a
    (simulated) TLS proxy so X-Forwarded-For names each client's address. Stops all it started."""
    redis = {"REDIS_URL": redis_url} if broker == "redis" else {}
    if redis:
        subprocess.run(["redis-cli", "-u", redis_url, "flushdb"], check=True, capture_output=True)
    # Prefetch off unless the caller turns it on (the abuse bench's buffered hand-outs do).
    configure_environment("postgres", name=db_name, **{
        "QUESTS_BUFFER_SIZE": "0", "QUESTS_REFILL_ON_SERVE": "false", "BEHIND_TLS_PROXY": "true",
        "SESSION_COOKIE_SECURE": "false", "CSRF_COOKIE_SECURE": "false", **redis, **extra,
    })
    create_database("postgres")
    manage("collectstatic", "--noinput", "-v0")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        keys_file = workdir / "keys.env"
        procs = [start([PY, "-m", "keymanager.testing.groqstub", "--port", str(stub_port), "--orgs", str(orgs),
                        "--latency", str(latency), "--keys-file", str(keys_file)], os.environ.copy(),
                       workdir / "stub.log")]
        try:
            wait_http(f"http://127.0.0.1:{stub_port}/_stub/stats", "the stand-in")
            for line in keys_file.read_text().splitlines():
                name, value = line.split("=", 1)
                os.environ[name] = value
            env = os.environ.copy()
            manage("keys", "import-env", env=env, capture=True)
            if users:
                # Established players (a month old, missions answered): the full live quota, not
                # a new account's (issue 18), so the figures measure the pages, not the limits.
                manage("shell", "-c", "from datetime import timedelta\n"
                       "from django.contrib.auth.models import User\nfrom django.utils import timezone\n"
                       "from quests.models import Player\n"
                       f"for n in range({users}):\n"
                       f"    user = User.objects.create_user(f'pilot{{n}}', password='{PASSWORD}',\n"
                       "                                    date_joined=timezone.now() - timedelta(days=30))\n"
                       "    Player.objects.create(user=user, callsign=f'Pilot {n}', runs_completed=100)\n",
                       env=env)
            procs.append(start([PY, "manage.py", "qcluster"], env, workdir / "qcluster.log"))
            web_env = {**env, "GUNICORN_BIND": f"127.0.0.1:{web_port}", "GUNICORN_WORKERS": "2",
                       "GUNICORN_THREADS": "4", "GUNICORN_LOG_LEVEL": "info"}
            procs.append(start([str(BIN / "gunicorn"), "-c", "deploy/gunicorn.conf.py", "cosmosquest.wsgi"],
                               web_env, workdir / "gunicorn.log"))
            base = f"http://127.0.0.1:{web_port}"
            wait_http(base + "/", "gunicorn")
            time.sleep(2)  # let the cluster's workers come up
            httpx.post(f"http://127.0.0.1:{stub_port}/_stub/reset_stats", timeout=5)
            yield Instance(base=base, stub=f"http://127.0.0.1:{stub_port}", env=env, workdir=workdir)
        except BaseException:
            for log in ("gunicorn.log", "qcluster.log", "stub.log"):
                print(f"--- {log}", (workdir / log).read_text()[-2000:] if (workdir / log).exists() else "", sep="\n")
            raise
        finally:
            for proc in reversed(procs):
                stop(proc)
            if redis:
                subprocess.run(["redis-cli", "-u", redis_url, "flushdb"], capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", choices=("orm", "redis"), default="orm")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/7")
    parser.add_argument("--players", type=int, default=16)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--latency", type=float, default=2.0, help="stand-in seconds per completion")
    parser.add_argument("--orgs", type=int, default=4)
    parser.add_argument("--leaderboard-every", type=float, default=0.2)
    parser.add_argument("--no-js", action="store_true", help="players follow the meta refresh instead of polling")
    parser.add_argument("--web-port", type=int, default=8100)
    parser.add_argument("--stub-port", type=int, default=8910)
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="extra environment")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()

    with instance(broker=args.broker, redis_url=args.redis_url, orgs=args.orgs, latency=args.latency,
                  web_port=args.web_port, stub_port=args.stub_port, users=args.players,
                  **dict(item.split("=", 1) for item in args.set)) as site:
        clients = [log_in(n, site.base, f"10.9.0.{n + 1}") for n in range(args.players)]
        timings = Timings()
        started = time.monotonic()
        stop_at = started + args.duration
        threads = [threading.Thread(target=leaderboard, args=(site.base, stop_at, timings, args.leaderboard_every))]
        threads += [threading.Thread(target=player, args=(n, clients[n], stop_at, timings, not args.no_js))
                    for n in range(args.players)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
        stub_stats = site.stub_stats()
        restarts = site.worker_starts()
        db = site.report()

    free = {"rpm": 30, "tpm": 8000}  # the stand-in's free-tier limits for openai/gpt-oss-20b
    per_call, ceiling = capacity(db, elapsed, args.orgs, free)
    admitted = sum(m["admitted"] for org in stub_stats["by_org"].values() for m in org.values())
    live = [t for run_id, t in timings.to_questions.items() if db["runs"].get(str(run_id)) == "live"]
    # Like for like: live missions whose questions reached the player within the launching minute.
    live_in_window = sum(1 for run_id, at in timings.delivered_at.items()
                         if db["runs"].get(str(run_id)) == "live" and at <= args.duration)
    window_capacity = capacity(db, args.duration, args.orgs, {"rpm": 30, "tpm": 8000})[1]
    other = [t for name, times in timings.pages.items()
             if name not in ("transmit (LLM in request)", "status (JSON)") for t in times]
    figures = {
        "broker": args.broker, "js": not args.no_js, "players": args.players, "seconds": round(elapsed, 1),
        "pages": {name: {"n": len(t), "p50_ms": round(percentile(t, 0.50) * 1000), "p99_ms": round(percentile(t, 0.99) * 1000),
                         "worst_ms": round(max(t) * 1000), "errors": timings.errors.get(name, 0)}
                  for name, t in sorted(timings.pages.items())},
        "other_pages": {"n": len(other), "p50_ms": round(percentile(other, 0.50) * 1000),
                        "p99_ms": round(percentile(other, 0.99) * 1000), "worst_ms": round(max(other) * 1000)},
        "runs": db["sources"], "late_results_buffered": db["buffered"],
        "live_within_duration": live_in_window,
        "capacity_within_duration": None if math.isnan(window_capacity) else round(window_capacity),
        "stub": {"admitted": admitted, "by_status": stub_stats["by_status"], "tokens_per_call": None if math.isnan(per_call) else round(per_call)},
        "capacity": None if math.isnan(ceiling) else round(ceiling),
        "live_to_questions": {"n": len(live), "p50_s": round(percentile(live, 0.50), 2) if live else None,
                              "p90_s": round(percentile(live, 0.90), 2) if live else None},
    }
    print(f"\n{args.players} players, {elapsed:.0f} s, broker {args.broker}, {'JavaScript' if not args.no_js else 'no JavaScript'}")
    print(f"{'page':<28}{'requests':>9}{'errors':>8}{'p50 ms':>9}{'p99 ms':>9}{'worst ms':>10}")
    for name, row in figures["pages"].items():
        print(f"{name:<28}{row['n']:>9}{row['errors']:>8}{row['p50_ms']:>9}{row['p99_ms']:>9}{row['worst_ms']:>10}")
    o = figures["other_pages"]
    print(f"{'other pages (all but waits)':<28}{o['n']:>9}{'':>8}{o['p50_ms']:>9}{o['p99_ms']:>9}{o['worst_ms']:>10}")
    print(f"missions: {db['sources']}; late live results kept as buffered runs: {db['buffered']}")
    print(f"live missions delivered within the {args.duration:.0f} s of launching: {live_in_window} "
          f"(the pool's capacity in that time: {window_capacity:.0f})")
    print(f"stand-in: {admitted} completions admitted ({stub_stats['by_status']}), ~{per_call:.0f} tokens used per call; "
          f"the pool's capacity over the run: {ceiling:.0f} completions")
    lq = figures["live_to_questions"]
    print(f"launch to questions, live missions: n={lq['n']} p50 {lq['p50_s']} s, p90 {lq['p90_s']} s "
          f"(stand-in latency {args.latency} s)")
    print(f"gunicorn worker (re)starts: {restarts}")
    slow = sorted((x for x in timings.slowest if x[2] != "transmit (LLM in request)"), reverse=True)[:5]
    print("slowest requests (waits excluded):", ", ".join(f"{name} {sec * 1000:.0f} ms at {at:.1f} s"
                                                         for sec, at, name in slow))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
