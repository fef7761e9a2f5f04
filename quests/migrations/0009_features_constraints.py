"""The buffer never queues two copies of one content (after 0008 removed any)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("quests", "0008_features_fill")]

    operations = [
        migrations.AddConstraint(
            model_name="questrun",
            constraint=models.UniqueConstraint(condition=models.Q(("player__isnull", True), ("source", "buffer"), ("status", "ready"), models.Q(("content_key", ""), _negated=True)), fields=("quest", "tier", "content_key"), name="questrun_buffer_unique_content"),
        ),
    ]
