"""DATABASE_URL to Django's DATABASES entry, refusing what this project cannot run on."""

from __future__ import annotations

import warnings
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

SUPPORTED = {"django.db.backends.sqlite3", "django.db.backends.postgresql"}
EXAMPLES = "sqlite:////absolute/path/db.sqlite3 or postgres://user:password@host:5432/name"


def database_config(url: str) -> dict:
    """One DATABASES entry. A URL this project cannot use is a one-line start-up error naming
    DATABASE_URL; the URL itself is not repeated (it may hold a password), only its scheme."""
    scheme = urlsplit(url).scheme if "://" in url else ""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # django-environ warns, then returns an empty config
            config = environ.Env.db_url_config(url)
    except ValueError as exc:  # e.g. a port that is not a number
        raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL ({exc}); expected {EXAMPLES}.") from None
    if config.get("ENGINE") not in SUPPORTED:
        given = f"scheme {scheme!r}" if scheme else "no scheme"
        raise ImproperlyConfigured(f"DATABASE_URL has {given}: expected {EXAMPLES}.")
    if not config.get("NAME"):
        raise ImproperlyConfigured(f"DATABASE_URL names no database: expected {EXAMPLES}.")
    return config
