"""How much of the pool is free for a model: prefetch runs only when there is clearly room,
and a launch goes live only when some key can serve."""

from __future__ import annotations

from keymanager.services import default_model
from keymanager.services import pool_headroom as _pool_headroom


def pool_headroom(*, model: str) -> float:
    """The largest share (0..1) of its RPM/TPM/RPD/TPD any usable Groq organization has left,
    as the pool itself judges it."""
    return _pool_headroom(provider="groq", model=model)


def live_headroom(*, model: str) -> float:
    """Headroom for a live mission: Groq for the quest's model, else the OpenAI keys the pool
    falls back to. 0 when no key of either can serve now (none added, all cooling or spent)."""
    groq = pool_headroom(model=model)
    if groq > 0:
        return groq
    return _pool_headroom(provider="openai", model=default_model("openai"))
