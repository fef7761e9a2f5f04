"""What acquiring a key is asked for and what it hands back: the ask, the lease, no key."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from keymanager import clock
from keymanager.ledger import PROBE_DONE, Cost, Ledger, settle_event
from keymanager.ledger.ring import MARGIN
from keymanager.selectors.limit_views import FLEX
from keymanager.tokens import CERTAIN_SHARE, scaled

ON_DEMAND, FLEX_TIER = "on_demand", "flex"


def budget_model(model: str, tier: str) -> str:
    """The budget a call counts in: flex has limits of its own (`model@flex`)."""
    return f"{model}{FLEX}" if tier == FLEX_TIER else model


@dataclass(frozen=True)
class Lease:
    """A chosen key and the admission it holds in its organization's budget."""

    key_id: int
    key_name: str
    provider: str
    organization: str
    model: str
    secret_encrypted: str
    budget_id: int
    request_id: uuid.UUID
    attempt: int
    cost: Cost  # what the admission counts (prompt in the provider's terms, max tokens)
    prompt_count: int  # the prompt as this pool's tokenizer counts it
    send_at: float  # the pool's clock: the admitted slot (now, or a reservation in the future)
    admitted_now: float  # when the admission was made
    mslot: int
    token: str  # names the admission in the budget until the call reports
    probe: bool = False
    purpose: str = ""
    quest: int | None = None
    key_errors: int = 0  # the key's error count and cooldown streak: a success resets them
    stamp_key: bool = False
    tier: str = ON_DEMAND  # the service tier asked for

    @property
    def budget_model(self) -> str:
        return budget_model(self.model, self.tier)

    @property
    def admitted_at(self) -> datetime:
        return clock.as_datetime(self.send_at)

    @property
    def reserved(self) -> bool:
        """Whether the call waited for its slot (then it re-checks before sending)."""
        return self.send_at > self.admitted_now + MARGIN

    @property
    def reserved_tokens(self) -> int:
        return self.cost.tokens

    def settle(self, delta: tuple[int, int, int]) -> str:
        return settle_event(self.token, self.mslot, delta)

    def release(self) -> str:
        """Events that hand the admission back (it was not sent, or not counted)."""
        return self.settle(self.cost.negative()) + (PROBE_DONE if self.probe else "")


@dataclass(frozen=True)
class NoKey:
    """No key can take the call within its wait. `retry_after`: seconds until one could
    (None: no key at all for it); `rejected`: the request exceeds every budget's hard limit."""

    retry_after: float | None
    rejected: bool = False


@dataclass(frozen=True)
class Ask:
    """What one acquire is asked for."""

    provider: str
    model: str
    prompt_count: int  # the prompt as the pool's tokenizer counts it
    max_tokens: int
    max_wait: float
    request_id: uuid.UUID
    attempt: int
    request_timeout: float = 15.0
    strategy: str = "smart"
    purpose: str = ""
    quest: int | None = None
    shipped: dict | None = None
    tier: str = ON_DEMAND
    discover: bool = True  # flex: may ask organizations not yet known to have it

    @property
    def budget_model(self) -> str:
        return budget_model(self.model, self.tier)

    def cost_in(self, ledger: Ledger) -> tuple[Cost, Cost]:
        """The call's cost in this budget's terms (its learned token ratio), and the part of
        it that is certain: only that is held against a hard limit, and a ratio learned from
        other text (another language, long words) does not make it larger than our own count."""
        prompt = scaled(self.prompt_count, ledger.token_ratio)
        cost = Cost(input=prompt, output=self.max_tokens)
        return cost, Cost(input=int(min(prompt, self.prompt_count) * CERTAIN_SHARE), output=self.max_tokens)
