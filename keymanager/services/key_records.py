"""A key's record as admins edit it: its label, organization and rotation order; renumbering;
deletion. The secret and the pool's state (enabled, cooldowns, error counts, budgets) are not
touched here: those change through keys.py and the pool's own services."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import transaction

from keymanager.models import Key

logger = logging.getLogger("keymanager.keys")

EDITABLE = ("name", "organization", "order")


def key_update(*, key_id: int, name: str, organization: str, order: int) -> Key:
    """Change the editable fields only: a full save would write back whatever state the pool
    recorded for this key since the admin's form was read (a disable, an error count)."""
    key = Key.objects.get(pk=key_id)
    key.name = (name or "").strip()[:100] or key.name
    key.organization = (organization or "").strip()[:100]
    key.order = order
    key.save(update_fields=[*EDITABLE, "updated_at"])
    logger.info("Key id=%s (%s): record edited.", key.pk, key.masked)
    return key


@dataclass(frozen=True)
class Renumbered:
    key: Key
    old: int
    new: int


def keys_renumber(*, provider: str) -> list[Renumbered]:
    """Order 1, 2, 3... within a provider, keeping the current sequence (ties by id)."""
    changed = []
    with transaction.atomic():
        keys = Key.objects.select_for_update().filter(provider=provider).order_by("order", "id")
        for position, key in enumerate(keys, start=1):
            if key.order != position:
                Key.objects.filter(pk=key.pk).update(order=position)
                changed.append(Renumbered(key=key, old=key.order, new=position))
    return changed


def key_delete(*, key_id: int) -> None:
    """Remove a key; its usage history stays (usage rows keep their figures without the key)."""
    key = Key.objects.get(pk=key_id)
    key.delete()
    logger.info("Key id=%s (%s) deleted.", key_id, key.masked)
