"""Test settings: the real settings module, with fixed test secrets and short budgets."""

import os
import tempfile

os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production-0123456789abcdefghijklmnop")
# A fixed Fernet key so tests are repeatable; real deployments set their own.
os.environ.setdefault("KEY_ENCRYPTION_KEYS", "Zmlyc3Qta2V5LWZvci10ZXN0cy1vbmx5LTAwMDAwMDA=")
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")

from cosmosquest.settings import *  # noqa: E402,F403
from cosmosquest.settings import DATABASES, KEYMANAGER  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
GROQ_BASE_URL = "http://127.0.0.1:9"  # tests point this at their stand-in server
OPENAI_BASE_URL = "http://127.0.0.1:9/v1"

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not memory: threads and processes need real SQLite locking (WAL, IMMEDIATE).
    DATABASES["default"]["TEST"] = {
        "NAME": os.path.join(tempfile.gettempdir(), f"cosmosquest-test-{os.getpid()}.sqlite3")
    }

KEYMANAGER = {**KEYMANAGER, "wait_budget": 3.0, "request_timeout": 2.0, "error_cooldown": 30.0}
Q_CLUSTER = {**Q_CLUSTER, "sync": True}  # noqa: F405
