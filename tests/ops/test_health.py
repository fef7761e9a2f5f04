"""/healthz answers while the process runs; /readyz checks the database, the cache and the
cluster's heartbeat, and names what failed with a 503."""

from __future__ import annotations

import pytest
from django.db import connection

from tests.ops.test_status_api import database_unreachable

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _no_cluster_check(settings):
    settings.READYZ_CLUSTER_MAX_AGE = 0  # tests run no cluster unless they say so
    settings.SECURE_SSL_REDIRECT = True  # as in production: health checks still answer over HTTP


@pytest.fixture
def cache_unreachable(settings):
    """The default cache moved to where nothing answers: a Redis port nobody listens on, or a
    cache table that does not exist (settings changes reset Django's cache handlers)."""
    default = dict(settings.CACHES["default"])
    if "redis" in default["BACKEND"]:
        default["LOCATION"] = "redis://127.0.0.1:1/0"
    else:
        default["LOCATION"] = "cosmosquest_no_such_cache_table"
    settings.CACHES = {**settings.CACHES, "default": default}


def test_healthz_answers_without_the_database_or_a_host_name(client):
    with database_unreachable():
        response = client.get("/healthz", HTTP_HOST="10.0.0.7")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert "no-store" in response["Cache-Control"]


def test_readyz_is_ready_with_database_and_cache(client):
    response = client.get("/readyz", HTTP_HOST="10.0.0.7")
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["status"] == "ready"
    assert data["checks"]["database"]["ok"] and data["checks"]["cache"]["ok"] and data["checks"]["cluster"]["ok"]


def test_readyz_with_the_database_down_is_503_naming_it(client):
    with database_unreachable():
        response = client.get("/readyz")
    assert response.status_code == 503 and response["Retry-After"]
    checks = response.json()["checks"]
    assert checks["database"]["ok"] is False and checks["database"]["error"] == "OperationalError"


def test_readyz_with_the_cache_down_is_503_naming_it(client, cache_unreachable):
    response = client.get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["cache"]["ok"] is False and checks["database"]["ok"] is True
    assert checks["cluster"]["ok"] is False


def test_readyz_wants_a_cluster_heartbeat_when_asked(client, settings):
    settings.READYZ_CLUSTER_MAX_AGE = 60
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["cluster"] == {"ok": False, "clusters": 0, "last_heartbeat_age": None,
                                                      "ms": response.json()["checks"]["cluster"]["ms"]}


def test_readyz_sees_a_running_clusters_heartbeat(client, settings):
    """django-q2's own status record, as a running cluster saves it every half second."""
    from django_q.brokers import get_broker
    from django_q.signing import SignedPackage
    from django_q.status import Stat, Status

    settings.READYZ_CLUSTER_MAX_AGE = 60
    # What Stat(sentinel).save() stores: a signed status with its time, for 3 seconds.
    get_broker().set_stat(Stat.get_key("c1"), SignedPackage.dumps(Status(pid=4242, cluster_id="c1"), True), 3)
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    cluster = response.json()["checks"]["cluster"]
    assert cluster["clusters"] == 1 and cluster["last_heartbeat_age"] < 5


def test_health_endpoints_never_touch_the_session(client):
    connection.queries_log.clear()
    response = client.get("/healthz")
    assert "Set-Cookie" not in response and "Vary" not in response
