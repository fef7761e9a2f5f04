"""What each outcome of an attempt means, in one table (docs/provider-facts.md, Errors).

`complete()` reads it to decide where to retry and which key to avoid, `record_failure` to
decide what counted and what cools down, the statistics to tell errors from refusals. A change
to what a 503 or a 429 does is a one-line edit here.
"""

from __future__ import annotations

from dataclasses import dataclass

from keymanager.models import Outcome


class Retry:
    NO = "no"  # the request itself is wrong, or the attempt worked
    OTHER_KEY = "other_key"  # another key at once; this one again after a backoff if none is left
    OTHER_ORGANIZATION = "other_organization"  # another organization at once; this one after its wait
    ALTERNATE_MODEL = "alternate_model"  # the configured alternate model
    ON_DEMAND = "on_demand"  # the same call on the on-demand tier (flex refused or full)


class Cooldown:
    NONE = "none"
    ORGANIZATION_MODEL = "organization_model"  # until the provider's stated time (429)
    ORGANIZATION = "organization"  # every model (spend cap)
    KEY_MODEL = "key_model"  # this key, for this model (no access to it)
    KEY_ERRORS = "key_errors"  # counted toward the key's error threshold
    DISABLE_KEY = "disable_key"  # until an admin acts (401/403)


@dataclass(frozen=True)
class Rule:
    counted: bool  # the provider counted the request against its limits
    retry: str  # Retry.*
    avoid_key: bool  # this call does not use the key again (until a backoff clears it)
    rejects_request: bool  # no key would do better: the caller gets RequestRejected
    cooldown: str  # Cooldown.*
    error: bool  # an error in the statistics (a 429 is counted apart, as a refusal)
    transient: bool = False  # the provider or the network, not the request: worth a retry


OUTCOME_RULES: dict[str, Rule] = {
    Outcome.SUCCESS: Rule(True, Retry.NO, False, False, Cooldown.NONE, error=False),
    Outcome.PENDING: Rule(True, Retry.NO, False, False, Cooldown.NONE, error=False),
    Outcome.RATE_LIMITED: Rule(False, Retry.OTHER_ORGANIZATION, False, False, Cooldown.ORGANIZATION_MODEL,
                               error=False),
    Outcome.ERROR: Rule(True, Retry.OTHER_KEY, True, False, Cooldown.KEY_ERRORS, error=True, transient=True),
    Outcome.TIMEOUT: Rule(True, Retry.OTHER_KEY, True, False, Cooldown.KEY_ERRORS, error=True, transient=True),
    Outcome.CONNECTION: Rule(True, Retry.OTHER_KEY, True, False, Cooldown.KEY_ERRORS, error=True, transient=True),
    Outcome.CAPACITY: Rule(False, Retry.OTHER_KEY, True, False, Cooldown.KEY_ERRORS, error=True, transient=True),
    Outcome.AUTH_FAILED: Rule(False, Retry.OTHER_KEY, True, False, Cooldown.DISABLE_KEY, error=True),
    Outcome.NOT_FOUND: Rule(False, Retry.OTHER_KEY, True, False, Cooldown.KEY_MODEL, error=True),
    Outcome.SPEND_CAP: Rule(False, Retry.OTHER_KEY, True, False, Cooldown.ORGANIZATION, error=True),
    Outcome.DECOMMISSIONED: Rule(False, Retry.ALTERNATE_MODEL, False, False, Cooldown.NONE, error=True),
    Outcome.TIER_UNAVAILABLE: Rule(False, Retry.ON_DEMAND, False, False, Cooldown.NONE, error=False),
    Outcome.BAD_REQUEST: Rule(False, Retry.NO, False, True, Cooldown.NONE, error=True),
    Outcome.TOO_LARGE: Rule(False, Retry.NO, False, True, Cooldown.NONE, error=True),
}

# Outcomes whose requests the provider refused before counting them against its limits.
UNCOUNTED_OUTCOMES = tuple(o for o, rule in OUTCOME_RULES.items() if not rule.counted)
ERROR_OUTCOMES = tuple(o for o, rule in OUTCOME_RULES.items() if rule.error)
TRANSIENT_OUTCOMES = tuple(o for o, rule in OUTCOME_RULES.items() if rule.transient)


def rule_for(outcome: str) -> Rule:
    return OUTCOME_RULES[outcome]
