"""The README's command examples, run as printed on a development checkout: a copy of this one
after `make run` has migrated it (which generates .dev-secrets.env), with no DEBUG, SECRET_KEY
or KEY_ENCRYPTION_KEYS in the environment."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from tests.ops.test_deploy import ROOT

pytestmark = pytest.mark.slow

PRINTED = ".venv/bin/python manage.py "


def readme_commands() -> list[str]:
    """Command lines from the README, optional [...] parts left out; examples with a placeholder
    (ID, a | choice, input redirection) are skipped."""
    text = (ROOT / "README.md").read_text().replace("\\\n", " ")  # continued lines joined
    lines = re.findall(r"`(\.venv/bin/python manage\.py [^`]+)`", text)
    lines += [line for line in text.splitlines() if line.startswith(PRINTED)]
    commands = []
    for line in lines:
        command = re.sub(r"\s*\[[^\]]*\]", "", line.split("  #")[0]).strip()
        if not re.search(r"\bID\b|\||<|\.\.\.", command) and command not in commands:
            commands.append(command)
    return commands


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    copy = tmp_path_factory.mktemp("checkout")
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for name in tracked:
        if (ROOT / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, copy / name)
    (copy / ".venv").symlink_to(ROOT / ".venv")
    env = clean_env(copy)
    # What `make run` does first (Makefile: RUN_ENV=DEBUG=true, then migrate).
    migrate = subprocess.run(f"DEBUG=true {PRINTED}migrate --noinput -v0", shell=True, cwd=copy, env=env,
                             capture_output=True, text=True, timeout=300)
    assert migrate.returncode == 0, migrate.stderr
    assert (copy / ".dev-secrets.env").exists()
    return copy


def clean_env(home) -> dict[str, str]:
    drop = {"DEBUG", "SECRET_KEY", "KEY_ENCRYPTION_KEYS", "DATABASE_URL", "DJANGO_SETTINGS_MODULE", "REDIS_URL"}
    return {k: v for k, v in os.environ.items() if k not in drop and not k.startswith(("GROQ_", "OPENAI_"))}


def test_the_readme_prints_its_commands_with_the_venv_python():
    assert len(readme_commands()) >= 8, readme_commands()
    # In the shell blocks before "Production", a line starting `manage.py` or `python manage.py`
    # is not runnable as printed (no venv python): every example uses .venv/bin/python.
    development = (ROOT / "README.md").read_text().split("## Production")[0]
    blocks = re.findall(r"```sh\n(.*?)```", development, re.S)
    bare = [line for block in blocks for line in block.splitlines() if re.match(r"(python )?manage\.py", line)]
    assert not bare, bare


@pytest.mark.parametrize("command", readme_commands(), ids=lambda c: c.removeprefix(PRINTED))
def test_each_readme_command_works_as_printed(checkout, command):
    result = subprocess.run(command, shell=True, cwd=checkout, env=clean_env(checkout), capture_output=True,
                            text=True, timeout=120)
    output = result.stdout + result.stderr
    # `keys status` exits 1 when no Groq key is available: its documented answer on a fresh checkout.
    allowed = (0, 1) if " keys status" in command else (0,)
    assert result.returncode in allowed, output
    assert "Traceback" not in output and "not configured" not in output, output


def test_production_fails_closed_with_one_line(checkout):
    result = subprocess.run(f"{PRINTED}keys list", shell=True, cwd=checkout,
                            env={**clean_env(checkout), "DEBUG": "false"}, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "SECRET_KEY is not set" in result.stderr
