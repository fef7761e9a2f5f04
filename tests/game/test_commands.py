"""The `quests` management command."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.quests_fixtures import make_run, mission_reply, seeded  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("seeded")]


def run(*args) -> str:
    out = StringIO()
    call_command("quests", *args, stdout=out)
    return out.getvalue()


def test_it_shows_buffer_levels(settings):
    settings.QUESTS = {"buffer_size": 3}
    make_run(quest_number=2)
    assert "2  Martian Geology" in run("buffer") and "1/3" in run("buffer")
    assert json.loads(run("buffer", "--format", "json"))["levels"]["2"] == 1


def test_it_refills_on_demand(pool_factory, settings):
    settings.QUESTS = {"buffer_size": 2}
    pool = pool_factory(orgs=2)
    for n in (1, 1, 2):  # the model writes one mission twice: the copy is left out, not a fill
        pool.stub.enqueue(mission_reply(4, n))
    out = run("refill", "--quest", "4")
    assert "Left out 1 mission(s) already in the buffer" in out and "Generated 2 run(s)" in out
    with pytest.raises(CommandError, match="No quest number 9"):
        run("refill", "--quest", "9")


def test_it_reports_an_exhausted_pool_without_failing():
    assert "Generated no runs: pool headroom 0%" in run("refill")


def test_it_says_when_nothing_was_generated_because_the_buffer_is_full(settings):
    settings.QUESTS = {"buffer_size": 1}
    for number in range(1, 6):
        make_run(quest_number=number)
    assert run("refill").strip() == "Generated no runs: the buffer is full (1 run(s) per quest, QUESTS_BUFFER_SIZE)."


def test_it_checks_the_archive_with_the_tier_rules():
    assert run("archive-check").strip() == (
        "Archive OK: 150 runs for quests [1, 2, 3, 4, 5] (50 cadet, 50 officer, 50 commander; 10 per quest and tier)."
    )


def test_a_broken_archive_lists_every_problem_by_file_and_ref(tmp_path, monkeypatch):
    from quests.services import archive_audit
    from tests.quests_fixtures import archive_raw

    officer = archive_raw("moon-o1")
    officer["questions"][0]["calculation"] = "384000 / 299792"  # not a number the briefing states
    commander = archive_raw("moon-c1")
    del commander["questions"][1]["reasoning"]
    cadet = archive_raw("moon-01")
    (tmp_path / "lunar-navigation.json").write_text(json.dumps({"quest": 1, "runs": [cadet, officer, commander, cadet]}))
    (tmp_path / "broken.json").write_text("{not json")
    monkeypatch.setattr(archive_audit.archive, "LIBRARY_DIR", tmp_path)
    with pytest.raises(CommandError) as exc:
        run("archive-check")
    lines = str(exc.value).splitlines()
    assert lines[0] == "The archive has 4 problem(s):"
    assert lines[1].startswith("broken.json: not a quest file")
    assert lines[2] == ("lunar-navigation.json moon-o1: question 1 calculation: uses 299792, which the quoted facts "
                        "do not state")
    assert lines[3].startswith("lunar-navigation.json moon-c1: question 2: reasoning must be")
    assert lines[4] == "lunar-navigation.json moon-01: ref already used in lunar-navigation.json"


def test_the_archive_needs_ten_runs_per_quest_and_tier(tmp_path, monkeypatch):
    from quests.services import archive
    from tests.quests_fixtures import archive_raw

    runs = [archive_raw(f"moon-{n:02d}") for n in range(1, 11)] + [archive_raw(f"moon-o{n}") for n in range(1, 10)]
    runs += [archive_raw(f"moon-c{n}") for n in range(1, 11)]
    (tmp_path / "lunar-navigation.json").write_text(json.dumps({"quest": 1, "runs": runs}))
    monkeypatch.setattr(archive, "LIBRARY_DIR", tmp_path)
    archive.library.cache_clear()
    try:
        with pytest.raises(CommandError) as exc:
            run("archive-check")
    finally:
        archive.library.cache_clear()
    problems = str(exc.value).splitlines()[1:]
    assert problems[0] == "quest 1 officer: 9 run(s), 10 needed"
    assert "quest 2 commander: 0 run(s), 10 needed" in problems and len(problems) == 13
