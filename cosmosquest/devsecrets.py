"""Development secrets: generated once so that the first run with DEBUG on just works."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import environ
from cryptography.fernet import Fernet


def ensure_dev_secrets(path: Path, env: environ.Env) -> None:
    """Fill SECRET_KEY and KEY_ENCRYPTION_KEYS from `path`, creating it when missing.

    Values already in the environment win. The file is git-ignored and only ever read
    with DEBUG on; production must set both variables itself.
    """
    if not path.exists():
        path.write_text(
            "# Generated for development (DEBUG on). Never use these in production.\n"
            f"SECRET_KEY={secrets.token_urlsafe(50)}\n"
            f"KEY_ENCRYPTION_KEYS={Fernet.generate_key().decode()}\n"
        )
        path.chmod(0o600)
    for line in path.read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and not name.startswith("#") and not os.environ.get(name.strip()):
            os.environ[name.strip()] = value.strip()
