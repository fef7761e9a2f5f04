"""What one (provider, organization, model) budget has admitted and what the provider said.

Pure Python: no Django, no database. The budget row's owner (keymanager/services/budgets.py)
loads a `Ledger`, folds in the inbox, asks or changes it, and stores it back.

- `ring`: the minute windows, a rolling upper bound corrected by the provider's word;
- `day`: the day windows, buckets that refill as the provider's resets say;
- `learned`: the limits, where each came from and how long it holds; peers;
- `state`: the `Ledger` itself, every change to it;
- `fitting`: where a call fits (now, a reserved slot, a probe, never);
- `events`: what finished calls append to the row's inbox.
"""

from keymanager.ledger.day import DAY, Bucket
from keymanager.ledger.events import (
    PROBE_DONE,
    apply_inbox,
    flex_event,
    settle_event,
    success_event,
    word_event,
)
from keymanager.ledger.fitting import Fit, earliest, fit, headroom, never_fits, still_fits
from keymanager.ledger.learned import (
    CEILING,
    CEILING_KINDS,
    CONFIRMED,
    DAY_KINDS,
    FACT_HOLDS,
    GUESS,
    HEADER,
    KINDS,
    MINUTE_KINDS,
    NO_PEERS,
    PROBE,
    REFUSAL,
    TOKEN_KINDS,
    Limit,
    Peers,
    peers_of,
)
from keymanager.ledger.ring import MARGIN, MINUTE, MINUTE_SLICE, Ring
from keymanager.ledger.state import Cost, Ledger, probe_raise

__all__ = [
    "CEILING",
    "CEILING_KINDS",
    "CONFIRMED",
    "DAY",
    "DAY_KINDS",
    "FACT_HOLDS",
    "GUESS",
    "HEADER",
    "KINDS",
    "MARGIN",
    "MINUTE",
    "MINUTE_KINDS",
    "MINUTE_SLICE",
    "NO_PEERS",
    "PROBE",
    "PROBE_DONE",
    "REFUSAL",
    "TOKEN_KINDS",
    "Bucket",
    "Cost",
    "Fit",
    "Ledger",
    "Limit",
    "Peers",
    "Ring",
    "apply_inbox",
    "earliest",
    "fit",
    "flex_event",
    "headroom",
    "never_fits",
    "peers_of",
    "probe_raise",
    "settle_event",
    "still_fits",
    "success_event",
    "word_event",
]
