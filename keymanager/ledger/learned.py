"""What a budget knows of its limits, where each value came from, and for how long it holds.

Sources: the shipped first guess (Groq's published free tier, `keymanager/selectors/limit_views.py`),
raised by probing when the provider lets more through; the provider's own word (a header, a
429); an admin's ceiling. The provider's word is right over our own guesses, but not forever:

- a limit a 429 stated holds for `FACT_HOLDS` seconds, then is a guess again that one call of
  the peer group may probe past (at most one refusal per hour per group);
- a header states the published limits (Groq: RPD and TPM) on every reply; when they change the
  organization is on another tier, and what was learned under the old one is dropped;
- an admin's value is the working limit and its ceiling, unless the provider states a lower one.

Peers are organizations of the same provider and model whose own headers show the same
published limits: what one of them is told holds for all, and one probe at a time goes past a
guess for the group. An organization with no headers yet is nobody's peer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

KINDS = ("rpm", "rpd", "tpm", "tpd", "itpm", "otpm")
CEILING_KINDS = ("rpm", "rpd", "tpm", "tpd")  # what an admin's Limit row can cap
MINUTE_KINDS = ("rpm", "tpm", "itpm", "otpm")
DAY_KINDS = ("rpd", "tpd")
TOKEN_KINDS = ("tpm", "tpd", "itpm", "otpm")
PUBLISHED = ("rpd", "tpm")  # the limits Groq's headers state on every reply: they name the tier

GUESS, PROBE, HEADER, REFUSAL, CEILING = "default", "probe", "header", "429", "admin"
CONFIRMED = (HEADER, REFUSAL)
FACT_HOLDS = 3600.0  # a limit stated by a 429 is a fact for this long, then a guess again


@dataclass
class Limit:
    value: int
    source: str  # GUESS | PROBE | HEADER | REFUSAL
    at: float  # when it was learned (the pool's clock; 0 for shipped guesses)

    @property
    def confirmed(self) -> bool:
        return self.source in CONFIRMED

    def holds(self, now: float) -> bool:
        """Whether the provider's word still stands as a fact (a header's always does: every
        reply repeats it; a 429's for FACT_HOLDS)."""
        return self.source == HEADER or (self.source == REFUSAL and now - self.at < FACT_HOLDS)

    def dump(self) -> list:
        return [self.value, self.source, self.at]


@dataclass(frozen=True)
class Peers:
    """What organizations on the same published limits have found out."""

    stated: dict[str, int] = field(default_factory=dict)  # kind -> lowest limit stated and still a fact
    served: dict[str, int] = field(default_factory=dict)  # kind -> highest soft limit a probe got through
    probing: bool = False  # a peer's probe is in flight: one probe at a time for the group


NO_PEERS = Peers()


def working_limits(learned: dict[str, Limit], ceilings: dict[str, int], guesses: dict[str, int | None],
                   peers: Peers, now: float) -> dict[str, tuple[float, bool]]:
    """Per kind: (value, hard). Hard limits are never passed; a soft one (a guess) may be
    passed by one probing call at a time to find the real limit."""
    result: dict[str, tuple[float, bool]] = {}
    for kind in KINDS:
        limit = learned.get(kind)
        ceiling = ceilings.get(kind)
        fact = float(limit.value) if limit is not None and limit.holds(now) else math.inf
        if ceiling is not None:
            result[kind] = (min(float(ceiling), fact), True)
            continue
        if math.isfinite(fact):
            result[kind] = (fact, True)
            continue
        own = limit.value if limit is not None else guesses.get(kind)
        peer_fact = peers.stated.get(kind)
        if peer_fact is not None and (limit is None or limit.value <= peer_fact or limit.source != PROBE):
            result[kind] = (float(peer_fact), True)
        elif own is not None or kind in peers.served:
            result[kind] = (float(max(own or 0, peers.served.get(kind, 0))), False)
        else:
            result[kind] = (math.inf, False)
    return result


def learn(learned: dict[str, Limit], kind: str, value: int, source: str, at: float) -> bool:
    """Record a limit; True when its value or source changed."""
    current = learned.get(kind)
    if current is not None and current.value == value and current.source == source:
        current.at = at
        return False
    learned[kind] = Limit(int(value), source, at)
    return True


def published(learned: dict[str, Limit]) -> tuple[int, int] | None:
    """The published limits this organization's own headers state (its tier), or None until
    its headers have stated them all."""
    values = []
    for kind in PUBLISHED:
        limit = learned.get(kind)
        if limit is None or limit.source != HEADER:
            return None
        values.append(limit.value)
    return values[0], values[1]


def peers_of(learned_per_org: list[dict[str, Limit]], probing: list[bool], now: float) -> list[Peers]:
    """For each organization, what its peers among the others know (see `Peers`). Admins'
    ceilings are not shared: an admin sets them for one organization."""
    tiers = [published(learned) for learned in learned_per_org]
    out: list[Peers] = []
    for i, tier in enumerate(tiers):
        if tier is None:
            out.append(NO_PEERS)
            continue
        stated: dict[str, int] = {}
        served: dict[str, int] = {}
        group_probing = False
        for j, other in enumerate(learned_per_org):
            if j == i or tiers[j] != tier:
                continue
            group_probing = group_probing or probing[j]
            for kind, limit in other.items():
                if limit.confirmed and limit.holds(now):
                    stated[kind] = min(stated.get(kind, limit.value), limit.value)
                elif limit.source == PROBE:
                    served[kind] = max(served.get(kind, limit.value), limit.value)
        out.append(Peers(stated, served, group_probing) if stated or served or group_probing else NO_PEERS)
    return out
