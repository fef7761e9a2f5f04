"""Reliability benchmark: faults during load, SIGKILL'd workers, a PostgreSQL restart, a killed
django-q2 worker, and the long secrets scan and fuzz runs. Prints figures and writes them to
bench/results/reliability-<db>.json. Uses its own database (cosmosquest_bench_reliability).

    .venv/bin/python bench/reliability.py                      # every scenario, PostgreSQL
    .venv/bin/python bench/reliability.py faults --duration 60 --db sqlite
    .venv/bin/python bench/reliability.py pg-restart --cluster "15 main"
    .venv/bin/python bench/reliability.py qcluster
    .venv/bin/python bench/reliability.py scan                 # secrets scan + long fuzz (pytest)

pg-restart restarts the PostgreSQL cluster named by --cluster (default: the first version under
/etc/postgresql, cluster `main`) with pg_ctlcluster and checks it is running again at the end;
point BENCH_PG_ADMIN_URL and --cluster at a private cluster to leave others' sessions alone.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, configure_environment, create_database, setup_django  # noqa: E402

DB_NAME = "cosmosquest_bench_reliability"
MODEL = "openai/gpt-oss-20b"
ROOMY = {"rpm": 100000, "rpd": 10000000, "tpm": 100000000, "tpd": 1000000000}  # faults, not budgets
REQUEST_TIMEOUT, WAIT_BUDGET = 2.0, 6.0


def messages(i: int) -> list[dict]:
    return [{"role": "user", "content": f"Call {i}: one line about a moon of Saturn."}]


# --- set-up ------------------------------------------------------------------------------------


def start_stub(orgs: int, keys_per_org: int, **kwargs):
    from keymanager.testing.groqstub import GroqStub, make_key

    spec = {f"org_{o}": {"keys": [make_key() for _ in range(keys_per_org)], "limits": {MODEL: ROOMY}}
            for o in range(orgs)}
    return GroqStub(orgs=spec, **kwargs).start(), spec


def prepare(db: str, stub, spec: dict, **env: str) -> dict[int, str]:
    """Environment, fresh database, keys and roomy limits; returns key id -> secret."""
    configure_environment(db, name=DB_NAME, GROQ_BASE_URL=stub.url, KEYMANAGER_REQUEST_TIMEOUT=str(REQUEST_TIMEOUT),
                          KEYMANAGER_WAIT_BUDGET=str(WAIT_BUDGET), **env)
    create_database(db)
    setup_django()
    from keymanager.models import Limit
    from keymanager.services.keys import key_add

    secrets = {}
    for org, org_spec in spec.items():
        Limit.objects.update_or_create(provider="groq", organization=org, model=MODEL, defaults=ROOMY)
        for secret in org_spec["keys"]:
            secrets[key_add(provider="groq", name=f"{org}-{len(secrets) + 1}", secret=secret, organization=org).pk] = secret
    return secrets


# --- worker processes (spawned; web-style: connections checked at each "request") ---------------


def drive(worker: int, threads: int, start_at: float, stop_at: float) -> list[tuple]:
    setup_django()
    from django.db import close_old_connections, connections

    from keymanager.services import PoolExhausted, complete

    records: list[tuple] = []
    lock = threading.Lock()

    def loop(n: int) -> None:
        i = 0
        while time.time() < stop_at:
            close_old_connections()  # what request_started does for every gunicorn request
            t0 = time.time()
            try:
                outcome = complete(messages=messages(i), max_tokens=40, purpose="bench-reliability").provider
            except PoolExhausted:
                outcome = "exhausted"
            except Exception as exc:  # a finding: counted by type
                outcome = "other:" + type(exc).__name__
            with lock:
                records.append((t0 - start_at, time.time() - start_at, outcome))
            i += 1
        connections.close_all()

    while time.time() < start_at:
        time.sleep(0.01)
    pool = [threading.Thread(target=loop, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return records


def run_drivers(processes: int, threads: int, duration: float, during=None) -> list[tuple]:
    ctx = multiprocessing.get_context("spawn")
    start_at = time.time() + 6  # room for the spawned processes to set Django up
    with ctx.Pool(processes) as pool:
        pending = [pool.apply_async(drive, (w, threads, start_at, start_at + duration)) for w in range(processes)]
        if during is not None:
            during(start_at)
        return [r for p in pending for r in p.get(timeout=duration + 120)]


def summarize_calls(records: list[tuple]) -> dict:
    outcomes = Counter(r[2] for r in records)
    slowest = max((r[1] - r[0] for r in records), default=0.0)
    return {
        "calls": len(records),
        "served": outcomes["groq"] + outcomes["openai"],
        "exhausted": outcomes["exhausted"],
        "failed": sum(n for o, n in outcomes.items() if o.startswith("other:")),
        "failed_by_type": {o: n for o, n in outcomes.items() if o.startswith("other:")},
        "slowest_call_s": round(slowest, 2),
        # An attempt may start until the budget ends and lasts at most one request timeout.
        "over_budget": sum(1 for r in records if r[1] - r[0] > WAIT_BUDGET + REQUEST_TIMEOUT + 1.0),
    }


def rows_vs_requests(stub) -> dict:
    from keymanager.models import Outcome, UsageLog

    stats = stub.stats()
    rows = UsageLog.objects.count()
    return {
        "stand_in_requests": stats["requests"],
        "usage_rows": rows,
        "rows_lost": max(0, stats["requests"] - rows),
        "rows_without_request": max(0, rows - stats["requests"]),
        "pending_rows": UsageLog.objects.filter(outcome=Outcome.PENDING).count(),
        "over_provider_budget": stats["over_budget"],
    }


# --- scenarios -----------------------------------------------------------------------------------


def scenario_faults(args) -> dict:
    """5% 500s, 2% resets, 2% replies slower than the timeout; one key revoked at the provider a
    third of the way in, one key disabled through the admin halfway."""
    stub, spec = start_stub(4, 2, seed=args.seed)
    secrets = prepare(args.db, stub, spec)
    from django.contrib.auth.models import User
    from django.test import Client
    from django.utils import timezone

    from keymanager.models import Key, Outcome, UsageLog

    ids = sorted(secrets)
    revoked, disabled = ids[0], ids[3]
    admin = User.objects.create_superuser("bench-admin", password="bench-admin-password-1")
    client = Client(HTTP_HOST="localhost")
    client.force_login(admin)
    events = {}

    def during(start_at: float) -> None:
        time.sleep(max(0, start_at - time.time()))
        stub.set_faults(error_rate=0.05, reset_rate=0.02, slow_rate=0.02, slow_seconds=REQUEST_TIMEOUT + 1)
        time.sleep(args.duration / 3)
        stub.revoke(secrets[revoked])
        time.sleep(args.duration / 6)
        response = client.post(f"/admin/keymanager/key/{disabled}/do/disable/")
        assert response.status_code == 302, response.status_code
        events["disabled_at"] = timezone.now()

    records = run_drivers(args.processes, args.threads, args.duration, during)
    stub.stop()
    stats = stub.stats()
    first_401 = UsageLog.objects.filter(key_id=revoked, outcome=Outcome.AUTH_FAILED).order_by("finished_at").first()
    result = {
        **summarize_calls(records),
        "faults_injected": {
            "http_500": stats["by_status"].get("500", 0),
            "connection_resets": stats["resets"],
            "slow_replies_timed_out": UsageLog.objects.filter(outcome=Outcome.TIMEOUT).count(),
            "http_401_revoked_key": stats["by_status"].get("401", 0),
        },
        **rows_vs_requests(stub),
        "revoked_key_disabled": not Key.objects.get(pk=revoked).enabled,
        "revoked_key_attempts_after_first_401": UsageLog.objects.filter(
            key_id=revoked, created_at__gt=first_401.finished_at).count() if first_401 else None,
        "disabled_key_attempts_after_disable": UsageLog.objects.filter(
            key_id=disabled, created_at__gte=events["disabled_at"]).count(),
    }
    result["faults_injected"]["total"] = sum(result["faults_injected"].values())
    return result


def call_forever() -> None:
    setup_django()
    from keymanager.services import PoolExhausted, complete

    i = 0
    while True:
        try:
            complete(messages=messages(i), max_tokens=20, purpose="bench-killed")
        except PoolExhausted:
            pass
        i += 1


def scenario_sigkill(args) -> dict:
    """Workers SIGKILL'd at random moments of their calls, `--kills` times."""
    stub, spec = start_stub(2, 1, latency=0.05)
    prepare(args.db, stub, spec)
    from keymanager.models import Key
    from keymanager.services import complete

    rng = random.Random(args.seed)
    ctx = multiprocessing.get_context("spawn")
    for _ in range(args.kills):
        seen = stub.stats()["requests"]
        proc = ctx.Process(target=call_forever, daemon=True)
        proc.start()
        while stub.stats()["requests"] == seen and proc.is_alive():
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.5))
        os.kill(proc.pid, signal.SIGKILL)
        proc.join()
    served_after = complete(messages=messages(0), max_tokens=20).attempts == 1
    result = {"kills": args.kills, **rows_vs_requests(stub), "served_right_after": served_after,
              "keys_enabled": Key.objects.filter(enabled=True).count(), "keys": Key.objects.count()}
    stub.stop()
    return result


def pg_cluster(args) -> list[str]:
    version, name = (args.cluster or f"{sorted(os.listdir('/etc/postgresql'))[0]} main").split()
    return [version, name]


def pg_ready(port: str) -> bool:
    return subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1", "-p", port]).returncode == 0


def scenario_pg_restart(args) -> dict:
    """PostgreSQL restarted a third of the way into a run of web-style workers."""
    if args.db != "postgres":
        return {"skipped": "needs --db postgres"}
    stub, spec = start_stub(4, 1, latency=0.02)
    prepare(args.db, stub, spec)
    port = re.search(r":(\d+)/", os.environ["DATABASE_URL"]).group(1)
    version, name = pg_cluster(args)
    marks = {}

    def during(start_at: float) -> None:
        time.sleep(max(0, start_at + args.duration / 3 - time.time()))
        marks["restart_begin"] = time.time() - start_at
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, name, "restart"], check=True)
        while not pg_ready(port):
            time.sleep(0.1)
        marks["restart_end"] = time.time() - start_at

    try:
        records = run_drivers(args.processes, args.threads, args.duration, during)
    finally:
        if not pg_ready(port):
            subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, name, "start"], check=False)
    from django.db import close_old_connections

    from keymanager.models import Budget, Cooldown, Key
    from keymanager.services import complete

    close_old_connections()
    failed = [r for r in records if r[2].startswith("other:")]
    after = [r for r in records if r[0] > marks["restart_end"] + 1.0]
    result = {
        **summarize_calls(records),
        "restart_s": [round(marks["restart_begin"], 2), round(marks["restart_end"], 2)],
        "failed_window_s": [round(min(r[0] for r in failed), 2), round(max(r[1] for r in failed), 2)] if failed else None,
        "calls_started_1s_after_restart": len(after),
        "failed_among_them": sum(1 for r in after if r[2].startswith("other:")),
        **rows_vs_requests(stub),
        "keys_enabled": Key.objects.filter(enabled=True).count(),
        "cooldowns": Cooldown.objects.count(),
        "budget_rows": Budget.objects.count(),
        "served_by_parent_after": complete(messages=messages(0), max_tokens=20).attempts >= 1,
        "postgres_running_at_end": pg_ready(port),
    }
    stub.stop()
    return result


def _ancestors(pid: int) -> list[int]:
    chain = []
    while pid > 1 and len(chain) < 12:
        pid = int(re.search(r"PPid:\s+(\d+)", Path(f"/proc/{pid}/status").read_text()).group(1))
        chain.append(pid)
    return chain


def worker_pids_talking_to(port: int, root_pid: int) -> list[int]:
    """Descendants of root_pid holding an established TCP connection to `port` (read from /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[2].rsplit(":", 1)[1], 16) == port and fields[3] == "01":
                inodes.add(f"socket:[{fields[9]}]")
    found = []
    for pid_dir in Path("/proc").glob("[0-9]*"):
        try:
            if root_pid not in _ancestors(int(pid_dir.name)):
                continue
            if any(os.readlink(fd) in inodes for fd in (pid_dir / "fd").iterdir()):
                found.append(int(pid_dir.name))
        except (OSError, AttributeError):
            continue
    return found


def scenario_qcluster(args) -> dict:
    """A django-q2 worker killed while it runs a buffer refill; the task comes back, and the
    buffer ends at its size: the effect happened once."""
    stub, spec = start_stub(2, 1, latency=1.5)
    prepare(args.db, stub, spec)
    from django_q.models import OrmQ, Task
    from django_q.tasks import async_task

    from quests.conf import game_settings
    from quests.models import Quest, QuestRun, RunSource, RunStatus

    quest = Quest.objects.get(number=1)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bench.reliability_settings", "PYTHONPATH": str(ROOT)}
    cluster = subprocess.Popen([sys.executable, str(ROOT / "manage.py"), "qcluster"], env=env, cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    killed = []
    try:
        task_id = async_task("quests.tasks.refill_quest", quest.pk, task_name="bench-refill")
        deadline = time.time() + 60
        # Kill once the first run of the refill is made and the second is being written, so the
        # redelivered task finds a half-done effect to complete, not a clean slate.
        while not killed and time.time() < deadline:
            if stub.stats()["requests"] >= 2:
                killed = worker_pids_talking_to(stub.port, cluster.pid)
            time.sleep(0.05)
        runs_when_killed = QuestRun.objects.filter(quest=quest, player__isnull=True).count()
        for pid in killed:
            os.kill(pid, signal.SIGKILL)
        killed_at = time.time()
        while not Task.objects.filter(id=task_id).exists() and time.time() < killed_at + 120:
            time.sleep(0.5)
    finally:
        os.killpg(cluster.pid, signal.SIGTERM)
        try:
            cluster.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(cluster.pid, signal.SIGKILL)
    task = Task.objects.filter(id=task_id).first()
    buffered = QuestRun.objects.filter(quest=quest, player__isnull=True, status=RunStatus.READY,
                                       source=RunSource.BUFFER).count()
    result = {
        "workers_killed_mid_task": len(killed),
        "runs_made_before_the_kill": runs_when_killed,
        "task_finished": bool(task and task.success),
        "task_attempts": task.attempt_count if task else None,
        "redelivered_after_s": round(task.stopped.timestamp() - killed_at, 1) if task else None,
        "buffered_runs": buffered,
        "buffer_size": game_settings().buffer_size,
        "effect_once": buffered == game_settings().buffer_size,
        "queue_left": OrmQ.objects.count(),
        **rows_vs_requests(stub),
    }
    stub.stop()
    return result


def scenario_scan(args) -> dict:
    """The secrets scan and the fuzz tests of the suite, the fuzz at the long profile."""
    env = {**os.environ, "HYPOTHESIS_PROFILE": "long", "DJANGO_SETTINGS_MODULE": "tests.settings"}
    if args.db == "postgres":
        env["DATABASE_URL"] = os.environ.get("BENCH_PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres").rsplit(
            "/", 1)[0] + "/" + DB_NAME
    else:
        env.pop("DATABASE_URL", None)
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "tests/ops/test_security_secrets.py",
         "tests/ops/test_fuzz_endpoints.py"], env=env, cwd=ROOT, capture_output=True, text=True)
    scan = re.search(r"secrets scan: (\d+) keys, (\d+) artifacts, ([\d,]+) characters, (\d+) log records, "
                     r"(\d+) mails, found (\d+)", out.stdout)
    fuzz = re.search(r"fuzz: (\d+) cases", out.stdout)
    lines = out.stdout.strip().splitlines()
    tail = lines[-1] if lines else out.stderr[-500:]
    failures = [line for line in lines if line.startswith(("FAILED", "E   ")) or "Failing test case" in line][:20]
    return {
        "pytest": tail,
        "keys": int(scan.group(1)) if scan else None,
        "artifacts_scanned": int(scan.group(2)) if scan else None,
        "characters_scanned": int(scan.group(3).replace(",", "")) if scan else None,
        "secrets_found": int(scan.group(6)) if scan else None,
        "fuzz_cases": int(fuzz.group(1)) if fuzz else None,
        "fuzz_server_errors": 0 if out.returncode == 0 else "see failures",
        "failures": failures,
    }


SCENARIOS = {"faults": scenario_faults, "sigkill": scenario_sigkill, "pg-restart": scenario_pg_restart,
             "qcluster": scenario_qcluster, "scan": scenario_scan}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", nargs="?", choices=[*SCENARIOS, "all"], default="all")
    parser.add_argument("--db", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--duration", type=float, default=45.0, help="seconds of load (faults, pg-restart)")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--cluster", default=None, help='pg_ctlcluster "VERSION NAME" to restart (default: "<first> main")')
    args = parser.parse_args()
    if args.scenario == "all":
        # Each scenario in its own process: fresh Django, fresh database, fresh stand-in.
        for name in SCENARIOS:
            subprocess.run([sys.executable, __file__, name, *sys.argv[2 if len(sys.argv) > 1 and sys.argv[1] == "all"
                                                                   else 1:]], check=False)
        return
    result = SCENARIOS[args.scenario](args)
    print(f"== {args.scenario} ({args.db})\n{json.dumps(result, indent=2, default=str)}", flush=True)
    out = ROOT / "bench" / "results" / f"reliability-{args.db}.json"
    previous = json.loads(out.read_text()) if out.exists() else {}
    out.write_text(json.dumps({**previous, args.scenario: result}, indent=2, default=str) + "\n")
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
