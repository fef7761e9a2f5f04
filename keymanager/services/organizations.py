"""Which organization a key belongs to: assumed, stated by an operator, or named by Groq.

Groq's limits are per organization, so two keys of one organization must share one budget.
A key added without an organization is assumed to be its own; the first 429 it gets names
its real organization ("... in organization `org_X` ..."). The key then moves there and its
budgets are merged into that organization's at once: the usage both counted adds up, so the
merged budget never believes it has more room than the provider gives.
"""

from __future__ import annotations

import logging

from django.db import transaction

from keymanager.ledger import CONFIRMED, Ledger, apply_inbox
from keymanager.models import Budget, Key, OrganizationChange, OrganizationSource
from keymanager.selectors.limits import ceilings
from keymanager.services.budgets import budget_rows_ensure

logger = logging.getLogger("keymanager")


def _absorb(target: Ledger, other: Ledger) -> None:
    """Add `other`'s usage to `target`; keep the better-founded knowledge of each limit."""
    for ring, theirs in ((target.minute, other.minute), (target.day, other.day)):
        for slot, (requests, tokens) in theirs.slices.items():
            ring.add(slot, requests, tokens)
        # What the provider counted beyond each of them; its next word replaces the sum.
        for slot, (requests, tokens) in theirs.outside.items():
            cell = ring.outside.setdefault(slot, [0, 0])
            cell[0] += requests
            cell[1] += tokens
    for kind, limit in other.learned.items():
        mine = target.learned.get(kind)
        if mine is None or (limit.source in CONFIRMED and (mine.source not in CONFIRMED or limit.at > mine.at)):
            target.learned[kind] = limit
    for key_id, at in other.lru.items():
        target.lru[key_id] = max(at, target.lru.get(key_id, at))
    target.probe_until = max(target.probe_until, other.probe_until)
    if other.observed.at > target.observed.at:
        target.observed = other.observed


def key_move_organization(*, key_id: int, organization: str, source: str, detail: str = "") -> bool:
    """Move a key to `organization` and merge its budgets there; False if it was there.

    The organization named by the provider wins over one an operator stated (it is the
    provider that counts), with a WARNING, so the operator can correct the environment.
    """
    organization = organization.strip()[:100]
    if not organization:
        return False
    with transaction.atomic():
        key = Key.objects.select_for_update().get(pk=key_id)
        old = key.organization
        if old == organization:
            if source == OrganizationSource.PROVIDER and key.organization_source != source:
                Key.objects.filter(pk=key_id).update(organization_source=source)
            return False
        others_left = Key.objects.filter(provider=key.provider, organization=old).exclude(pk=key_id).exists()
        Key.objects.filter(pk=key_id).update(organization=organization, organization_source=source)
        models = list(Budget.objects.filter(provider=key.provider, organization=old).values_list("model", flat=True))
        for model in models:
            budget_rows_ensure(key.provider, [organization], model)
        # Lock both organizations' rows in one order (by id): no deadlock with another merge.
        rows = list(
            Budget.objects.select_for_update()
            .filter(provider=key.provider, organization__in=(old, organization), model__in=models)
            .order_by("pk")
        )
        by = {(r.organization, r.model): r for r in rows}
        for model in models:
            source_row, target_row = by[(old, model)], by[(organization, model)]
            target = Ledger.loads(target_row.state)
            apply_inbox(target, target_row.inbox)
            theirs = Ledger.loads(source_row.state)
            apply_inbox(theirs, source_row.inbox)
            _absorb(target, theirs)
            target.ceilings = ceilings(key.provider, organization, model)
            Budget.objects.filter(pk=target_row.pk).update(
                state=target.dumps(), inbox="", version=target_row.version + 1
            )
            if not others_left:
                source_row.delete()  # no key draws from it any more
        OrganizationChange.objects.create(
            key_id=key_id,
            provider=key.provider,
            from_organization=old,
            to_organization=organization,
            source=source,
            detail=detail[:255],
        )
    logger.warning(
        "Key id=%s (%s) belongs to organization %s, not %s (%s); its budgets are merged into %s's.",
        key_id, key.name, organization, old, OrganizationSource(source).label.lower(), organization,
    )
    if key.organization_source == OrganizationSource.OPERATOR and source == OrganizationSource.PROVIDER:
        logger.warning(
            "Key id=%s was stated to be in %s, but the provider says %s: correct the operator's setting.",
            key_id, old, organization,
        )
    return True


def key_set_organization(*, key_id: int, organization: str) -> bool:
    """An operator states a key's organization (`keys set-org`, GROQ_API_KEYn_ORG)."""
    organization = organization.strip()
    if not organization:
        raise ValueError("An organization name is required.")
    moved = key_move_organization(
        key_id=key_id, organization=organization, source=OrganizationSource.OPERATOR, detail="stated by an operator"
    )
    if not moved:
        Key.objects.filter(pk=key_id).update(organization_source=OrganizationSource.OPERATOR)
    return moved
