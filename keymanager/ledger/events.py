"""Inbox events: what finished calls tell a budget without reading it.

A finished call appends short text events to its budget row's `inbox` in one UPDATE; the next
acquire folds them into the ledger before deciding (`apply_inbox`). Events are applied in the
order they were appended; each is one line of comma-separated fields ending in ';'.
"""

from __future__ import annotations

from keymanager.ledger.state import Ledger


def _number(value) -> str:
    if value is None:
        return ""
    return f"{value:.3f}" if isinstance(value, float) else str(int(value))


def settle_event(token: str, mslot: int, delta: tuple[int, int, int]) -> str:
    """The call's real count replaces its reservation (requests, input, output deltas)."""
    return f"s,{token},{mslot},{delta[0]},{delta[1]},{delta[2]};"


def success_event(sent: float, *, prompt_ours: int = 0, prompt_theirs: int = 0) -> str:
    return f"o,{sent:.3f},{int(prompt_ours)},{int(prompt_theirs)};"


def word_event(kind: str, *, sent: float, received: float, limit: int | None, remaining: int | None,
               reset: float | None, own: int = 0) -> str:
    """The provider's figures for one window (`kind` in the provider's own meaning)."""
    fields = (kind, _number(sent), _number(received), _number(limit), _number(remaining), _number(reset),
              _number(own))
    return "w," + ",".join(fields) + ";"


def flex_event(served: bool, at: float) -> str:
    return f"f,{1 if served else -1},{at:.3f};"


PROBE_DONE = "p;"


def _optional_int(text: str) -> int | None:
    return int(float(text)) if text else None


def _optional_float(text: str) -> float | None:
    return float(text) if text else None


def apply_inbox(ledger: Ledger, inbox: str) -> None:
    """Fold the events finished calls appended to the row since the last fold."""
    for event in (inbox or "").split(";"):
        if not event:
            continue
        kind, *parts = event.split(",")
        try:
            if kind == "s":
                token, mslot, requests, input_tokens, output_tokens = parts
                ledger.settle(token, int(mslot), (int(requests), int(input_tokens), int(output_tokens)))
            elif kind == "o":
                sent, ours, theirs = parts
                ledger.succeeded(float(sent), int(ours), int(theirs))
            elif kind == "w":
                limit_kind, sent, received, limit, remaining, reset, own = parts
                ledger.hear(limit_kind, sent=float(sent), received=float(received), limit=_optional_int(limit),
                            remaining=_optional_int(remaining), reset=_optional_float(reset),
                            own=_optional_int(own) or 0)
            elif kind == "f":
                state, at = parts
                ledger.flex, ledger.flex_at = int(state), float(at)
            elif kind == "p":
                ledger.probe_until = 0.0
        except (TypeError, ValueError, KeyError):
            continue  # a malformed event (should not happen) must not stop the pool
