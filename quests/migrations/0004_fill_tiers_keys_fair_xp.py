"""Data for 0003: each quest's three tiers (the cadet tier keeps the quest's old model,
temperature and max tokens), callsign keys (look-alike duplicates renamed), and runs' XP
recounted under the fair-play rules, so the leaderboard shows what was earned fairly."""

import hashlib

from django.db import migrations

GUIDANCE = {
    "cadet": "For newcomers: ask about the central, memorable facts of the topic (what, where, how big, who "
    "discovered or visited it), in plain words and with no calculation.",
    "officer": "For players who know the basics: ask about causes and mechanisms (why and how), numbers with "
    "units, and comparisons between worlds or missions; wrong options are close enough that the briefing is needed.",
    "commander": "For experts: ask about quantitative reasoning (ratios, orders of magnitude, orbital periods, "
    "light travel time, tidal forces), the evidence behind a finding and precise mission history; every "
    "option is plausible.",
}
HIGHER = {
    "officer": {"model": "", "temperature": 0.7, "max_tokens": 2200},
    "commander": {"model": "openai/gpt-oss-120b", "temperature": 0.6, "max_tokens": 2600},
}
XP_CAP_DEFAULT = 150


def _norm(text):
    return " ".join(str(text).split()).casefold()


def content_key(questions):
    # Frozen copy of quests.services.xp.content_key: migrations must not change with the code.
    parts = sorted(f"{_norm(q['prompt'])}\x1f{_norm(q['options'][q['answer']])}" for q in questions)
    return hashlib.sha256("\x1e".join(parts).encode()).hexdigest()


def seed_tiers(apps, schema_editor):
    Quest = apps.get_model("quests", "Quest")
    QuestTier = apps.get_model("quests", "QuestTier")
    for quest in Quest.objects.all():
        cadet = {"model": quest.model, "temperature": quest.temperature, "max_tokens": max(quest.max_tokens, 1800)}
        for tier, values in [("cadet", cadet), *HIGHER.items()]:
            QuestTier.objects.get_or_create(quest=quest, tier=tier, defaults={**values, "guidance": GUIDANCE[tier]})


def fill_callsign_keys(apps, schema_editor):
    # The skeleton function reads Unicode's data file; it has no model state to freeze.
    from quests.services.callsigns import callsign_key

    Player = apps.get_model("quests", "Player")
    taken = set()
    # The earliest pilot keeps a contested callsign; later look-alikes get their number appended.
    for player in Player.objects.order_by("created_at", "pk"):
        name, key = player.callsign, callsign_key(player.callsign)
        if key in taken:
            name = f"{player.callsign[:15]}-{player.pk}"[:24]
            key = callsign_key(name)
        taken.add(key)
        Player.objects.filter(pk=player.pk).update(callsign=name, callsign_key=key)


def recount_xp(apps, schema_editor):
    from django.conf import settings
    from django.utils import timezone

    cap = (getattr(settings, "QUESTS", {}) or {}).get("xp_cap_per_quest_per_day", XP_CAP_DEFAULT)
    Player = apps.get_model("quests", "Player")
    QuestRun = apps.get_model("quests", "QuestRun")
    for run in QuestRun.objects.exclude(questions=[]).only("pk", "questions").iterator():
        try:
            key = content_key(run.questions)
        except (KeyError, IndexError, TypeError):
            continue
        QuestRun.objects.filter(pk=run.pk).update(content_key=key)
    for player in Player.objects.iterator():
        seen, used, total = set(), {}, 0
        runs = QuestRun.objects.filter(player=player, status="answered").order_by("answered_at", "pk")
        for run in runs:
            earned, note = run.xp_awarded, ""
            if run.content_key and run.content_key in seen:
                credit, note = 0, "repeat" if earned else ""
            else:
                slot = (run.quest_id, timezone.localdate(run.answered_at))
                credit = min(earned, max(0, cap - used.get(slot, 0)))
                note = "capped" if credit < earned else ""
                used[slot] = used.get(slot, 0) + credit
            seen.add(run.content_key)
            total += credit
            QuestRun.objects.filter(pk=run.pk).update(xp_earned=earned, xp_awarded=credit, xp_note=note)
        if total != player.xp:
            Player.objects.filter(pk=player.pk).update(xp=total)


class Migration(migrations.Migration):
    dependencies = [("quests", "0003_tiers_daily_fair_play")]

    operations = [
        migrations.RunPython(seed_tiers, migrations.RunPython.noop),
        migrations.RunPython(fill_callsign_keys, migrations.RunPython.noop),
        migrations.RunPython(recount_xp, migrations.RunPython.noop),
    ]
