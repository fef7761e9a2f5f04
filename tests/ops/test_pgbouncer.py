"""The app under PgBouncer's transaction pooling: a slice of the suite that covers the pool's
locks across threads and processes, the game's live missions through the task queue, the
shared cache, /metrics and health, run again through a real PgBouncer (Debian's package; .ci/run
installs it). Skipped, with the reason, on SQLite or where pgbouncer is not installed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.conf import settings

from tests.ops.pgbouncer import PgBouncer, pgbouncer_binary

pytestmark = [pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SLICE = [
    "tests/ops/test_transaction_pooling.py",
    "tests/pool/test_concurrency.py",
    "tests/game/test_live.py",
    "tests/ops/test_metrics.py",
    "tests/ops/test_shared_cache.py",
    "tests/ops/test_health.py",
    "tests/ops/test_request_ids.py",
]


def _server() -> dict:
    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("PgBouncer sits in front of PostgreSQL: run with DATABASE_URL=postgres://...")
    if pgbouncer_binary() is None:
        pytest.skip("pgbouncer is not installed (Debian: apt-get install pgbouncer; .ci/run installs it)")
    return db


@pytest.fixture
def bouncer():
    db = _server()
    with PgBouncer(db.get("HOST") or "127.0.0.1", int(db.get("PORT") or 5432), pool_size=4) as running:
        yield running


def _drop(db: dict, name: str) -> None:
    with psycopg.connect(host=db.get("HOST") or "127.0.0.1", port=int(db.get("PORT") or 5432),
                         user=db.get("USER") or "postgres", password=db.get("PASSWORD") or None,
                         dbname="postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_slice(bouncer: PgBouncer, tests: list[str], **env: str) -> subprocess.CompletedProcess:
    db = settings.DATABASES["default"]
    base = f"{db['NAME'].removeprefix('test_')}_pgbouncer"
    user = db.get("USER") or "postgres"
    _drop(db, f"test_{base}")
    environment = {k: v for k, v in os.environ.items() if k not in ("CQ_REQUIRE_BROWSER", "PYTEST_ADDOPTS")}
    environment.update({"DATABASE_URL": f"postgres://{user}@127.0.0.1:{bouncer.port}/{base}",
                        "DATABASE_PGBOUNCER": "true", **env})
    try:
        # --reuse-db: the test database is dropped here, directly, not through PgBouncer (which
        # keeps server connections to it open).
        return subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--reuse-db", "-x", *tests],
            cwd=ROOT, env=environment, capture_output=True, text=True, timeout=900,
        )
    finally:
        _drop(db, f"test_{base}")


def test_the_app_passes_its_pool_game_and_operations_tests_through_pgbouncer(bouncer):
    result = run_slice(bouncer, SLICE)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and " failed" not in result.stdout


def test_without_its_setting_server_side_cursors_break_under_transaction_pooling(bouncer):
    """The reason for DATABASE_PGBOUNCER=true: the same test fails through PgBouncer without it."""
    result = run_slice(bouncer, ["tests/ops/test_transaction_pooling.py"], DATABASE_PGBOUNCER="false")
    assert result.returncode != 0, result.stdout[-3000:]
    assert "does not exist" in result.stdout, result.stdout[-3000:]
