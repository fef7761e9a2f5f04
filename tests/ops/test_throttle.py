"""Every limit is a moving window in the shared store (cosmosquest.throttle): never more than N
in any period, wherever window edges would fall; taken atomically by concurrent workers; all of
a caller's windows or none; in the database's cache table and in Redis alike."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.db import connection

from cosmosquest import throttle
from cosmosquest.throttle import Limit, Rate, ThrottleUnavailable, address_units, check, take, used

pytestmark = pytest.mark.django_db(transaction=True)
REDIS_URL = "redis://127.0.0.1:6379/9"


def redis_reachable() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture(params=["database", "redis"])
def store(request, settings):
    """The windows in the cache table (the default) or in Redis (REDIS_URL deployments)."""
    if request.param == "redis":
        if not redis_reachable():
            pytest.skip(f"no Redis at {REDIS_URL}")
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                       "LOCATION": REDIS_URL, "KEY_PREFIX": "cq-test"}}
        from django.core.cache import cache

        cache.clear()
        yield "redis"
        cache.clear()
    else:
        yield "database"


@pytest.fixture
def clock(monkeypatch):
    """Time as the windows see it, moved by the test."""
    import time

    import limits.storage.redis

    import cosmosquest.cache

    now = [time.time()]
    fake = SimpleNamespace(time=lambda: now[0])
    for module in (throttle, cosmosquest.cache, limits.storage.redis):
        monkeypatch.setattr(module, "time", fake)
    return now


def limit(count: int = 5, seconds: int = 60, name: str = "test.window", identity: str = "who") -> Limit:
    return Limit(name, identity, Rate(count, seconds))


def test_a_window_edge_lets_no_burst_through(store, clock):
    """Five at the end of one minute, then nothing more until the first of them is a minute old:
    a fixed window would have let five more through a second later."""
    five = [limit(5, 60)]
    start = clock[0]
    for i in range(5):
        clock[0] = start + 59.0 + i * 0.1
        assert take(five) is None
    for later in (1.5, 30.0, 59.9):
        clock[0] = start + 59.0 + later
        refusal = take(five)
        assert refusal is not None and refusal.name == "test.window" and refusal.limit == 5
        assert 0 <= refusal.seconds_left <= 60 - later + 1
    clock[0] = start + 59.0 + 60.05
    assert take(five) is None  # the first entry has left the window: exactly one place
    assert take(five) is not None


def test_over_a_long_run_no_period_holds_more_than_the_limit(store, clock):
    window = [limit(3, 10)]
    start, taken = clock[0], []
    for step in range(120):  # one attempt every 0.5 s for a minute
        clock[0] = start + step * 0.5
        if take(window) is None:
            taken.append(clock[0])
    assert all(sum(1 for t in taken if at <= t < at + 10) <= 3 for at in taken)
    assert len(taken) >= 15  # and it does admit: three per ten seconds over the minute


def test_a_refusal_by_one_window_takes_nothing_from_the_others(store):
    session, address = limit(5, 3600, "test.session", "s1"), limit(1, 3600, "test.address", "a1")
    assert take([session, address]) is None
    refusal = take([session, address])
    assert refusal.name == "test.address"
    assert used(session) == 1  # the session's count did not move for the refused attempt
    assert check([session]) is None


def test_windows_are_per_identity_and_per_name(store):
    assert take([limit(1, identity="a")]) is None
    assert take([limit(1, identity="b")]) is None
    assert take([limit(1, name="other", identity="a")]) is None
    assert take([limit(1, identity="a")]) is not None


def test_a_quota_that_grows_keeps_its_count(store):
    # The key holds the period, not the count: an account whose quota grows from 2 to 3 has one left.
    assert [take([limit(2)]) for _ in range(2)] == [None, None]
    assert take([limit(2)]) is not None
    assert take([limit(3)]) is None
    assert take([limit(3)]) is not None


def test_concurrent_workers_never_take_more_than_the_limit(store):
    window = [limit(25, 3600, identity="crowd")]
    results: list[bool] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def worker() -> None:
        try:
            barrier.wait()
            for _ in range(10):
                outcome = take(window) is None
                with lock:
                    results.append(outcome)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(results) == 80 and results.count(True) == 25
    assert used(window[0]) == 25


def test_a_missing_cache_table_is_an_error_callers_can_handle():
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE cosmosquest_cache")
    try:
        with pytest.raises(ThrottleUnavailable):
            take([limit()])
    finally:
        call_command("createcachetable")


def test_addresses_are_counted_by_what_one_client_holds():
    assert address_units("203.0.113.7") == {"address": "ipv4:203.0.113.7"}
    assert address_units("::ffff:203.0.113.7") == address_units("203.0.113.7")
    # A home gets a /56 (or a /48): its /64s are one address; a /48 is a network of its own.
    assert address_units("2001:db8:1:2aa:1::1") == address_units("2001:db8:1:2ff:2::2") == {
        "address": "ipv6:2001:db8:1:200::/56",
        "network": "ipv6:2001:db8:1::/48",
    }
    assert address_units("2001:db8:1:300::1")["address"] != address_units("2001:db8:1:200::1")["address"]
    assert address_units("2001:db8:1:300::1")["network"] == address_units("2001:db8:1:200::1")["network"]
    assert address_units("2001:db8:2::1")["network"] != address_units("2001:db8:1::1")["network"]
    assert address_units("") == address_units(None) == address_units("garbage") == {"address": "unknown"}


@pytest.mark.parametrize("text, count, seconds", [("5/h", 5, 3600), ("20/15m", 20, 900), ("3/d", 3, 86400),
                                                  ("10/s", 10, 1), ("0/h", 0, 3600)])
def test_rates_read_as_the_settings_write_them(text, count, seconds):
    rate = Rate.parse(text)
    assert (rate.count, rate.seconds) == (count, seconds)
    assert Rate.parse(str(rate)) == rate


@pytest.mark.parametrize("text", ["5", "5/x", "five/h", "5/0m", ""])
def test_a_malformed_rate_is_refused(text):
    with pytest.raises(ValueError):
        Rate.parse(text)
