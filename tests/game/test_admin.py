"""The game's admin pages and actions."""

from __future__ import annotations

import pytest
from django.urls import reverse

from quests.models import Player, Quest, QuestTier
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
        reverse("admin:quests_dailymission_changelist"),
    ]:
        assert admin_client.get(url).status_code == 200, url


def test_admins_edit_each_tiers_generation_settings(admin_client):
    quest = Quest.objects.get(number=2)
    tiers = list(QuestTier.objects.filter(quest=quest).order_by("pk"))
    url = reverse("admin:quests_quest_change", args=[quest.pk])
    page = admin_client.get(url).content.decode()
    assert "tiers-0-temperature" in page and "tiers-2-guidance" in page
    data = {
        "number": 2, "slug": quest.slug, "title": quest.title, "destination": quest.destination, "theme": quest.theme,
        "enabled": "on", "system_prompt": quest.system_prompt, "topics": quest.topics,
        "tiers-TOTAL_FORMS": "3", "tiers-INITIAL_FORMS": "3", "tiers-MIN_NUM_FORMS": "0", "tiers-MAX_NUM_FORMS": "3",
    }
    for i, tier in enumerate(tiers):
        data.update({
            f"tiers-{i}-id": tier.pk, f"tiers-{i}-quest": quest.pk, f"tiers-{i}-tier": tier.tier,
            f"tiers-{i}-model": tier.model, f"tiers-{i}-temperature": tier.temperature,
            f"tiers-{i}-max_tokens": tier.max_tokens, f"tiers-{i}-guidance": tier.guidance,
        })
    commander = next(i for i, t in enumerate(tiers) if t.tier == "commander")
    data.update({f"tiers-{commander}-model": "openai/gpt-oss-120b", f"tiers-{commander}-temperature": "0.5",
                 f"tiers-{commander}-max_tokens": "3000"})
    assert admin_client.post(url, data).status_code == 302
    edited = QuestTier.objects.get(quest=quest, tier="commander")
    assert (edited.model, edited.temperature, edited.max_tokens) == ("openai/gpt-oss-120b", 0.5, 3000)
    assert QuestTier.objects.get(quest=quest, tier="cadet").temperature == tiers[0].temperature


def test_the_refill_action_reports_what_happened(admin_client, settings):
    settings.QUESTS = {"buffer_size": 1}
    response = admin_client.post(
        reverse("admin:quests_quest_changelist"),
        {"action": "refill_now", "_selected_action": [Quest.objects.get(number=1).pk]},
        follow=True,
    )
    assert b"Generated 0 run(s). Stopped early" in response.content
