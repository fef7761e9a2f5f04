"""The store behind every limit is shared by every worker and host: the database's cache table
by default (incremented atomically, expiry kept; the limits' windows under a row lock), Redis
when REDIS_URL is set, never a per-process memory cache; the table exists wherever `migrate`
runs, and the deploy check and /api/status say when it does not."""

from __future__ import annotations

import multiprocessing
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.core.cache import cache, caches
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection

from cosmosquest import throttle
from tests.ops.test_deploy import manage, production_env

ROOT = Path(__file__).resolve().parents[2]


def count_in_other_process(db_name: str, key: str, queue) -> None:
    """Another OS process (as another gunicorn worker or host would be) increments the counter."""
    from tests.workers import setup_django

    setup_django(db_name, {})
    from django.core.cache import cache as other_cache
    from django.db import connection as other_connection

    queue.put(other_cache.incr(key))
    other_connection.close()


@pytest.mark.django_db(transaction=True)
def test_increments_from_many_threads_are_never_lost():
    cache.set("launches", 0, 600)

    def bump() -> None:
        try:
            for _ in range(10):
                cache.incr("launches")
        finally:
            connection.close()

    threads = [threading.Thread(target=bump) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert cache.get("launches") == 80


@pytest.mark.django_db
def test_an_increment_keeps_the_counters_expiry():
    cache.add("window", 1, 2)
    assert cache.incr("window") == 2
    time.sleep(2.2)
    # A plain DatabaseCache.incr re-sets the value with the default timeout (300 s): the count
    # would outlive its window. Here it expires on time, and incr says so.
    assert cache.get("window") is None
    with pytest.raises(ValueError):
        cache.incr("window")


@pytest.mark.django_db(transaction=True)
def test_another_process_sees_and_adds_to_the_same_count():
    cache.add("shared", 5, 600)
    queue = multiprocessing.get_context("spawn").Queue()
    worker = multiprocessing.get_context("spawn").Process(
        target=count_in_other_process, args=(connection.settings_dict["NAME"], "shared", queue), daemon=True
    )
    worker.start()
    worker.join(120)
    assert queue.get(timeout=5) == 6
    assert cache.get("shared") == 6


def settings_of(tmp_path, expression: str, **env: str) -> subprocess.CompletedProcess:
    code = f"import django; django.setup(); from django.conf import settings; print(repr(({expression},)))"
    return subprocess.run(
        [sys.executable, "-c", code], env={**production_env(tmp_path, **env), "PYTHONPATH": str(ROOT)},
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )


def test_the_cache_is_the_database_table_by_default_and_redis_with_redis_url(tmp_path):
    default = settings_of(tmp_path, "settings.CACHES['default']['BACKEND'], settings.CACHES['default']['LOCATION']")
    assert default.stdout.strip() == "('cosmosquest.cache.AtomicDatabaseCache', 'cosmosquest_cache')", default.stderr
    redis = settings_of(tmp_path, "settings.CACHES['default']['BACKEND'], settings.CACHES['default']['LOCATION'], "
                        "settings.Q_CLUSTER.get('redis')", REDIS_URL="redis://127.0.0.1:6379/3")
    assert redis.stdout.strip() == (
        "('django.core.cache.backends.redis.RedisCache', 'redis://127.0.0.1:6379/3', 'redis://127.0.0.1:6379/3')"
    ), redis.stderr


def test_no_configuration_counts_in_process_memory(settings):
    for alias in settings.CACHES:
        backend = caches[alias].__class__.__name__
        assert backend not in ("LocMemCache", "DummyCache", "FileBasedCache"), alias
    assert throttle.windows().__class__.__name__ == "CacheTableWindows"


def test_limits_refuse_a_cache_that_is_not_shared(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    with pytest.raises(ImproperlyConfigured, match="not shared by every worker"):
        throttle.windows()


@pytest.mark.django_db(transaction=True)
def test_another_process_takes_from_the_same_window():
    """As another gunicorn worker or host would: the window's last entry is taken once."""
    limit = throttle.Limit("test.shared", "who", throttle.Rate(3, 3600))
    assert throttle.take([limit]) is None and throttle.take([limit]) is None
    queue = multiprocessing.get_context("spawn").Queue()
    worker = multiprocessing.get_context("spawn").Process(
        target=take_in_other_process, args=(connection.settings_dict["NAME"], queue), daemon=True
    )
    worker.start()
    worker.join(120)
    assert queue.get(timeout=5) == [True, False]
    assert throttle.take([limit]) is not None and throttle.used(limit) == 3


def take_in_other_process(db_name: str, queue) -> None:
    from tests.workers import setup_django

    setup_django(db_name, {})
    from django.db import connection as other_connection

    from cosmosquest import throttle as other_throttle

    limit = other_throttle.Limit("test.shared", "who", other_throttle.Rate(3, 3600))
    queue.put([other_throttle.take([limit]) is None for _ in range(2)])
    other_connection.close()


@pytest.mark.django_db
def test_a_missing_cache_table_fails_the_deploy_check_and_shows_on_the_status(client, pool_factory):
    pool_factory(orgs=1)
    assert not [m for m in run_checks(include_deployment_checks=True, databases=["default"])
                if m.id == "cosmosquest.E001"]
    healthy = client.get("/api/status").json()
    assert healthy["cache"] == {"ok": True} and healthy["status"] == "ok"
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE cosmosquest_cache")
    try:
        errors = [m for m in run_checks(include_deployment_checks=True, databases=["default"])
                  if m.id == "cosmosquest.E001"]
        assert len(errors) == 1 and "createcachetable" in errors[0].msg
        assert not [m for m in run_checks(databases=["default"]) if m.id == "cosmosquest.E001"]  # not in migrate's
        data = client.get("/api/status").json()
        assert data["cache"]["ok"] is False and "createcachetable" in data["cache"]["problem"]
        assert data["status"] == "degraded"  # the keys can serve; the missions cannot go live
    finally:
        call_command("createcachetable")


def test_the_web_unit_checks_the_database_with_its_deploy_check():
    from tests.ops.test_deploy import web_unit_check_command

    args = web_unit_check_command()
    assert args[:2] == ["check", "--deploy"] and "--database" in args


@pytest.mark.django_db
def test_the_test_database_has_the_cache_table():
    assert "cosmosquest_cache" in connection.introspection.table_names()


def test_createcachetable_runs_wherever_migrate_runs():
    recipes = [ROOT / "Makefile", ROOT / ".ci" / "run", *sorted(p for p in (ROOT / "deploy").iterdir() if p.is_file()),
               *sorted((ROOT / "bench").glob("*.py"))]
    migrating = [path for path in recipes if re.search(r"manage\.py\"?,? \"?migrate|[\"']migrate[\"']", path.read_text())]
    assert ROOT / "bench" / "common.py" in migrating
    for path in migrating:
        assert "createcachetable" in path.read_text(), f"{path.relative_to(ROOT)} runs migrate without createcachetable"
    # Every Makefile line that migrates a database is followed by one that creates its cache table.
    lines = (ROOT / "Makefile").read_text().splitlines()
    migrations = [i for i, line in enumerate(lines) if "manage.py migrate" in line]
    assert len(migrations) >= 2  # the development database (make migrate) and the demo's own
    for i in migrations:
        database = lines[i].split("$(BIN)")[0]
        assert lines[i + 1].startswith(database) and "manage.py createcachetable" in lines[i + 1], lines[i]
    # The production recipe migrates once per release, from one host: the same line creates the table.
    readme = (ROOT / "README.md").read_text()
    production = readme[readme.index("## Production"):]
    assert "manage.py migrate && manage.py createcachetable" in production


def test_a_malformed_rate_stops_start_up_with_a_clear_message(tmp_path):
    result = manage(production_env(tmp_path, QUESTS_LIVE_RATE_GUEST="lots"), "check")
    assert result.returncode != 0
    assert "QUESTS_LIVE_RATE_GUEST='lots' is not a rate such as 5/h" in result.stderr


def test_env_example_lists_every_variable_the_settings_read():
    source = (ROOT / "cosmosquest" / "settings.py").read_text()
    read = set(re.findall(r'_(?:get|required)\("([A-Z0-9_]+)"', source)) | set(re.findall(r'env\.list\("([A-Z_]+)"', source))
    listed = {line.split("=", 1)[0].lstrip("# ").strip() for line in (ROOT / ".env.example").read_text().splitlines()
              if "=" in line}
    assert read - listed == set()
