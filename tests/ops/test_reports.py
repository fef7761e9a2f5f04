"""Usage stats (rollups + raw edges), `usage_report`, `keys status` and `prune_usage`."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from keymanager.dashboard.sample import COLUMNS, sample_rows
from keymanager.models import Cooldown, Key, Outcome, UsageLog, UsageRollup
from keymanager.selectors.usage import ceil_hour, histogram_percentile, rollup_cursor, usage_stats
from keymanager.services.keys import key_add, key_disable
from keymanager.services.outcomes import cool_down
from keymanager.services.rollups import rollup_usage
from tests.conftest import make_secret
from tests.ops.test_admin_pages import EveryState

pytestmark = pytest.mark.django_db


@pytest.fixture
def every_state(db):
    return EveryState()


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.fixture
def history():
    """Three days of synthetic usage on three keys of two organizations."""
    keys = [
        key_add(provider="groq", name=f"k{i}", secret=make_secret(), organization=org)
        for i, org in enumerate(["org_a", "org_a", "org_b"], start=1)
    ]
    now = timezone.now()
    rows = [UsageLog(**dict(zip(COLUMNS, row, strict=True))) for row in sample_rows(
        keys=keys, count=3000, since=now - timedelta(days=3), until=now
    )]
    UsageLog.objects.bulk_create(rows, batch_size=500)
    return keys, now


def _counters(stats):
    return {
        group: (s.attempts, s.calls, s.switches, s.successes, s.rate_limited, s.errors, s.pending, s.total_tokens,
                s.budget_tokens, tuple(s.histogram))
        for group, s in stats.items()
    }  # fmt: skip


@pytest.mark.parametrize("by", [(), ("key",), ("organization", "model"), ("quest",), ("day",), ("hour", "key")])
def test_rollups_give_the_same_numbers_as_the_raw_log(history, by):
    _, now = history
    since, until = now - timedelta(days=2, minutes=17), now - timedelta(minutes=3)
    raw = _counters(usage_stats(since=since, until=until, by=by))
    assert rollup_usage(now=now) > 60 and rollup_cursor() is not None
    assert UsageRollup.objects.exists()
    assert _counters(usage_stats(since=since, until=until, by=by)) == raw


def test_the_stats_match_a_plain_count(history):
    _, now = history
    rollup_usage(now=now)
    since = now - timedelta(hours=30)
    rows = list(UsageLog.objects.filter(created_at__gte=since, created_at__lt=now))
    total = usage_stats(since=since, until=now)[()]
    assert total.attempts == len(rows)
    assert total.calls == sum(r.attempt == 1 for r in rows)
    assert total.switches == sum(r.attempt == 2 for r in rows)
    assert total.successes == sum(r.outcome == Outcome.SUCCESS for r in rows)
    assert total.rate_limited == sum(r.outcome == Outcome.RATE_LIMITED for r in rows)
    latencies = sorted(r.latency_ms for r in rows if r.outcome == Outcome.SUCCESS)
    exact_p50 = latencies[len(latencies) // 2]
    assert abs(total.p50 - exact_p50) / exact_p50 < 0.25  # within a histogram bucket


def test_rollup_is_idempotent_and_skips_the_open_hour(history):
    _, now = history
    rollup_usage(now=now)
    count = UsageRollup.objects.count()
    assert rollup_usage(now=now) == 0 and UsageRollup.objects.count() == count
    assert rollup_cursor() <= now - timedelta(minutes=10)


def test_histogram_percentile_interpolates():
    hist = [0] * 16
    hist[2] = 10  # 100..150 ms
    assert histogram_percentile(hist, 0.5) == 125
    assert histogram_percentile([0] * 16, 0.5) is None


@pytest.mark.parametrize("by", ["key", "organization", "model", "quest", "day"])
def test_usage_report_in_every_grouping_and_format(history, by):
    table = run("usage_report", "--since", "7d", "--by", by)
    assert "TOTAL" in table and "P95 MS" in table and "SWITCHES" in table
    data = json.loads(run("usage_report", "--since", "7d", "--by", by, "--format", "json"))
    assert data["by"] == by and data["rows"] and data["total"]["attempts"] == 3000
    assert sum(r["attempts"] for r in data["rows"]) == 3000
    assert {"success_rate", "rate_limited", "errors", "total_tokens", "p50_ms", "p95_ms", "openai_fallbacks",
            "curated_fallbacks", "key_switches"} <= set(data["rows"][0])  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(run("usage_report", "--since", "7d", "--by", by, "--format", "csv"))))
    assert rows[-1][by] == "TOTAL" and int(rows[-1]["attempts"]) == 3000


def test_usage_report_never_prints_a_secret(history):
    keys, _ = history
    out = run("usage_report", "--since", "7d", "--by", "key") + run("usage_report", "--format", "json")
    for key in keys:
        assert key.secret not in out
        assert key.masked in out


def test_usage_report_accepts_dates_and_date_times(history):
    _, now = history
    day = (now - timedelta(days=1)).date().isoformat()
    data = json.loads(run("usage_report", "--since", day, "--until", day, "--by", "day", "--format", "json"))
    assert [r["day"] for r in data["rows"]] == [day]
    data = json.loads(run("usage_report", "--since", f"{day}T06:00:00", "--until", f"{day}T07:00", "--format", "json"))
    assert 0 < data["total"]["attempts"] < 200


def test_usage_report_counts_curated_fallbacks_when_the_game_is_installed(history):
    from quests.models import Quest, QuestRun

    quest = Quest.objects.order_by("number").first()
    if quest is None:
        pytest.skip("no quests seeded")
    QuestRun.objects.create(quest=quest, source="archive")
    QuestRun.objects.create(quest=quest, source="live")
    data = json.loads(run("usage_report", "--by", "quest", "--format", "json"))
    assert data["total"]["curated_fallbacks"] == 1
    assert any(r["curated_fallbacks"] == 1 for r in data["rows"])


def test_without_a_registered_fallback_counter_the_figure_is_unknown_not_zero(history, monkeypatch):
    # keymanager reads no game table: the game registers its counter (quests/apps.py).
    monkeypatch.setattr("keymanager.services.fallbacks._counters", [])
    data = json.loads(run("usage_report", "--by", "quest", "--format", "json"))
    assert data["total"]["curated_fallbacks"] is None


@pytest.mark.parametrize(
    "args, message",
    [
        (["--since", "yesterday"], "is not a duration"),
        (["--since", "0d"], "is not a duration"),
        (["--by", "planet"], "invalid choice"),
        (["--format", "xml"], "invalid choice"),
        (["--since", "1h", "--until", "2h"], "must be before"),
        # Shaped like a date but not one: once "invalid <...Moment object at 0x...> value".
        (["--since", "2026-13-45"], r"'2026-13-45' is not a real date or time \(month must be in 1..12\)"),
        (["--until", "2026-02-30"], r"'2026-02-30' is not a real date or time \(day is out of range for month\)"),
        (["--since", "2026-05-01T25:00"], r"'2026-05-01T25:00' is not a real date or time \(hour must be in 0..23\)"),
    ],
)
def test_usage_report_bad_arguments_are_a_clear_error(args, message):
    with pytest.raises(CommandError, match=message) as refused:
        run("usage_report", *args)
    assert "object at 0x" not in str(refused.value)


def test_usage_report_with_no_usage():
    assert "No calls in this period." in run("usage_report")


def test_keys_status_lines_and_exit_codes(every_state):
    out = run("keys", "status")
    lines = [line for line in out.splitlines() if line.startswith(("AVAILABLE", "COOLING", "DISABLED"))]
    assert len(lines) == Key.objects.count()
    assert "1 Groq key(s) available." in out
    for secret in every_state.secrets.values():
        assert secret not in out
    data = json.loads(run("keys", "status", "--format", "json"))
    assert {row["state"] for row in data} == {"available", "cooling", "disabled"}
    key_disable(key_id=every_state.available.pk)
    with pytest.raises(SystemExit) as info:
        run("keys", "status", "--quiet")
    assert info.value.code == 1
    with pytest.raises(CommandError, match="invalid choice"):
        run("keys", "status", "--format", "yaml")


def test_keys_status_bad_arguments_exit_2_from_the_command_line(tmp_path):
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "manage.py", "keys", "status", "--format", "yaml"],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "DJANGO_SETTINGS_MODULE": "tests.settings"},
        cwd=__import__("pathlib").Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 2 and "invalid choice" in result.stderr and "Traceback" not in result.stderr


def test_prune_usage_keeps_rollups_and_recent_rows(history):
    keys, now = history
    cool_down(provider="groq", key_id=keys[0].pk, reason="errors", seconds=1)
    Cooldown.objects.update(started_at=now - timedelta(days=3), ends_at=now - timedelta(days=3))
    old = UsageLog.objects.filter(created_at__lt=now - timedelta(days=2)).count()
    # Hour-aligned: where the raw rows are pruned, the rollups answer by whole hours.
    since = ceil_hour(now - timedelta(days=3))
    before = usage_stats(since=since, until=now)[()].attempts
    out = run("prune_usage", "--older-than", "2d", "--dry-run")
    assert f"Would delete {old:,} usage-log row(s) and 1 ended cooldown(s)" in out
    assert UsageLog.objects.count() == 3000
    out = run("prune_usage", "--older-than", "2d")
    assert f"Deleted {old:,} usage-log row(s)" in out
    assert not UsageLog.objects.filter(created_at__lt=now - timedelta(days=2, minutes=1)).exists()
    assert not Cooldown.objects.exists()
    # The history survives in the rollups.
    assert usage_stats(since=since, until=now)[()].attempts == before


@pytest.mark.parametrize("value, message", [("30", "not a duration"), ("2h", "at least one day"), ("3 days", "not a duration")])
def test_prune_usage_bad_arguments(value, message):
    with pytest.raises(CommandError, match=message):
        run("prune_usage", "--older-than", value)
    with pytest.raises(CommandError, match="required"):
        run("prune_usage")
