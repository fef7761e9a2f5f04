"""The buffer never queues two copies of one content (after 0008 removed any); the daily
board's index (after 0008 filled its times)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("quests", "0009_features_fill")]

    operations = [
        migrations.AddIndex(
            model_name="questrun",
            index=models.Index(condition=models.Q(("daily__isnull", False), ("status", "answered")), fields=["daily", "-correct_count", "seconds_taken", "answered_at", "id"], name="questrun_daily_board"),
        ),
        migrations.AddConstraint(
            model_name="questrun",
            constraint=models.UniqueConstraint(condition=models.Q(("player__isnull", True), ("source", "buffer"), ("status", "ready"), models.Q(("content_key", ""), _negated=True)), fields=("quest", "tier", "content_key"), name="questrun_buffer_unique_content"),
        ),
    ]
