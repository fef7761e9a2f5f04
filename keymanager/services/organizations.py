"""Which organization a key belongs to: assumed, stated by an operator, or named by Groq.

Groq's limits are per organization, so two keys of one organization must share one budget.
A key added without an organization is assumed to be its own; the first 429 it gets names
its real organization ("... in organization `org_X` ..."). The key then moves there and its
budgets are merged into that organization's at once (`budgets_merge`): when no key is left in
the old organization, the usage both counted adds up, so the merged budget never believes it
has more room than the provider gives; when keys are left, nothing is counted twice.
"""

from __future__ import annotations

import logging

from django.db import transaction

from keymanager.models import Key, OrganizationChange, OrganizationSource
from keymanager.services.budgets import budgets_merge

logger = logging.getLogger("keymanager")


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
        budgets_merge(provider=key.provider, old=old, new=organization, keys_left=others_left)
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
