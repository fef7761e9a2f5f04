"""Start-up validation: every KEYMANAGER_* value, the encryption keys and DATABASE_URL are
checked before anything runs, with a message naming the variable (never echoing a secret)."""

from __future__ import annotations

import re
from dataclasses import fields

import pytest
from django.core.checks import run_checks

from keymanager.conf import FLAT_RULES, RULES, PoolSettings
from tests.ops.test_deploy import ROOT, manage, production_env

SETTINGS_SOURCE = (ROOT / "cosmosquest" / "settings.py").read_text()
# Every pool variable the settings module reads, with the type it is cast to.
POOL_VARIABLES = dict(re.findall(r'_get\("(KEYMANAGER_[A-Z_]+)", [^,]+, (\w+)\)', SETTINGS_SOURCE))


def errors_naming(variable: str) -> list[str]:
    return [m.msg for m in run_checks() if m.is_serious() and variable in m.msg]


def test_every_pool_setting_has_a_rule():
    assert set(RULES) == {f.name for f in fields(PoolSettings)}
    assert len(POOL_VARIABLES) == len(RULES) + len(FLAT_RULES)
    assert set(POOL_VARIABLES) == {f"KEYMANAGER_{name.upper()}" for name in RULES} | set(FLAT_RULES)


def test_the_shipped_defaults_pass():
    assert [m.msg for m in run_checks() if m.is_serious()] == []


@pytest.mark.parametrize("variable", sorted(POOL_VARIABLES))
def test_a_value_out_of_range_is_an_error_naming_its_variable(settings, variable):
    name = variable.removeprefix("KEYMANAGER_").lower()
    kind = POOL_VARIABLES[variable]
    bad = {"int": -1, "float": float("nan"), "str": "bogus" if name == "strategy" else " "}[kind]
    if name in RULES:
        settings.KEYMANAGER = {**settings.KEYMANAGER, name: bad}
    else:
        setattr(settings, variable, bad)
    assert errors_naming(variable), variable


@pytest.mark.parametrize("cooldown, cap, ok", [(30.0, 900.0, True), (30.0, 30.0, True), (60.0, 30.0, False)])
def test_the_error_cooldown_cap_is_not_below_the_first_cooldown(settings, cooldown, cap, ok):
    settings.KEYMANAGER = {**settings.KEYMANAGER, "error_cooldown": cooldown, "error_cooldown_cap": cap}
    assert bool(errors_naming("KEYMANAGER_ERROR_COOLDOWN_CAP")) is not ok


@pytest.mark.parametrize("value", [float("inf"), float("nan"), True, "20"])
def test_a_number_must_be_a_finite_number(settings, value):
    settings.KEYMANAGER = {**settings.KEYMANAGER, "wait_budget": value}
    assert errors_naming("KEYMANAGER_WAIT_BUDGET")


def test_an_unknown_pool_setting_is_an_error(settings):
    settings.KEYMANAGER = {**settings.KEYMANAGER, "stratgy": "quest"}
    assert errors_naming("'stratgy'")


@pytest.mark.slow
def test_check_fails_on_every_bad_pool_variable_from_the_environment(tmp_path):
    # Text values cannot be made empty from the environment (empty means "default"): the
    # numbers and the strategy can be wrong there.
    bad = {name: "-1" for name, cast in POOL_VARIABLES.items() if cast in ("int", "float")}
    bad["KEYMANAGER_STRATEGY"] = "bogus"
    result = manage(production_env(tmp_path, **bad), "check")
    assert result.returncode != 0
    for name in bad:
        assert name in result.stderr, name
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_a_bogus_strategy_stops_check_and_runserver_start(tmp_path):
    result = manage(production_env(tmp_path, KEYMANAGER_STRATEGY="bogus"), "check")
    assert result.returncode != 0
    assert "KEYMANAGER_STRATEGY must be one of smart, quest, not 'bogus'" in result.stderr


@pytest.mark.slow
def test_encryption_keys_that_are_not_fernet_keys_stop_check(tmp_path):
    from cryptography.fernet import Fernet

    good = Fernet.generate_key().decode()
    result = manage(production_env(tmp_path, KEY_ENCRYPTION_KEYS=f"{good},not-a-fernet-key"), "check")
    assert result.returncode != 0
    assert "KEY_ENCRYPTION_KEYS: entry 2 of 2 is not a Fernet key" in result.stderr
    assert "not-a-fernet-key" not in result.stderr + result.stdout and good not in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("url, message", [
    ("notaurl", "DATABASE_URL has no scheme"),
    ("mysql://user:hunter2@db/cosmos", "DATABASE_URL has scheme 'mysql'"),
    ("postgres://user:hunter2@db:port/cosmos", "DATABASE_URL is not a valid database URL"),
    ("postgres://user:hunter2@db:5432", "DATABASE_URL names no database"),
])
def test_a_bad_database_url_is_one_clear_line(tmp_path, url, message):
    result = manage(production_env(tmp_path, DATABASE_URL=url), "check")
    assert result.returncode != 0
    assert message in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "hunter2" not in result.stderr
