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


def test_it_checks_the_archive():
    assert "Archive OK: 70 runs" in run("archive-check")
