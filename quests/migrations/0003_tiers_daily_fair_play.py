"""Difficulty tiers with their own LLM settings, the daily mission, callsign keys and the
fair-play fields of runs (schema only; 0004 fills the data, 0005 adds the constraints)."""

import django.core.validators
import django.db.models.deletion
from django.db import migrations, models

TIERS = [("cadet", "Cadet"), ("officer", "Officer"), ("commander", "Commander")]
SOURCES = [("live", "Generated live"), ("buffer", "Generated ahead"), ("archive", "Archive transmission")]


class Migration(migrations.Migration):
    dependencies = [("quests", "0002_seed_quests")]

    operations = [
        migrations.CreateModel(
            name="QuestTier",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("tier", models.CharField(choices=TIERS, max_length=16)),
                ("model", models.CharField(blank=True, help_text="Groq model id. Blank: the key pool's default model.", max_length=100)),
                ("temperature", models.FloatField(default=0.8, validators=[django.core.validators.MinValueValidator(0.0), django.core.validators.MaxValueValidator(2.0)])),
                ("max_tokens", models.PositiveIntegerField(default=1800, validators=[django.core.validators.MinValueValidator(200), django.core.validators.MaxValueValidator(8000)])),
                ("guidance", models.TextField(blank=True, help_text="How demanding this tier's missions are; added to the quest's prompt.")),
                ("quest", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="tiers", to="quests.quest")),
            ],
            options={"ordering": ["quest__number", "tier"]},
        ),
        migrations.AddConstraint(
            model_name="questtier",
            constraint=models.UniqueConstraint(fields=("quest", "tier"), name="questtier_one_per_tier"),
        ),
        migrations.CreateModel(
            name="DailyMission",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("day", models.DateField(unique=True)),
                ("tier", models.CharField(choices=TIERS, default="cadet", max_length=16)),
                ("source", models.CharField(choices=SOURCES, max_length=16)),
                ("title", models.CharField(max_length=160)),
                ("briefing", models.TextField()),
                ("questions", models.JSONField()),
                ("archive_ref", models.CharField(blank=True, max_length=32)),
                ("model", models.CharField(blank=True, max_length=100)),
                ("request_id", models.UUIDField(blank=True, null=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("quest", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="daily_missions", to="quests.quest")),
            ],
            options={"ordering": ["-day"]},
        ),
        migrations.AddField(
            model_name="player",
            name="callsign_key",
            field=models.CharField(default="", editable=False, max_length=200),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="questrun",
            name="tier",
            field=models.CharField(choices=TIERS, default="cadet", max_length=16),
        ),
        migrations.AddField(
            model_name="questrun",
            name="daily",
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name="runs", to="quests.dailymission"),
        ),
        migrations.AddField(
            model_name="questrun",
            name="xp_earned",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="questrun",
            name="xp_note",
            field=models.CharField(blank=True, choices=[("", "Counted in full"), ("repeat", "Mission already credited"), ("capped", "Daily XP cap of the quest reached")], default="", max_length=16),
        ),
        migrations.AddField(
            model_name="questrun",
            name="content_key",
            field=models.CharField(blank=True, max_length=64),
        ),
    ]
