"""`manage.py limits list|set`: rate limits per (organization, model)."""

from __future__ import annotations

import argparse
import json

from django.core.management.base import BaseCommand

from keymanager.models import Limit, Provider


def limit_value(value: str) -> int | None:
    if value.lower() in ("none", "unlimited", "-"):
        return None
    try:
        number = int(value.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"a limit is a whole number or 'none', not {value!r}") from None
    if number < 0:
        raise argparse.ArgumentTypeError("a limit cannot be negative")
    return number


class Command(BaseCommand):
    help = "List or set rate limits (RPM, RPD, TPM, TPD) per organization and model."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        listing = sub.add_parser("list", help="All limits; a blank organization is the default.")
        listing.add_argument("--format", choices=("table", "json"), default="table")
        setter = sub.add_parser("set", help="Create or change one limit row.")
        setter.add_argument("model")
        setter.add_argument("--organization", default="", help="Blank: the default for every organization.")
        setter.add_argument("--provider", choices=Provider.values, default=Provider.GROQ)
        for name in ("rpm", "rpd", "tpm", "tpd"):
            setter.add_argument(f"--{name}", type=limit_value, default=argparse.SUPPRESS)

    def handle(self, *args, action: str, **options):
        if action == "set":
            fields = {name: options[name] for name in ("rpm", "rpd", "tpm", "tpd") if name in options}
            limit, created = Limit.objects.update_or_create(
                provider=options["provider"],
                organization=options["organization"].strip(),
                model=options["model"].strip(),
                defaults=fields,
            )
            verb = "Created" if created else "Updated"
            self.stdout.write(self.style.SUCCESS(f"{verb} {limit}: {self._fmt(limit)}"))
            return
        rows = list(Limit.objects.all())
        if options["format"] == "json":
            data = [
                {"provider": r.provider, "organization": r.organization, "model": r.model,
                 "rpm": r.rpm, "rpd": r.rpd, "tpm": r.tpm, "tpd": r.tpd}
                for r in rows
            ]
            self.stdout.write(json.dumps(data, indent=2))
            return
        for row in rows:
            self.stdout.write(f"{row.provider:7} {row.organization or '(default)':24} {row.model:28} {self._fmt(row)}")

    @staticmethod
    def _fmt(limit: Limit) -> str:
        def show(v):
            return "unlimited" if v is None else f"{v:,}"

        return f"RPM {show(limit.rpm)}, RPD {show(limit.rpd)}, TPM {show(limit.tpm)}, TPD {show(limit.tpd)}"
