"""Shared fixtures: the Groq stand-in server with keys in the pool to match."""

from __future__ import annotations

import os
import secrets
import string
from dataclasses import dataclass, field

import pytest
from django.conf import settings as django_settings

from keymanager.models import Key, Provider
from keymanager.services.complete import forget_fallback
from keymanager.services.keys import key_add
from keymanager.services.providers import forget_clients
from keymanager.testing.groqstub import GroqStub
from tests.browser import browser_missing


def pytest_configure(config):
    # CI sets CQ_REQUIRE_BROWSER=1: a machine without chromium or Playwright must fail the run,
    # not skip the browser tests and pass.
    if os.environ.get("CQ_REQUIRE_BROWSER") == "1":
        missing = browser_missing()
        if missing:
            raise pytest.UsageError(f"CQ_REQUIRE_BROWSER=1 but the browser tests cannot run: {missing}")


def pytest_collection_modifyitems(config, items):
    on_postgres = django_settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    needs_postgres = pytest.mark.skip(reason="PostgreSQL only (run with DATABASE_URL=postgres://...)")
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(needs_postgres)
        if "browser" in item.keywords:
            item.add_marker(pytest.mark.slow)  # a chromium per test


ALPHABET = string.ascii_letters + string.digits
MODEL = "openai/gpt-oss-20b"


def make_secret(provider: str = Provider.GROQ) -> str:
    if provider == Provider.GROQ:
        return "gsk_" + "".join(secrets.choice(ALPHABET) for _ in range(52))
    return "sk-proj-" + "".join(secrets.choice(ALPHABET) for _ in range(48))


@dataclass
class Pool:
    stub: GroqStub
    keys: list[Key] = field(default_factory=list)
    secrets: dict[int, str] = field(default_factory=dict)
    openai_stub: GroqStub | None = None
    openai_keys: list[Key] = field(default_factory=list)

    def org_of(self, key: Key) -> str:
        return key.organization


@pytest.fixture
def pool_factory(settings):
    started: list[GroqStub] = []

    def start(
        *,
        orgs: int = 2,
        keys_per_org: int = 1,
        limits: dict | None = None,
        openai_keys: int = 0,
        **stub_kwargs,
    ) -> Pool:
        org_spec = {}
        pool_keys = []
        for o in range(orgs):
            org = f"org_{chr(ord('a') + o)}"
            secrets_ = [make_secret() for _ in range(keys_per_org)]
            org_spec[org] = {"keys": secrets_}
            if limits:
                org_spec[org]["limits"] = {MODEL: limits}
            pool_keys.extend((org, s) for s in secrets_)
        stub = GroqStub(orgs=org_spec, **stub_kwargs).start()
        started.append(stub)
        settings.GROQ_BASE_URL = stub.url
        pool = Pool(stub=stub)
        for i, (org, secret) in enumerate(pool_keys, start=1):
            key = key_add(provider=Provider.GROQ, name=f"groq-{i}", secret=secret, organization=org, order=i)
            pool.keys.append(key)
            pool.secrets[key.pk] = secret
        if limits:
            from keymanager.models import Limit

            for org in org_spec:
                Limit.objects.update_or_create(
                    provider=Provider.GROQ, organization=org, model=MODEL, defaults=limits
                )
        if openai_keys:
            o_secrets = [make_secret(Provider.OPENAI) for _ in range(openai_keys)]
            ostub = GroqStub(orgs={"openai_org": {"keys": o_secrets}}, flavor="openai", models=["gpt-4o-mini"]).start()
            started.append(ostub)
            settings.OPENAI_BASE_URL = ostub.url + "/v1"
            pool.openai_stub = ostub
            for i, secret in enumerate(o_secrets, start=1):
                key = key_add(provider=Provider.OPENAI, name=f"openai-{i}", secret=secret, organization="openai_org")
                pool.openai_keys.append(key)
                pool.secrets[key.pk] = secret
        forget_clients()
        return pool

    yield start
    for stub in started:
        stub.stop()
    forget_clients()


@pytest.fixture(autouse=True)
def _fresh_process_caches():
    # Whether OpenAI keys exist is cached per process for a few seconds; each test starts
    # with a fresh database.
    forget_fallback()
    yield


@pytest.fixture(autouse=True)
def _shared_cache_left_empty(django_db_blocker):
    """The live-mission limits count in the cache table, which is not a model: the flush after a
    transactional test leaves it alone, so empty it here, or one test's counts limit the next."""
    yield
    from django.core.cache import cache
    from django.db import connection

    # Once the test database exists, NAME is its name: the TEST name (SQLite here) or "test_" + the
    # original (PostgreSQL; _get_test_db_name() would then answer "test_test_...").
    name = str(connection.settings_dict["NAME"])
    if name != (connection.settings_dict.get("TEST") or {}).get("NAME") and not name.startswith("test_"):
        return  # no test database yet: nothing can have been counted
    with django_db_blocker.unblock():
        cache.clear()
