"""`manage.py limits list|set|clear|reset`: the limits the pool works with, admins' ceilings, and
forgetting what was learned."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError

from keymanager.models import Limit, Provider
from keymanager.selectors import organization_usage
from keymanager.services.ceilings import limit_clear, limit_set, limits_reset

KINDS = ("rpm", "rpd", "tpm", "tpd")


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
    help = "List the limits per budget and where each came from; set or clear ceilings; reset what was learned."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        listing = sub.add_parser("list", help="Working limits per budget with their source, then the ceilings.")
        listing.add_argument("--format", choices=("table", "json"), default="table")
        setter = sub.add_parser("set", help="Set an admin's ceiling: the pool never goes past it.")
        setter.add_argument("model")
        setter.add_argument("--organization", default="", help="Blank: every organization without its own row.")
        setter.add_argument("--provider", choices=Provider.values, default=Provider.GROQ)
        for name in KINDS:
            setter.add_argument(f"--{name}", type=limit_value, default=argparse.SUPPRESS)
        clear = sub.add_parser("clear", help="Remove a ceiling row.")
        clear.add_argument("model")
        clear.add_argument("--organization", default="")
        clear.add_argument("--provider", choices=Provider.values, default=Provider.GROQ)
        reset = sub.add_parser("reset", help="Forget the limits the budgets learned (429s, probes, headers).")
        reset.add_argument("model", nargs="?", default="", help="Blank: every model.")
        reset.add_argument("--organization", default="", help="Blank: every organization.")
        reset.add_argument("--provider", choices=Provider.values, default=None)

    def handle(self, *args, action: str, **options):
        if action == "set":
            values = {name: options[name] for name in KINDS if name in options}
            if not values:
                raise CommandError("Give at least one of --rpm, --rpd, --tpm, --tpd.")
            limit, created = limit_set(
                provider=options["provider"], model=options["model"], organization=options["organization"], **values
            )
            verb = "Created" if created else "Updated"
            self.stdout.write(self.style.SUCCESS(f"{verb} ceiling {limit}: {self._fmt(limit)}"))
            return
        if action == "clear":
            if not limit_clear(provider=options["provider"], model=options["model"],
                               organization=options["organization"]):
                raise CommandError("No such ceiling.")
            self.stdout.write(self.style.SUCCESS("Ceiling removed."))
            return
        if action == "reset":
            count = limits_reset(provider=options["provider"], organization=options["organization"],
                                 model=options["model"])
            self.stdout.write(self.style.SUCCESS(
                f"Learned limits reset on {count} budget(s); the provider's next word restates them."))
            return
        budgets = organization_usage()
        ceilings = list(Limit.objects.all())
        if options["format"] == "json":
            data = {
                "budgets": [
                    {
                        "provider": b.provider,
                        "organization": b.organization,
                        "model": b.model,
                        "limits": {
                            v.kind: {"value": v.value, "source": v.source, "learned_at": _iso(v.learned_at)}
                            for v in b.limits.values()
                        },
                    }
                    for b in budgets
                ],
                "ceilings": [
                    {"provider": r.provider, "organization": r.organization, "model": r.model,
                     **{k: getattr(r, k) for k in KINDS}}
                    for r in ceilings
                ],
            }
            self.stdout.write(json.dumps(data, indent=2))
            return
        self.stdout.write("Limits the pool works with (value, source):")
        if not budgets:
            self.stdout.write("  none yet: a budget appears with the first call for a model")
        for b in budgets:
            cells = ", ".join(
                f"{v.kind.upper()} {'unlimited' if v.value is None else f'{v.value:,}'} ({v.source or 'none'})"
                for v in b.limits.values()
            )
            self.stdout.write(f"  {b.provider:7} {b.organization:24} {b.model:28} {cells}")
        self.stdout.write("Ceilings set by admins (the pool never goes past them):")
        if not ceilings:
            self.stdout.write("  none")
        for row in ceilings:
            self.stdout.write(f"  {row.provider:7} {row.organization or '(every organization)':24} {row.model:28} "
                              f"{self._fmt(row)}")

    @staticmethod
    def _fmt(limit: Limit) -> str:
        def show(v):
            return "-" if v is None else f"{v:,}"

        return f"RPM {show(limit.rpm)}, RPD {show(limit.rpd)}, TPM {show(limit.tpm)}, TPD {show(limit.tpd)}"


def _iso(at: float | None) -> str | None:
    return datetime.fromtimestamp(at, UTC).isoformat() if at else None
