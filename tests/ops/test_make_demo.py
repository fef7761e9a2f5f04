"""`make demo` as a newcomer runs it: its own database and files, both ports configurable, and
Ctrl-C stops everything. What it adds never reaches the database `make run` plays on."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import urllib.request
from pathlib import Path

import pytest

from tests.ops.test_deploy import ROOT
from tests.ops.test_qcluster_signals import live_session, wait_for

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def describe(pids: list[int]) -> list[str]:
    """Each process with its command line, for a failure message."""
    found = []
    for pid in pids:
        try:
            found.append(f"{pid}: " + Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            continue
    return found


def status(port: int) -> dict | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=2) as response:
            return json.load(response)
    except (OSError, ValueError):
        return None


def test_make_demo_keeps_to_its_own_database_and_ports(tmp_path):
    web, stub = free_port(), free_port()
    main_db = tmp_path / "main.sqlite3"  # what `make run` would use
    demo_db = tmp_path / "demo.sqlite3"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{main_db}", "DEBUG": "true"}
    for inherited in ("MAKEFLAGS", "DJANGO_SETTINGS_MODULE"):  # the project's own settings, as a user runs it
        env.pop(inherited, None)
    log = tmp_path / "demo.log"
    with log.open("w") as out:
        make = subprocess.Popen(
            ["make", "--no-print-directory", "demo", f"PORT={web}", f"STUB_PORT={stub}",
             f"DEMO_DATABASE_URL=sqlite:///{demo_db}", f"DEMO_FILES={tmp_path / 'demo'}"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            # As in a terminal: Ctrl-C is not ignored. A test run started in the background
            # (`cmd &` in a script) inherits SIGINT ignored, and Python then keeps ignoring it.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
    try:
        up = wait_for(lambda: (status(web) or {}).get("status") == "ok", 120)
        assert up, log.read_text()
        assert status(web)["keys"]["groq"]["available"] == 2
        keys_env = (tmp_path / "demo-keys.env").read_text()
        assert f"GROQ_BASE_URL=http://127.0.0.1:{stub}" in keys_env
        with socket.create_connection(("127.0.0.1", stub), timeout=2):
            pass  # the stand-in listens on STUB_PORT
        assert not main_db.exists() or not sqlite3.connect(main_db).execute(
            "SELECT name FROM sqlite_master WHERE name = 'keymanager_key'").fetchone()
        with sqlite3.connect(demo_db) as db:
            assert db.execute("SELECT count(*) FROM keymanager_key").fetchone()[0] == 2
        os.killpg(make.pid, signal.SIGINT)  # Ctrl-C in the terminal
        stopped = wait_for(lambda: make.poll() is not None and not live_session(make.pid), 30)
        assert stopped, f"left running: {describe(live_session(make.pid))}\n{log.read_text()[-3000:]}"
    finally:
        for pid in live_session(make.pid):
            os.kill(pid, signal.SIGKILL)
        make.wait(timeout=10)
