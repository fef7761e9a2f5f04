"""CosmosQuest settings: one module, every value read from the environment.

`.env.example` lists every variable. With DEBUG off, a missing SECRET_KEY or
KEY_ENCRYPTION_KEYS stops start-up; with DEBUG on, development values are generated once
into the git-ignored `.dev-secrets.env` so that the first `make run` just works.
"""

from __future__ import annotations

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from cosmosquest.devsecrets import ensure_dev_secrets

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A local .env is optional; real deployments set the environment directly.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
if DEBUG:
    ensure_dev_secrets(BASE_DIR / ".dev-secrets.env", env)


def _required(name: str) -> str:
    value = env.str(name, default="").strip()
    if not value:
        raise ImproperlyConfigured(
            f"{name} is not set. Set it in the environment (see .env.example); "
            "in development set DEBUG=true to have one generated."
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
    "django_q",
    "keymanager",
    "quests",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
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
DATABASES = {
    "default": env.db_url(
        "DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

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
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_TLS_PROXY", default=False) else None
)

# --- Key pool ---------------------------------------------------------------------------
# Fernet keys, comma-separated: the first encrypts, all decrypt (MultiFernet).
KEY_ENCRYPTION_KEYS = [k.strip() for k in _required("KEY_ENCRYPTION_KEYS").split(",") if k.strip()]
# Keyed hash used for key fingerprints (duplicate detection). Kept apart from the
# encryption keys so that rotating those does not change fingerprints.
KEY_FINGERPRINT_SECRET = env.str("KEY_FINGERPRINT_SECRET", default="") or SECRET_KEY

GROQ_BASE_URL = env.str("GROQ_BASE_URL", default="https://api.groq.com")
OPENAI_BASE_URL = env.str("OPENAI_BASE_URL", default="https://api.openai.com/v1")
STATUS_TOKEN = env.str("STATUS_TOKEN", default="")

KEYMANAGER = {
    # "smart": most headroom, ties to least recently used; "quest": quest N -> N-th key.
    "strategy": env.str("KEYMANAGER_STRATEGY", default="smart"),
    # Failed attempts retried per logical call (on other keys first).
    "max_retries": env.int("KEYMANAGER_MAX_RETRIES", default=3),
    # Cooldown after a 429 when the provider names no retry time, seconds.
    "rate_limit_cooldown": env.float("KEYMANAGER_RATE_LIMIT_COOLDOWN", default=60.0),
    # First error cooldown; doubles with each repeat up to error_cooldown_cap.
    "error_cooldown": env.float("KEYMANAGER_ERROR_COOLDOWN", default=30.0),
    "error_cooldown_cap": env.float("KEYMANAGER_ERROR_COOLDOWN_CAP", default=900.0),
    "max_errors_before_cooldown": env.int("KEYMANAGER_MAX_ERRORS_BEFORE_COOLDOWN", default=3),
    # Cooldown of an organization that hit its spend cap (400 blocked_api_access).
    "spend_cap_cooldown": env.float("KEYMANAGER_SPEND_CAP_COOLDOWN", default=3600.0),
    # One overall time budget per logical call (waiting for a key included), seconds.
    "wait_budget": env.float("KEYMANAGER_WAIT_BUDGET", default=20.0),
    # Timeout of one HTTP attempt, seconds.
    "request_timeout": env.float("KEYMANAGER_REQUEST_TIMEOUT", default=15.0),
    "default_model": env.str("KEYMANAGER_DEFAULT_MODEL", default="openai/gpt-oss-20b"),
    # Used when the provider answers 400 model_decommissioned for the requested model.
    "alternate_model": env.str("KEYMANAGER_ALTERNATE_MODEL", default="openai/gpt-oss-120b"),
    "openai_model": env.str("KEYMANAGER_OPENAI_MODEL", default="gpt-4o-mini"),
}

# --- django-q2: ORM broker by default, Redis when REDIS_URL is set -----------------------
REDIS_URL = env.str("REDIS_URL", default="")
Q_CLUSTER = {
    "name": "cosmosquest",
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": 120,
    "retry": 180,  # must stay above timeout, or a slow task is delivered twice
    "max_attempts": 3,
    "catch_up": False,
    "save_limit": 500,
    "orm": "default",
}
if REDIS_URL:
    Q_CLUSTER.pop("orm")
    Q_CLUSTER["redis"] = REDIS_URL

EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
ADMINS = [tuple(a.split(":", 1)) for a in env.list("ADMINS", default=[]) if ":" in a]
SERVER_EMAIL = env.str("SERVER_EMAIL", default="cosmosquest@localhost")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
