"""CosmosQuest settings: one module, every value read from the environment.

`.env.example` lists every variable. With DEBUG off, a missing SECRET_KEY or
KEY_ENCRYPTION_KEYS stops start-up; with DEBUG on, development values are generated once
into the git-ignored `.dev-secrets.env` so that the first `make run` just works. A checkout
that has that file is a development checkout: DEBUG defaults to on there, so that
`manage.py ...` works as the README prints it.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from cosmosquest.database import database_config
from cosmosquest.devsecrets import ensure_dev_secrets

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A local .env is optional; real deployments set the environment directly.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)


def _get(name: str, default, cast):
    """Read one variable; empty means unset; a bad value is a clear start-up error."""
    raw = env.str(name, default="").strip()
    if raw == "":
        return default
    try:
        return cast(raw)
    except ValueError:
        expected = {
            int: "a whole number",
            float: "a number",
            _bool: "true or false",
            _rate: "a rate such as 5/h (a count per s, m, h or d)",
            _proxies: "a comma-separated list of addresses or networks such as 127.0.0.1,10.0.0.0/8",
        }.get(cast, "valid")
        raise ImproperlyConfigured(f"{name}={raw!r} is not {expected}.") from None


def _bool(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)


def _rate(raw: str) -> str:
    """A count per period, `5/h`, `100/d`, `10/15m` (cosmosquest.throttle.Rate reads it)."""
    if not re.fullmatch(r"\d+/\d*[smhd]", raw) or re.fullmatch(r"\d+/0+[smhd]", raw):
        raise ValueError(raw)
    return raw


def _proxies(raw: str) -> list[str]:
    """Addresses or networks (`127.0.0.1`, `10.0.0.0/8`, `::1`, `*`), comma-separated."""
    entries = [entry.strip() for entry in raw.split(",") if entry.strip()]
    for entry in entries:
        if entry != "*":
            ipaddress.ip_network(entry, strict=False)  # ValueError names nothing: _get says which variable
    return entries


DEV_SECRETS = BASE_DIR / ".dev-secrets.env"
# Production sets DEBUG=false (deploy/production.env.example), so it never reads the file, and its
# `check --deploy` refuses DEBUG on (security.W018).
DEBUG = _get("DEBUG", DEV_SECRETS.exists(), _bool)
if DEBUG:
    ensure_dev_secrets(DEV_SECRETS, env)


def _required(name: str) -> str:
    value = env.str(name, default="").strip()
    if not value:
        raise ImproperlyConfigured(
            f"{name} is not set. Set it in the environment (see .env.example); on a development "
            "checkout run `make run` once (or set DEBUG=true) to have one generated into .dev-secrets.env."
        )
    return value


SECRET_KEY = _required("SECRET_KEY")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "cosmosquest.apps.CosmosQuestConfig",
    "keymanager",
    "quests",
    # After keymanager, whose `qcluster` command (one that stops on a signal) replaces django-q2's.
    "django_q",
    "axes",
]

MIDDLEWARE = [
    # First: X-Forwarded-* from a peer that is not one of TRUSTED_PROXIES is dropped unread.
    "cosmosquest.proxy.UntrustedForwardedHeadersMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "cosmosquest.security.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Failed logins per address, across usernames: refuses a login POST (429) while the window is full.
    "cosmosquest.accounts.LoginThrottleMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into a 429 page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "cosmosquest.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "cosmosquest.wsgi.application"

# SQLite is the embedded default. WAL lets readers run beside the one writer, and
# IMMEDIATE transactions take the write lock at BEGIN, which is what makes the key
# pool's "choose and stamp a key" transaction a real lock on SQLite.
DATABASES = {"default": database_config(_get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}", str))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
else:
    DATABASES["default"]["CONN_MAX_AGE"] = _get("CONN_MAX_AGE", 60, int)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Login throttling (django-axes): after AXES_FAILURE_LIMIT failed logins for one username from
# one address, that pair is refused (429) for AXES_COOLOFF_MINUTES, on the admin and the game's
# login alike. Username and address together, so a stranger cannot lock an admin out from
# elsewhere; a success resets the count. Attempts live in the database, shared by every worker.
# One backend (ModelBackend behind axes' check), so `login(request, user)` needs no backend name.
AUTHENTICATION_BACKENDS = ["cosmosquest.security.ThrottledModelBackend"]
AXES_FAILURE_LIMIT = _get("AXES_FAILURE_LIMIT", 5, int)
AXES_COOLOFF_TIME = _get("AXES_COOLOFF_MINUTES", 15, int) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "cosmosquest.proxy.client_ip"  # X-Forwarded-For only from TRUSTED_PROXIES
AXES_VERBOSE = False
# Peers whose X-Forwarded-For names the client (gunicorn's forwarded_allow_ips reads the same list):
# the TLS proxy in front of gunicorn. Anyone else is counted by their own address.
TRUSTED_PROXIES = _get("TRUSTED_PROXIES", ["127.0.0.1", "::1"], _proxies)
# Failed logins from one address (IPv4, or IPv6 /56) and one IPv6 /48, whatever the usernames (and
# sign-ups refused for a taken name, which tell as much): beyond, logins from there wait (429).
AUTH_FAILURE_RATE_ADDRESS = _get("AUTH_FAILURE_RATE_ADDRESS", "20/15m", _rate)
AUTH_FAILURE_RATE_NETWORK = _get("AUTH_FAILURE_RATE_NETWORK", "40/15m", _rate)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").is_dir() else []
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# Production hardening, driven by the environment so `check --deploy` can pass.
SECURE_SSL_REDIRECT = _get("SECURE_SSL_REDIRECT", False, _bool)
SESSION_COOKIE_SECURE = _get("SESSION_COOKIE_SECURE", not DEBUG, _bool)
CSRF_COOKIE_SECURE = _get("CSRF_COOKIE_SECURE", not DEBUG, _bool)
SECURE_HSTS_SECONDS = _get("SECURE_HSTS_SECONDS", 0, int)
SECURE_HSTS_INCLUDE_SUBDOMAINS = _get("SECURE_HSTS_INCLUDE_SUBDOMAINS", False, _bool)
SECURE_HSTS_PRELOAD = _get("SECURE_HSTS_PRELOAD", False, _bool)
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if _get("BEHIND_TLS_PROXY", False, _bool) else None
)

# --- Key pool ---------------------------------------------------------------------------
# Fernet keys, comma-separated: the first encrypts, all decrypt (MultiFernet).
KEY_ENCRYPTION_KEYS = [k.strip() for k in _required("KEY_ENCRYPTION_KEYS").split(",") if k.strip()]
# Keyed hash used for key fingerprints (duplicate detection). Kept apart from the
# encryption keys so that rotating those does not change fingerprints.
KEY_FINGERPRINT_SECRET = _get("KEY_FINGERPRINT_SECRET", "", str) or SECRET_KEY

GROQ_BASE_URL = _get("GROQ_BASE_URL", "https://api.groq.com", str)
OPENAI_BASE_URL = _get("OPENAI_BASE_URL", "https://api.openai.com/v1", str)
STATUS_TOKEN = _get("STATUS_TOKEN", "", str)

KEYMANAGER = {
    # "smart": most headroom, ties to least recently used; "quest": quest N -> N-th key.
    "strategy": _get("KEYMANAGER_STRATEGY", "smart", str),
    # Failed attempts retried per logical call (on other keys first).
    "max_retries": _get("KEYMANAGER_MAX_RETRIES", 3, int),
    # Cooldown after a 429 when the provider names no retry time, seconds.
    "rate_limit_cooldown": _get("KEYMANAGER_RATE_LIMIT_COOLDOWN", 60.0, float),
    # First error cooldown; doubles with each repeat up to error_cooldown_cap.
    "error_cooldown": _get("KEYMANAGER_ERROR_COOLDOWN", 30.0, float),
    "error_cooldown_cap": _get("KEYMANAGER_ERROR_COOLDOWN_CAP", 900.0, float),
    "max_errors_before_cooldown": _get("KEYMANAGER_MAX_ERRORS_BEFORE_COOLDOWN", 3, int),
    # Cooldown of an organization that hit its spend cap (400 blocked_api_access).
    "spend_cap_cooldown": _get("KEYMANAGER_SPEND_CAP_COOLDOWN", 3600.0, float),
    # One overall time budget per logical call (waiting for a key included), seconds.
    "wait_budget": _get("KEYMANAGER_WAIT_BUDGET", 20.0, float),
    # Timeout of one HTTP attempt, seconds.
    "request_timeout": _get("KEYMANAGER_REQUEST_TIMEOUT", 15.0, float),
    "default_model": _get("KEYMANAGER_DEFAULT_MODEL", "openai/gpt-oss-20b", str),
    # Used when the provider answers 400 model_decommissioned for the requested model.
    "alternate_model": _get("KEYMANAGER_ALTERNATE_MODEL", "openai/gpt-oss-120b", str),
    "openai_model": _get("KEYMANAGER_OPENAI_MODEL", "gpt-4o-mini", str),
}

# Operator surface: an outage shorter than this (seconds) sends no alert; usage-log rows
# older than the retention are pruned daily (rollups keep the history); dashboard refresh.
KEYMANAGER_ALERT_MIN_OUTAGE = _get("KEYMANAGER_ALERT_MIN_OUTAGE", 120, int)
KEYMANAGER_USAGE_RETENTION_DAYS = _get("KEYMANAGER_USAGE_RETENTION_DAYS", 30, int)
KEYMANAGER_DASHBOARD_REFRESH_SECONDS = _get("KEYMANAGER_DASHBOARD_REFRESH_SECONDS", 10, int)

# --- The game (quests/conf.py has the defaults and what each means) ----------------------
QUESTS = {
    "buffer_size": _get("QUESTS_BUFFER_SIZE", 3, int),
    "refills_per_run": _get("QUESTS_REFILLS_PER_RUN", 5, int),
    "prefetch_min_headroom": _get("QUESTS_PREFETCH_MIN_HEADROOM", 0.5, float),
    "refill_on_serve": _get("QUESTS_REFILL_ON_SERVE", True, _bool),
    # Live missions are written by the django-q2 cluster; the player's progress page falls back
    # to the archive after this many seconds (also when no cluster is running).
    "live_wait_seconds": _get("QUESTS_LIVE_WAIT_SECONDS", 10, int),
    # Live missions being written at once; beyond this a launch gets the buffer or the archive
    # at once instead of queueing behind the others. Default: one per cluster worker.
    "live_max_in_flight": _get("QUESTS_LIVE_MAX_IN_FLIGHT", _get("Q_WORKERS", 2, int), int),
    # Missions that cost an LLM call (live, or buffered and refilled) per guest session, per
    # address and IPv6 /48 (guests), per account (new accounts start lower) and per address and
    # /48 (signed-in players).
    "live_rate_guest": _get("QUESTS_LIVE_RATE_GUEST", "5/h", _rate),
    "live_rate_address": _get("QUESTS_LIVE_RATE_ADDRESS", "20/h", _rate),
    "live_rate_network": _get("QUESTS_LIVE_RATE_NETWORK", "40/h", _rate),
    "live_rate_player": _get("QUESTS_LIVE_RATE_PLAYER", "30/h", _rate),
    "live_rate_new_player": _get("QUESTS_LIVE_RATE_NEW_PLAYER", "5/h", _rate),
    "live_rate_player_address": _get("QUESTS_LIVE_RATE_PLAYER_ADDRESS", "60/h", _rate),
    "live_rate_player_network": _get("QUESTS_LIVE_RATE_PLAYER_NETWORK", "120/h", _rate),
    # New accounts per address and per IPv6 /48.
    "signup_rate_address": _get("QUESTS_SIGNUP_RATE_ADDRESS", "3/d", _rate),
    "signup_rate_network": _get("QUESTS_SIGNUP_RATE_NETWORK", "6/d", _rate),
    # Guests get live missions only while the pool has more than this share of its limits
    # free; the rest is kept for signed-in players.
    "guest_min_headroom": _get("QUESTS_GUEST_MIN_HEADROOM", 0.5, float),
    "xp_cap_per_quest_per_day": _get("QUESTS_XP_CAP_PER_QUEST_PER_DAY", 150, int),
}

# --- django-q2: ORM broker by default, Redis when REDIS_URL is set -----------------------
REDIS_URL = _get("REDIS_URL", "", str)
Q_CLUSTER = {
    "name": "cosmosquest",
    "workers": _get("Q_WORKERS", 2, int),
    "timeout": 120,
    "retry": 180,  # must stay above timeout, or a slow task is delivered twice
    "max_attempts": 3,
    "catch_up": False,
    "save_limit": 500,
    "orm": "default",
    # How long the ORM broker sleeps when its queue is empty: a live mission waits up to this
    # long before a worker takes it. One indexed query per interval per cluster; Redis blocks
    # on the list instead and picks tasks up at once.
    "poll": _get("Q_POLL_SECONDS", 0.1, float),
}
if REDIS_URL:
    Q_CLUSTER.pop("orm")
    Q_CLUSTER["redis"] = REDIS_URL

# --- Shared cache: every limit's moving windows (cosmosquest.throttle) and the cluster's stats ---
# Every worker on every host must count in one place: the database's cache table by default
# (`manage.py createcachetable` runs wherever `migrate` runs), Redis when REDIS_URL is set.
# Never a per-process memory cache: a limit counted per process is multiplied by the processes.
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "cosmosquest",
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "cosmosquest.cache.AtomicDatabaseCache",
            "LOCATION": "cosmosquest_cache",
            # Culling past this deletes live entries at random, limit counters included: keep it
            # far above the counters one window can hold (expired entries are culled first).
            "OPTIONS": {"MAX_ENTRIES": 50000},
        }
    }

EMAIL_BACKEND = _get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend",
    str,
)
ADMINS = [tuple(a.split(":", 1)) for a in env.list("ADMINS", default=[]) if ":" in a]
SERVER_EMAIL = _get("SERVER_EMAIL", "cosmosquest@localhost", str)

# --- Operations: /metrics, /healthz, /readyz, request ids, logs, PgBouncer, connection pool ---
# (cosmosquest/observability/; the deploy recipe in README "Production" says how they are used)

from cosmosquest.observability.logs import logging_config  # noqa: E402


def _networks(raw: str) -> list:
    return [ipaddress.ip_network(part.strip(), strict=False) for part in raw.split(",") if part.strip()]


INSTALLED_APPS.append("cosmosquest.observability")
# First: health checks answered before host validation and the HTTPS redirect; then the request
# id, set before anything logs.
MIDDLEWARE[:0] = [
    "cosmosquest.observability.middleware.HealthMiddleware",
    "cosmosquest.observability.middleware.RequestIdMiddleware",
]
# /metrics: a bearer token (STATUS_TOKEN when this is unset) or a client in these networks
# (comma-separated CIDR, matched against the connection's own address, never a forwarded one).
METRICS_TOKEN = _get("METRICS_TOKEN", "", str)
METRICS_ALLOWED_NETWORKS = _get("METRICS_ALLOWED_NETWORKS", [], _networks)
# prometheus-client's multiprocess directories this host's /metrics adds up (gunicorn's and the
# cluster's). Each process writes to the one in its own PROMETHEUS_MULTIPROC_DIR.
METRICS_MULTIPROC_DIRS = env.list(
    "METRICS_MULTIPROC_DIRS", default=[d for d in [env.str("PROMETHEUS_MULTIPROC_DIR", default="")] if d]
)
# /readyz fails when no django-q2 cluster saved a heartbeat within this many seconds; 0: not checked.
READYZ_CLUSTER_MAX_AGE = _get("READYZ_CLUSTER_MAX_AGE", 60, int)

LOG_FORMAT = _get("LOG_FORMAT", "plain", str)
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT={LOG_FORMAT!r} is not plain or json.")
LOGGING = logging_config(log_format=LOG_FORMAT, level=_get("LOG_LEVEL", "INFO", str))
# A request for a host not in ALLOWED_HOSTS is a scanner's, not a fault: one line on the console,
# never a mail to ADMINS (Django's default sends one per request).
LOGGING["loggers"]["django.security.DisallowedHost"] = {"handlers": ["console"], "level": "WARNING",
                                                        "propagate": False}

if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", _get("DATABASE_CONNECT_TIMEOUT", 5, int))
    # Behind PgBouncer in transaction pooling each transaction may run on another server
    # connection: no server-side cursors (Django's .iterator() would lose its cursor between
    # fetches). Prepared statements are off already (Django's default for psycopg 3).
    if _get("DATABASE_PGBOUNCER", False, _bool):
        DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
    # Django's own connection pool (psycopg-pool), one per process: connections are reused
    # without CONN_MAX_AGE (which the pool replaces).
    if _get("DATABASE_POOL", False, _bool):
        DATABASES["default"]["OPTIONS"]["pool"] = {
            "min_size": _get("DATABASE_POOL_MIN_SIZE", 1, int),
            "max_size": _get("DATABASE_POOL_MAX_SIZE", 4, int),
            "timeout": _get("DATABASE_POOL_TIMEOUT", 10, int),
        }
        DATABASES["default"]["CONN_MAX_AGE"] = 0
