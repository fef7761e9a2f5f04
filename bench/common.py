"""Shared set-up for the benchmarks: a database of their own and Django in every process.

The benchmarks never touch the development database: PostgreSQL gets a database named
`cosmosquest_bench` (dropped and re-created), SQLite a file in the temp directory.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")


def _names() -> tuple[str, Path]:
    # Each benchmark names its own database, so two can run at once without dropping each other's.
    name = os.environ.get("BENCH_DB_NAME", "cosmosquest_bench")
    return name, Path(tempfile.gettempdir()) / f"{name}.sqlite3"


def database_url(db: str) -> str:
    pg_name, sqlite_path = _names()
    if db == "postgres":
        return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + pg_name
    if db == "sqlite":
        return f"sqlite:///{sqlite_path}"
    raise SystemExit(f"--db must be postgres or sqlite, not {db!r}")


def configure_environment(db: str, *, name: str = "cosmosquest_bench", **extra: str) -> None:
    """Environment for this process and every process it spawns (spawn copies os.environ)."""
    from cryptography.fernet import Fernet

    sys.path.insert(0, str(ROOT))
    os.environ["BENCH_DB_NAME"] = name
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "cosmosquest.settings",
            "DEBUG": "false",
            "SECRET_KEY": "bench-" + "x" * 50,
            "KEY_ENCRYPTION_KEYS": os.environ.get("BENCH_FERNET_KEY") or Fernet.generate_key().decode(),
            "DATABASE_URL": database_url(db),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),  # INFO shows every retry
            **extra,
        }
    )
    os.environ["BENCH_FERNET_KEY"] = os.environ["KEY_ENCRYPTION_KEYS"]


def create_database(db: str) -> None:
    """A fresh, migrated benchmark database."""
    pg_name, sqlite_path = _names()
    if db == "postgres":
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {pg_name} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {pg_name}")
    else:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{sqlite_path}{suffix}").unlink(missing_ok=True)
    for command in (["migrate", "--noinput", "-v0"], ["createcachetable"]):
        subprocess.run([sys.executable, str(ROOT / "manage.py"), *command], check=True, env=os.environ.copy())


def setup_django() -> None:
    import django

    django.setup()


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=1000, method="inclusive")[min(998, max(0, int(q * 1000) - 1))]
