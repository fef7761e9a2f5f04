"""`manage.py keys ...`: the operator's handle on the key pool."""

from __future__ import annotations

import argparse
import csv
import getpass
import json
import sys
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from keymanager.crypto import SecretDecryptionError
from keymanager.models import Key, Provider
from keymanager.selectors import key_states
from keymanager.selectors.usage import Stats, usage_stats
from keymanager.services import keys as key_services

FORMATS = ("table", "json", "csv")


def key_id(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"key id must be a whole number, not {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError("key id must be positive")
    return number


class Command(BaseCommand):
    help = "Manage the key pool: list, add, import-env, set-org, enable, disable, test, status, rotate-encryption."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        listing = sub.add_parser("list", help="Keys, masked, with their state and cooldown end.")
        listing.add_argument("--format", choices=FORMATS, default="table")
        status = sub.add_parser(
            "status", help="One line per key; exit 0 if a Groq key is available, 1 if none, 2 on bad arguments."
        )
        status.add_argument("--format", choices=FORMATS, default="table")
        status.add_argument("-q", "--quiet", action="store_true", help="Print nothing; only set the exit code.")
        add = sub.add_parser("add", help="Add a key; the secret is read from stdin or a hidden prompt.")
        add.add_argument("--provider", choices=Provider.values, default=Provider.GROQ)
        add.add_argument("--name", default="")
        add.add_argument("--organization", default="")
        add.add_argument("--order", type=int, default=None)
        sub.add_parser(
            "import-env",
            help="Add GROQ_API_KEY, GROQ_API_KEY2..n, OPENAI_API_KEY (idempotent); GROQ_API_KEYn_ORG states a key's "
            "organization.",
        )
        set_org = sub.add_parser(
            "set-org", help="State a key's Groq organization (keys of one organization share its limits)."
        )
        set_org.add_argument("id", type=key_id)
        set_org.add_argument("organization", help="The organization id, e.g. org_01abc... from the Groq console.")
        for name, text in (("enable", "Enable a key."), ("disable", "Disable a key."), ("test", "One minimal real call.")):
            action = sub.add_parser(name, help=text)
            action.add_argument("id", type=key_id)
            if name == "disable":
                action.add_argument("--reason", default="Disabled by an operator")
        sub.add_parser("rotate-encryption", help="Re-encrypt every key under the first KEY_ENCRYPTION_KEYS key.")

    def handle(self, *args, action: str, **options):
        try:
            return getattr(self, "do_" + action.replace("-", "_"))(**options)
        except Key.DoesNotExist:
            raise CommandError(f"No key with id {options.get('id')}.") from None
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        except SecretDecryptionError as exc:
            raise CommandError(str(exc)) from None

    def _rows(self):
        return [
            {
                "id": s.key.pk,
                "provider": s.key.provider,
                "name": s.key.name,
                "organization": s.key.organization,
                "org_source": s.key.organization_source,
                "key": s.key.masked,
                "state": s.state,
                "cooldown_until": s.cooldown_until.isoformat() if s.cooldown_until else "",
                "detail": s.label,
            }
            for s in key_states(Key.objects.all())
        ]

    def _emit(self, rows: list[dict], fmt: str, columns: list[str]) -> None:
        if fmt == "json":
            self.stdout.write(json.dumps(rows, indent=2))
        elif fmt == "csv":
            writer = csv.DictWriter(self.stdout, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        elif not rows:
            self.stdout.write("No keys in the pool. Add one with `manage.py keys add` or `keys import-env`.")
        else:
            widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in columns}
            self.stdout.write("  ".join(c.upper().ljust(widths[c]) for c in columns))
            for row in rows:
                self.stdout.write("  ".join(str(row[c]).ljust(widths[c]) for c in columns))

    def do_list(self, format: str, **_):
        self._emit(self._rows(), format, ["id", "provider", "name", "organization", "key", "detail"])

    def do_status(self, format: str, quiet: bool = False, **_):
        """For cron and monitoring: the exit code says whether Groq can serve."""
        now = timezone.now()
        day = usage_stats(since=now - timedelta(hours=24), until=now, by=("key",))
        rows = []
        for row in self._rows():
            stats = day.get((row["id"],), Stats())
            rows.append(
                {
                    **row,
                    "calls_24h": stats.attempts,
                    "success_24h": "-" if stats.success_rate is None else f"{stats.success_rate:.0%}",
                }
            )
        if not quiet:
            if format == "table" and rows:
                for row in rows:
                    self.stdout.write(
                        f"{row['state'].upper():9} #{row['id']:<4} {row['provider']:6} {row['name']} ({row['key']})  "
                        f"{row['calls_24h']} calls/24h, {row['success_24h']} ok  {'' if row['state'] == 'available' else row['detail']}".rstrip()
                    )
            else:
                self._emit(rows, format, ["id", "provider", "name", "key", "state", "cooldown_until", "calls_24h", "success_24h"])
        available = sum(1 for r in rows if r["provider"] == Provider.GROQ and r["state"] == "available")
        if not available:
            # SystemExit rather than CommandError: "none available" is an answer, not an error.
            if not quiet:
                self.stderr.write("No Groq key is available.")
            sys.exit(1)
        if not quiet and format == "table":
            self.stdout.write(self.style.SUCCESS(f"{available} Groq key(s) available."))

    def do_add(self, provider: str, name: str, organization: str, order: int | None, **_):
        if sys.stdin is not None and not sys.stdin.isatty():
            secret = sys.stdin.readline()
        else:
            secret = getpass.getpass(f"{Provider(provider).label} API key (hidden): ")
        key = key_services.key_add(provider=provider, name=name, secret=secret, organization=organization, order=order)
        self.stdout.write(self.style.SUCCESS(f"Added key {key.pk}: {key.name} ({key.masked}), organization {key.organization}."))

    def do_import_env(self, **_):
        result = key_services.keys_import_env()
        for key in result.added:
            self.stdout.write(f"Added {key.name} ({key.masked}) as key {key.pk}.")
        self.stdout.write(self.style.SUCCESS(f"{len(result.added)} added, {result.skipped} already in the pool."))

    def do_set_org(self, id: int, organization: str, **_):
        if not organization.strip():
            raise CommandError("The organization must not be empty.")
        moved = key_services.key_set_organization(key_id=id, organization=organization)
        key = Key.objects.get(pk=id)
        verb = "Moved" if moved else "Kept"
        self.stdout.write(self.style.SUCCESS(
            f"{verb} {key} in organization {key.organization}; its budgets are that organization's."
        ))

    def do_enable(self, id: int, **_):
        key = key_services.key_enable(key_id=id)
        self.stdout.write(self.style.SUCCESS(f"Enabled {key}."))

    def do_disable(self, id: int, reason: str, **_):
        key = key_services.key_disable(key_id=id, reason=reason)
        self.stdout.write(self.style.SUCCESS(f"Disabled {key}."))

    def do_test(self, id: int, **_):
        result = key_services.key_test(key_id=id)
        if not result.ok:
            raise CommandError(result.message)
        self.stdout.write(self.style.SUCCESS(result.message))

    def do_rotate_encryption(self, **_):
        count = key_services.keys_rotate_encryption()
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted {count} key(s) under the first KEY_ENCRYPTION_KEYS key."))
