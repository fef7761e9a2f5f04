"""The alert rules and the Grafana dashboard in deploy/ speak of series the app really exports:
every metric name (and every label of the promtool tests' input series) is checked against a
real scrape of /metrics; promtool checks the rules' syntax and runs their unit tests."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from keymanager.models import Key, Provider
from keymanager.services import PoolExhausted, complete
from tests.ops.test_metrics import MESSAGES, _token, scrape, told_nothing  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "cosmosquest-alerts.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "cosmosquest-alerts.test.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "cosmosquest.json"
NAME = re.compile(r"\bcosmosquest_[a-z0-9_]+\b")
# Labels Prometheus adds to every scraped series.
TARGET_LABELS = {"instance", "job"}
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (Debian: apt-get install prometheus; .ci/run installs it)"
)


def rule_expressions() -> list[str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


def test_series() -> list[str]:
    tests = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    return [series["series"] for test in tests for series in test["input_series"]]


test_series.__test__ = False  # a helper, not a test


def dashboard_expressions() -> list[str]:
    return [target["expr"] for panel in json.loads(DASHBOARD.read_text())["panels"] for target in panel["targets"]]


@pytest.fixture
def exported(client, told_nothing):  # noqa: F811
    """{sample name: set of label names} from a scrape of a pool that has served, been refused,
    fallen back to OpenAI and run out: every series the app exports has at least one sample."""
    for _ in range(4):
        complete(messages=MESSAGES, max_tokens=50)
    Key.objects.filter(provider=Provider.OPENAI).update(enabled=False)
    with pytest.raises(PoolExhausted):
        complete(messages=MESSAGES, max_tokens=50)
    client.get("/api/status")  # one web request in this process's histogram
    names: dict[str, set[str]] = {}
    for name, samples in scrape(client).items():
        for labels, _value in samples:
            names.setdefault(name, set()).update(labels)
    return names


@pytest.mark.django_db(transaction=True)
def test_every_series_the_rules_and_the_dashboard_name_is_exported(exported):
    expressions = rule_expressions() + dashboard_expressions()
    named = {name for expr in expressions for name in NAME.findall(expr)}
    assert len(named) >= 15
    missing = sorted(name for name in named if name not in exported)
    assert not missing, f"not in a real scrape: {missing}; exported: {sorted(exported)}"


@pytest.mark.django_db(transaction=True)
def test_the_rule_tests_input_series_have_the_exported_names_and_labels(exported):
    for series in test_series():
        name, _, labels = series.partition("{")
        label_names = set(re.findall(r"(\w+)=", labels)) - TARGET_LABELS
        assert name in exported, f"{name} is not exported"
        assert label_names == exported[name] - {"le"}, f"{series}: labels {label_names} != {exported[name]}"


@needs_promtool
def test_promtool_checks_the_rules_and_runs_their_unit_tests():
    check = subprocess.run([PROMTOOL, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0 and "SUCCESS: 6 rules found" in check.stdout, check.stdout + check.stderr
    tested = subprocess.run([PROMTOOL, "test", "rules", RULE_TESTS.name], cwd=RULE_TESTS.parent,
                            capture_output=True, text=True, timeout=60)
    assert tested.returncode == 0 and "SUCCESS" in tested.stdout, tested.stdout + tested.stderr


@needs_promtool
def test_promtool_parses_every_dashboard_query(tmp_path):
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"cosmosquest:dashboard_{i}", "expr": expr} for i, expr in enumerate(dashboard_expressions())]}]}
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump(rules))
    check = subprocess.run([PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr


def test_the_dashboard_json_is_what_its_builder_writes():
    import runpy

    built = runpy.run_path(str(ROOT / "deploy" / "grafana" / "build_dashboard.py"), run_name="not_main")["DASHBOARD"]
    assert json.loads(DASHBOARD.read_text()) == json.loads(json.dumps(built))
