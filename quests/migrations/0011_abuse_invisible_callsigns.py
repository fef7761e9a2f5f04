"""Callsigns holding default-ignorable characters (accepted before issue 18: `admin` + U+FE0F
looked like `admin` on the leaderboard) lose them, and their keys are recomputed with the new
skeleton, which drops them (other keys hold none and stay as they are). A callsign whose visible form is taken, or no longer valid, gets a
fresh generated one: the pilot keeps everything else and can pick another on the profile page."""

from django.db import migrations


def strip_invisible(apps, schema_editor):
    from quests.services.callsigns import (
        InvalidCallsign,
        callsign_clean,
        callsign_generate,
        callsign_key,
        default_ignorable,
        strip_default_ignorable,
    )

    Player = apps.get_model("quests", "Player")
    ignorable = default_ignorable()
    affected = [p for p in Player.objects.only("pk", "callsign") if any(ch in ignorable for ch in p.callsign)]
    if not affected:
        return
    taken = set(Player.objects.exclude(pk__in=[p.pk for p in affected]).values_list("callsign_key", flat=True))
    for player in affected:
        try:
            name = callsign_clean(strip_default_ignorable(player.callsign))
            key = callsign_key(name)
        except InvalidCallsign:
            key = None
        while key is None or key in taken:
            name = callsign_generate()
            key = callsign_key(name)
        taken.add(key)
        Player.objects.filter(pk=player.pk).update(callsign=name, callsign_key=key)


class Migration(migrations.Migration):
    dependencies = [("quests", "0010_features_constraints")]

    operations = [migrations.RunPython(strip_invisible, migrations.RunPython.noop)]
