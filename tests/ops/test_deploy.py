"""Production settings: `check --deploy` is clean with the recipe's environment, start-up fails
clearly without its secrets, and the deploy/ recipe files are valid."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

pytestmark = pytest.mark.slow  # each test starts manage.py or gunicorn in a fresh process

ROOT = Path(__file__).resolve().parents[2]


RECIPE_ENV = ROOT / "deploy" / "production.env.example"
PLACEHOLDER = "change-me"


def recipe_env() -> dict[str, str]:
    """deploy/production.env.example as systemd's EnvironmentFile= reads it: KEY=VALUE lines,
    '#' comments."""
    env = {}
    for line in RECIPE_ENV.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";")):
            name, _, value = line.partition("=")
            env[name.strip()] = value.strip()
    return env


def production_env(tmp_path: Path, **overrides: str | None) -> dict[str, str]:
    """The shipped recipe file itself, with only its "change-me" placeholders filled in (as the
    operator is told to), plus what a systemd service has anyway."""
    fills = {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "KEY_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "STATUS_TOKEN": secrets.token_urlsafe(32),
    }
    env = {}
    for name, value in recipe_env().items():
        if PLACEHOLDER in value:
            value = fills.get(name) or value.replace(PLACEHOLDER, secrets.token_urlsafe(16))
        env[name] = value
    env.update(
        PATH=os.environ.get("PATH", "/usr/bin:/bin"),
        HOME=str(tmp_path),
        DJANGO_SETTINGS_MODULE="cosmosquest.settings",
    )
    env.update(overrides)
    return {k: v for k, v in env.items() if v is not None}


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    # A clean environment: only what production_env() sets (a local .env only fills in unset names).
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args], env=env, cwd=env["HOME"], capture_output=True, text=True,
        timeout=120,
    )


def web_unit_check_command() -> list[str]:
    """The arguments of manage.py in the web unit's ExecStartPre (what systemd runs)."""
    for line in (ROOT / "deploy" / "cosmosquest-web.service").read_text().splitlines():
        if line.startswith("ExecStartPre=") and "manage.py check" in line:
            return line.split("manage.py", 1)[1].split()
    raise AssertionError("the web unit runs no `manage.py check` before starting")


def test_the_web_units_check_passes_with_the_shipped_recipe_env(tmp_path):
    args = web_unit_check_command()
    assert args[:2] == ["check", "--deploy"] and "WARNING" in args
    result = manage(production_env(tmp_path), *args)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_the_recipe_env_as_shipped_fails_the_check_naming_its_placeholders(tmp_path):
    shipped = {**recipe_env(), "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
               "DJANGO_SETTINGS_MODULE": "cosmosquest.settings"}
    result = manage(shipped, *web_unit_check_command())
    assert result.returncode != 0
    for named in ("SECRET_KEY", "KEY_ENCRYPTION_KEYS", "STATUS_TOKEN"):
        assert named in result.stderr, named


def test_check_deploy_names_what_is_missing_without_https_settings(tmp_path):
    env = production_env(
        tmp_path, SECURE_SSL_REDIRECT="false", SECURE_HSTS_SECONDS="0", SECRET_KEY="short", ALLOWED_HOSTS=""
    )
    result = manage(env, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W009", "security.W020"):
        assert warning in result.stderr, warning


def test_start_up_refuses_missing_or_malformed_secrets(tmp_path):
    missing = manage(production_env(tmp_path, SECRET_KEY=""), "check")
    assert missing.returncode != 0 and "SECRET_KEY is not set" in missing.stderr
    missing = manage(production_env(tmp_path, KEY_ENCRYPTION_KEYS=""), "check")
    assert missing.returncode != 0 and "KEY_ENCRYPTION_KEYS is not set" in missing.stderr
    bad_bool = manage(production_env(tmp_path, SECURE_SSL_REDIRECT="sometimes"), "check")
    assert bad_bool.returncode != 0 and "SECURE_SSL_REDIRECT='sometimes' is not true or false" in bad_bool.stderr


def test_the_gunicorn_config_of_the_recipe_loads(tmp_path):
    gunicorn = Path(sys.executable).parent / "gunicorn"
    result = subprocess.run(
        [str(gunicorn), "--check-config", "-c", str(ROOT / "deploy" / "gunicorn.conf.py"), "cosmosquest.wsgi"],
        env={**production_env(tmp_path), "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_recipe_env_lists_every_production_setting():
    listed = {
        line.split("=", 1)[0].lstrip("# ").strip()
        for line in (ROOT / "deploy" / "production.env.example").read_text().splitlines()
        if "=" in line
    }
    required = {"DEBUG", "SECRET_KEY", "KEY_ENCRYPTION_KEYS", "ALLOWED_HOSTS", "DATABASE_URL", "BEHIND_TLS_PROXY",
                "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "STATUS_TOKEN", "REDIS_URL"}
    assert required <= listed, required - listed
    for unit in ("cosmosquest-web.service", "cosmosquest-qcluster.service"):
        text = (ROOT / "deploy" / unit).read_text()
        assert "EnvironmentFile=/etc/cosmosquest/production.env" in text and "Restart=always" in text
    # Only the main qcluster process gets SIGTERM; it stops the rest in order (test_qcluster_signals).
    assert "KillMode=mixed" in (ROOT / "deploy" / "cosmosquest-qcluster.service").read_text()


def nginx_servers() -> list[str]:
    """The `server { ... }` blocks of the nginx example, comments removed."""
    text = "\n".join(line.split("#", 1)[0] for line in (ROOT / "deploy" / "nginx.conf.example").read_text().splitlines())
    blocks, depth, start = [], 0, None
    for i, ch in enumerate(text):
        if ch == "{":
            if depth == 0:
                start = text.rfind("server", 0, i)
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                blocks.append(text[start : i + 1])
    return blocks


@pytest.mark.parametrize("port", ["80", "443", "[::]:80", "[::]:443"])
def test_nginx_drops_requests_for_unknown_hosts_before_django(port):
    """Scanners asking for another host name get no answer from nginx: Django never sees them."""
    defaults = [b for b in nginx_servers() if re.search(rf"listen\s+{re.escape(port)}\b[^;]*\bdefault_server", b)]
    assert len(defaults) == 1, port
    block = defaults[0]
    assert "proxy_pass" not in block
    assert "return 444;" in block or "ssl_reject_handshake on;" in block
    named = [b for b in nginx_servers() if "server_name cosmosquest.example.org" in b]
    assert named and all("default_server" not in b for b in named)


def test_nginx_overwrites_the_forwarded_for_header():
    proxied = [b for b in nginx_servers() if "proxy_pass" in b]
    assert proxied and all("proxy_set_header X-Forwarded-For $remote_addr;" in b for b in proxied)
