"""Constraints for 0003/0004, in their own transaction (PostgreSQL refuses to alter a table
with pending trigger events from the data migration)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("quests", "0004_fill_tiers_keys_fair_xp")]

    operations = [
        migrations.RemoveField(model_name="quest", name="model"),
        migrations.RemoveField(model_name="quest", name="temperature"),
        migrations.RemoveField(model_name="quest", name="max_tokens"),
        migrations.AlterField(
            model_name="player",
            name="callsign_key",
            field=models.CharField(editable=False, max_length=200, unique=True),
        ),
        migrations.RemoveIndex(model_name="questrun", name="questrun_buffer"),
        migrations.AddIndex(
            model_name="questrun",
            index=models.Index(fields=["quest", "tier", "status", "source", "player"], name="questrun_buffer_tier"),
        ),
        migrations.AddConstraint(
            model_name="questrun",
            constraint=models.UniqueConstraint(condition=models.Q(("xp_awarded__gt", 0)), fields=("player", "content_key"), name="questrun_xp_once_per_content"),
        ),
        migrations.AddConstraint(
            model_name="questrun",
            constraint=models.UniqueConstraint(condition=models.Q(("daily__isnull", False)), fields=("player", "daily"), name="questrun_one_daily_per_player"),
        ),
    ]
