"""Groq's published free-tier limits (docs/provider-facts.md) as editable defaults for every organization."""

from django.db import migrations

FREE_TIER = {
    # model: (RPM, RPD, TPM, TPD)
    "openai/gpt-oss-120b": (30, 1000, 8000, 200000),
    "openai/gpt-oss-20b": (30, 1000, 8000, 200000),
    "qwen/qwen3.6-27b": (30, 1000, 8000, 200000),
    "llama-3.3-70b-versatile": (30, 1000, 12000, 100000),
    "llama-3.1-8b-instant": (30, 14400, 6000, 500000),
}


def add_defaults(apps, schema_editor):
    Limit = apps.get_model("keymanager", "Limit")
    for model, (rpm, rpd, tpm, tpd) in FREE_TIER.items():
        Limit.objects.get_or_create(
            provider="groq", organization="", model=model, defaults={"rpm": rpm, "rpd": rpd, "tpm": tpm, "tpd": tpd}
        )


def remove_defaults(apps, schema_editor):
    Limit = apps.get_model("keymanager", "Limit")
    Limit.objects.filter(provider="groq", organization="", model__in=list(FREE_TIER)).delete()


class Migration(migrations.Migration):
    dependencies = [("keymanager", "0001_initial")]
    operations = [migrations.RunPython(add_defaults, remove_defaults)]
