"""`manage.py qcluster` as a real process tree: a stop signal to its process group (Ctrl-C under
`make run`, `kill -- -PGID`), to each of its processes (systemd's default KillMode) or a killed
main process leaves nothing running within seconds."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from tests.ops.test_deploy import ROOT

pytestmark = pytest.mark.slow

WORKERS = 2
# Main process, Sentinel, the workers, the monitor and the pusher.
PROCESSES = 1 + 1 + WORKERS + 2
# A correctness bound, not a speed target: an idle cluster stops in about a second; django-q2's
# own command never does.
DEADLINE = 20


@pytest.fixture(scope="module")
def cluster_env(tmp_path_factory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("qcluster")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "DJANGO_SETTINGS_MODULE": "cosmosquest.settings",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "KEY_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "DATABASE_URL": f"sqlite:///{home / 'q.sqlite3'}",
        "Q_WORKERS": str(WORKERS),
    }
    migrate = subprocess.run([sys.executable, str(ROOT / "manage.py"), "migrate", "-v0"], env=env, cwd=home,
                             capture_output=True, text=True, timeout=180)
    assert migrate.returncode == 0, migrate.stderr
    return env


def live_session(sid: int) -> list[int]:
    """Processes of a session that have not exited (zombies excluded)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        state, session = fields[0], int(fields[3])
        if session == sid and state != "Z":
            pids.append(int(stat.parent.name))
    return pids


def wait_for(predicate, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


@pytest.mark.parametrize("how", ["SIGTERM to the group", "SIGINT to the group", "SIGTERM to every process",
                                 "SIGKILL to the main process"])
def test_the_cluster_stops_within_seconds(cluster_env, tmp_path, how):
    log = tmp_path / "qcluster.log"
    with log.open("w") as out:
        main = subprocess.Popen([sys.executable, str(ROOT / "manage.py"), "qcluster"], env=cluster_env,
                                cwd=cluster_env["HOME"], stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        started = wait_for(lambda: "running." in log.read_text() and len(live_session(main.pid)) >= PROCESSES, 60)
        assert started, log.read_text()
        if how == "SIGTERM to the group":
            os.killpg(main.pid, signal.SIGTERM)
        elif how == "SIGINT to the group":
            os.killpg(main.pid, signal.SIGINT)
        elif how == "SIGTERM to every process":
            for pid in live_session(main.pid):
                os.kill(pid, signal.SIGTERM)
        else:
            os.kill(main.pid, signal.SIGKILL)
        stopped = wait_for(lambda: main.poll() is not None and not live_session(main.pid), DEADLINE)
        assert stopped, f"still running after {DEADLINE} s: {live_session(main.pid)}\n{log.read_text()}"
        if how == "SIGKILL to the main process":
            assert main.returncode == -signal.SIGKILL
        else:
            assert main.returncode == 0, log.read_text()
            assert "has stopped" in log.read_text()
        if how.endswith("to the group"):
            # The Sentinel was out of reach of the group signal: the workers were stopped by it, in order.
            assert log.read_text().count("stopped doing work") == WORKERS, log.read_text()
    finally:
        for pid in live_session(main.pid):
            os.kill(pid, signal.SIGKILL)
        main.wait(timeout=10)
