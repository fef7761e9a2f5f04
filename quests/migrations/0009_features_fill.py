"""Data for 0007, in its own transaction (PostgreSQL refuses to alter a table with pending
trigger events from a data migration): the key of each stored daily mission's content, and
one buffered copy per content (the buffer's unique constraint comes in 0009), and the time of
each answered daily run."""

import hashlib

from django.db import migrations


def _norm(text):
    return " ".join(str(text).split()).casefold()


def _content_key(questions):
    # services.xp.content_key as of this migration: prompts with their right answers, in any order.
    parts = sorted(f"{_norm(q['prompt'])}\x1f{_norm(q['options'][q['answer']])}" for q in questions)
    return hashlib.sha256("\x1e".join(parts).encode()).hexdigest()


def fill(apps, schema_editor):
    DailyMission = apps.get_model("quests", "DailyMission")
    QuestRun = apps.get_model("quests", "QuestRun")
    for mission in DailyMission.objects.filter(content_key=""):
        mission.content_key = _content_key(mission.questions)
        mission.save(update_fields=["content_key"])
    seen = set()
    duplicates = []
    buffered = QuestRun.objects.filter(player__isnull=True, source="buffer", status="ready").exclude(content_key="")
    for pk, quest_id, tier, key in buffered.order_by("created_at", "pk").values_list("pk", "quest_id", "tier", "content_key"):
        if (quest_id, tier, key) in seen:
            duplicates.append(pk)
        seen.add((quest_id, tier, key))
    QuestRun.objects.filter(pk__in=duplicates).delete()
    # The daily board orders by seconds_taken now.
    answered = QuestRun.objects.filter(status="answered", daily__isnull=False, served_at__isnull=False)
    for pk, served, answered_at in answered.values_list("pk", "served_at", "answered_at").iterator():
        QuestRun.objects.filter(pk=pk).update(seconds_taken=max(0, int((answered_at - served).total_seconds())))


class Migration(migrations.Migration):
    dependencies = [("quests", "0008_features_schema")]

    operations = [migrations.RunPython(fill, migrations.RunPython.noop)]
