"""The game's admin pages and actions."""

from __future__ import annotations

import pytest
from django.urls import reverse

from quests.models import Player, Quest
from tests.quests_fixtures import make_run, seeded  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("seeded")]


def test_every_game_admin_page_renders(admin_client):
    player = Player.objects.create(callsign="Vega")
    run = make_run(quest_number=1, player=player)
    quest = Quest.objects.get(number=1)
    for url in [
        reverse("admin:quests_quest_changelist"),
        reverse("admin:quests_quest_change", args=[quest.pk]),
        reverse("admin:quests_questrun_changelist"),
        reverse("admin:quests_questrun_changelist") + "?source__exact=archive",
        reverse("admin:quests_questrun_change", args=[run.pk]),
        reverse("admin:quests_player_changelist"),
        reverse("admin:quests_player_change", args=[player.pk]),
    ]:
        assert admin_client.get(url).status_code == 200, url


def test_admins_edit_a_quests_generation_settings(admin_client):
    quest = Quest.objects.get(number=2)
    url = reverse("admin:quests_quest_change", args=[quest.pk])
    data = {
        "number": 2, "slug": quest.slug, "title": quest.title, "destination": quest.destination, "theme": quest.theme,
        "enabled": "on", "model": "openai/gpt-oss-120b", "temperature": "0.5", "max_tokens": "1600",
        "system_prompt": quest.system_prompt, "topics": quest.topics,
    }
    assert admin_client.post(url, data).status_code == 302
    quest.refresh_from_db()
    assert (quest.model, quest.temperature, quest.max_tokens) == ("openai/gpt-oss-120b", 0.5, 1600)


def test_the_refill_action_reports_what_happened(admin_client, settings):
    settings.QUESTS = {"buffer_size": 1}
    response = admin_client.post(
        reverse("admin:quests_quest_changelist"),
        {"action": "refill_now", "_selected_action": [Quest.objects.get(number=1).pk]},
        follow=True,
    )
    assert b"Generated 0 run(s). Stopped early" in response.content
