"""Several hosts for real: 3 "hosts" against one PostgreSQL (through PgBouncer in transaction
pooling, or straight, or with Django's own connection pool) and one Redis.

Each host is its own process group with its own settings: gunicorn (2 workers x 4 threads), a
django-q2 cluster, a driver of pool calls, and players browsing its pages; its clock is offset
(-0.8 s, 0, +0.9 s) by bench/clockskew/sitecustomize.py (time.time() only: the pool's slots).
The Groq stand-in has 4 organizations at Groq's free tier (30 RPM); calls arrive (Poisson) at
150 % of that capacity, split over the hosts. Printed per database path: refusals (429) per 100
served, served against the earliest-slot ideal for the same arrivals (bench/pool_goodput.py),
errors, and the p99 of the other pages players asked for meanwhile.

PgBouncer (Debian's package) is installed by this script when missing (as root, with apt-get);
Redis is the local one (127.0.0.1:6379, database BENCH_REDIS_DB, 5 by default, flushed).

    BENCH_DB_NAME=wt_ops_bench .venv/bin/python bench/multihost.py --duration 60
    BENCH_DB_NAME=wt_ops_bench .venv/bin/python bench/multihost.py --paths pgbouncer --duration 30
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import configure_environment, create_database, database_url, percentile  # noqa: E402
from bench.pool_goodput import (  # noqa: E402
    MODEL,
    ORGS,
    SCENARIOS,
    WAIT_BUDGET,
    add_keys,
    arrivals_for,
    earliest_slot_ideal,
    summarize,
)
from tests.ops.pgbouncer import PgBouncer, pgbouncer_binary  # noqa: E402

BIN = Path(sys.executable).parent
OFFSETS = (-0.8, 0.0, 0.9)
PAGES = ("/", "/leaderboard/", "/quest/1/", "/quest/3/", "/daily/", "/api/status")
PATHS = ("pgbouncer", "direct", "django-pool")
SCENARIO = "told"


def ensure_pgbouncer() -> None:
    if pgbouncer_binary():
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing pgbouncer (Debian package) ...")
        subprocess.run(["apt-get", "install", "-y", "-qq", "pgbouncer"], check=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}, stdout=subprocess.DEVNULL)
    if not pgbouncer_binary():
        raise SystemExit("pgbouncer is not installed and could not be (apt-get install pgbouncer)")


def host_env(n: int, path: str, bouncer: PgBouncer | None, redis_url: str, metrics_dir: Path, *,
             skew: bool = True) -> dict[str, str]:
    env = dict(os.environ)
    direct = database_url("postgres")
    if path == "pgbouncer":
        env["DATABASE_URL"] = direct.replace("127.0.0.1:5432", f"127.0.0.1:{bouncer.port}")
        env["DATABASE_PGBOUNCER"] = "true"
    elif path == "django-pool":
        # Up to one connection per thread of the busiest process (the driver's 40 threads); the
        # pool opens them on demand and keeps DATABASE_POOL_MIN_SIZE.
        env.update(DATABASE_URL=direct, DATABASE_POOL="true", DATABASE_POOL_MAX_SIZE="40")
    else:
        env["DATABASE_URL"] = direct
    env.update(
        REDIS_URL=redis_url,
        CQ_CLOCK_OFFSET=str(OFFSETS[n] if skew else 0.0),
        PYTHONPATH=f"{ROOT / 'bench' / 'clockskew'}{os.pathsep}{ROOT}",
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
        Q_WORKERS="2",
        QUESTS_LIVE_WAIT_SECONDS="10",
        # The driven calls are the load measured: the buffer refill would spend the same quota.
        QUESTS_PREFETCH_MIN_HEADROOM="1.0",
        LOG_LEVEL="WARNING",
        ALLOWED_HOSTS="127.0.0.1,localhost",
    )
    return env


def start_host(n: int, env: dict[str, str], port: int, logs: Path) -> list[subprocess.Popen]:
    log = open(logs / f"host{n}.log", "w")  # noqa: SIM115 (closed with the processes)
    web = subprocess.Popen(
        [str(BIN / "gunicorn"), "cosmosquest.wsgi", "-c", str(ROOT / "deploy" / "gunicorn.conf.py"),
         "-b", f"127.0.0.1:{port}", "-w", "2", "--threads", "4", "--access-logfile", "-"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True,
    )
    cluster = subprocess.Popen([sys.executable, str(ROOT / "manage.py"), "qcluster"], cwd=ROOT, env=env,
                               stdout=log, stderr=log, start_new_session=True)
    return [web, cluster]


def wait_ready(port: int, timeout: float = 60.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"host on port {port} did not answer /healthz")


def stop(processes: list[subprocess.Popen]) -> None:
    for p in processes:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    for p in processes:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)


def players(ports: list[int], until: float, per_host: int) -> list[tuple[str, float, int]]:
    """Players browsing every host's pages: (page, seconds, status) per request."""
    results: list[tuple[str, float, int]] = []
    lock = threading.Lock()

    def play(port: int, seed: int) -> None:
        rng = random.Random(seed)
        while time.time() < until:
            page = rng.choice(PAGES)
            started = time.perf_counter()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{page}", timeout=30) as r:
                    r.read()
                    status = r.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            except OSError:
                status = 0
            with lock:
                results.append((page, time.perf_counter() - started, status))
            time.sleep(rng.uniform(0.1, 0.5))

    threads = [threading.Thread(target=play, args=(port, i * 100 + j)) for i, port in enumerate(ports)
               for j in range(per_host)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def run_path(path: str, args, logs: Path) -> dict:
    from keymanager.testing.groqstub import GroqStub, make_key

    scenario = SCENARIOS[SCENARIO]
    org_keys = {f"org_{n}": [make_key()] for n in range(1, ORGS + 1)}
    stub = GroqStub(orgs={org: {"keys": keys, "limits": {MODEL: scenario["limits"]}} for org, keys in org_keys.items()},
                    latency=args.latency, limiter=scenario["limiter"], seed=1).start()
    os.environ["GROQ_BASE_URL"] = stub.url
    create_database("postgres")
    subprocess.run([sys.executable, __file__, "--add-keys", json.dumps(org_keys)], check=True, cwd=ROOT,
                   env=os.environ.copy())
    import redis

    redis_url = f"redis://127.0.0.1:6379/{os.environ.get('BENCH_REDIS_DB', '5')}"
    redis.Redis.from_url(redis_url).flushdb()
    bouncer = PgBouncer(pool_size=10).start() if path == "pgbouncer" else None
    ports = [8711 + n for n in range(3)]
    processes: list[subprocess.Popen] = []
    try:
        envs = []
        for n, port in enumerate(ports):
            metrics_dir = Path(tempfile.mkdtemp(prefix=f"cq-host{n}-metrics-"))
            env = host_env(n, path, bouncer, redis_url, metrics_dir, skew=not args.same_clock)
            envs.append(env)
            processes += start_host(n, env, port, logs)
        for port in ports:
            wait_ready(port)
        capacity = ORGS * scenario["limits"]["rpm"] / 60.0
        arrivals = arrivals_for(args.load * capacity, args.duration, seed=args.seed)
        ideal = earliest_slot_ideal(arrivals, scenario, WAIT_BUDGET, args.latency)
        start_at = time.time() + 8.0
        indexed = list(enumerate(arrivals))
        drivers = []
        for n, env in enumerate(envs):
            part = json.dumps({"arrivals": indexed[n::3], "start_at": start_at, "threads": 40})
            out = logs / f"drive{n}-{path}.json"
            drivers.append((subprocess.Popen([sys.executable, __file__, "--drive", part, "--out", str(out)], cwd=ROOT,
                                             env=env, start_new_session=True), out))
        browsing = players(ports, start_at + args.duration + 5, per_host=args.players)
        for driver, _ in drivers:
            driver.wait(timeout=args.duration + 120)
        records = [tuple(r) for _, out in drivers for r in json.loads(out.read_text())]
        row = summarize("pool", SCENARIO, args.load, records, stub.stats(), ideal, arrivals)
    finally:
        stop(processes)
        if bouncer:
            bouncer.stop()
        stub.stop()
    other = [seconds for _, seconds, _ in browsing]
    row.update(path=path, pages=len(browsing), page_errors=sum(1 for *_, s in browsing if s != 200),
               page_p99_ms=1000 * percentile(other, 0.99), page_p50_ms=1000 * percentile(other, 0.50))
    return row


def _add_keys(org_keys: dict) -> None:
    add_keys(org_keys, None, SCENARIOS[SCENARIO])


def _drive(spec: str, out: str) -> None:
    from bench.common import setup_django
    from bench.pool_goodput import drive

    setup_django()
    data = json.loads(spec)
    # A skewed host fires on its own clock, as a real host would.
    records = drive("pool", [tuple(a) for a in data["arrivals"]], data["threads"], data["start_at"], [],
                    SCENARIOS[SCENARIO]["limits"])
    Path(out).write_text(json.dumps(records))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--paths", default=",".join(PATHS), help=f"comma-separated, of {', '.join(PATHS)}")
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--load", type=float, default=1.5)
    parser.add_argument("--players", type=int, default=3, help="browsing players per host")
    parser.add_argument("--latency", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--same-clock", action="store_true", help="no clock offsets (to see what the offsets cost)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--drive", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--add-keys", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.add_keys:
        _add_keys(json.loads(args.add_keys))
        return
    if args.drive:
        _drive(args.drive, args.out)
        return
    paths = [p.strip() for p in args.paths.split(",") if p.strip()]
    if unknown := set(paths) - set(PATHS):
        raise SystemExit(f"unknown --paths {', '.join(sorted(unknown))}; choose from {', '.join(PATHS)}")
    if "pgbouncer" in paths:
        ensure_pgbouncer()
    configure_environment("postgres", name=os.environ.get("BENCH_DB_NAME", "cosmosquest_bench"))
    logs = Path(tempfile.mkdtemp(prefix="cq-multihost-"))
    # DEBUG off: the pages need the hashed static files (STATIC_ROOT, git-ignored), as in production.
    subprocess.run([sys.executable, str(ROOT / "manage.py"), "collectstatic", "--noinput", "-v0"], check=True,
                   cwd=ROOT, env=os.environ.copy())
    rows = [run_path(path, args, logs) for path in paths]
    clocks = "one clock" if args.same_clock else f"clocks {', '.join(f'{o:+.1f}' for o in OFFSETS)} s"
    print(f"\n3 hosts ({clocks}), stand-in at {args.load:.0%} of its capacity "
          f"({ORGS} organizations x {SCENARIOS[SCENARIO]['limits']['rpm']} RPM), {args.duration:.0f} s, logs in {logs}")
    print(f"{'database path':12} {'calls':>5} {'ideal':>5} {'served':>6} {'of ideal':>8} {'429':>4} {'429/100':>7} "
          f"{'exhst':>5} {'errors':>6} {'pages':>5} {'page err':>8} {'page p50':>8} {'page p99':>8}")
    for r in rows:
        print(f"{r['path']:12} {r['calls']:>5} {r['ideal']:>5} {r['groq']:>6} {r['of_ideal']:>8.3f} {r['r429']:>4} "
              f"{r['refused_per_100']:>7.2f} {r['exhausted']:>5} {r['other']:>6} {r['pages']:>5} {r['page_errors']:>8} "
              f"{r['page_p50_ms']:>6.0f}ms {r['page_p99_ms']:>6.0f}ms")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
