"""Each tier's default difficulty guidance follows the tier rules the schema now checks: officer
questions combine two facts or work a number out, commander questions ask why or what follows.
Guidance an admin has edited is left alone (only rows still holding 0004's default change)."""

from django.db import migrations

OLD = {
    "cadet": "For newcomers: ask about the central, memorable facts of the topic (what, where, how big, who "
    "discovered or visited it), in plain words and with no calculation.",
    "officer": "For players who know the basics: ask about causes and mechanisms (why and how), numbers with "
    "units, and comparisons between worlds or missions; wrong options are close enough that the briefing is needed.",
    "commander": "For experts: ask about quantitative reasoning (ratios, orders of magnitude, orbital periods, "
    "light travel time, tidal forces), the evidence behind a finding and precise mission history; every "
    "option is plausible.",
}
GUIDANCE = {
    "cadet": OLD["cadet"],
    "officer": "For players who know the basics: every question makes the player combine two facts of the briefing "
    "(compare two worlds, link a mission to its target) or work out a number from numbers it states (a difference, "
    "a ratio, a travel time at the speed of light); wrong options are close enough that the briefing is needed.",
    "commander": "For experts: every question asks why something happens or what follows from it (a cause, a "
    "consequence, a prediction), and its answer follows from facts the briefing states; every option is plausible.",
}


def update(apps, schema_editor, *, old, new):
    QuestTier = apps.get_model("quests", "QuestTier")
    for tier, text in new.items():
        QuestTier.objects.filter(tier=tier, guidance=old[tier]).update(guidance=text)


def forward(apps, schema_editor):
    update(apps, schema_editor, old=OLD, new=GUIDANCE)


def backward(apps, schema_editor):
    update(apps, schema_editor, old=GUIDANCE, new=OLD)


class Migration(migrations.Migration):
    dependencies = [("quests", "0006_questrun_fallback_reason")]

    operations = [migrations.RunPython(forward, backward)]
