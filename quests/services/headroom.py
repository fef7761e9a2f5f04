"""How much of the pool is free for a model: prefetch runs only when there is clearly room."""

from __future__ import annotations

from keymanager.services import pool_headroom as _pool_headroom


def pool_headroom(*, model: str) -> float:
    """The largest share (0..1) of its RPM/TPM/RPD/TPD any usable Groq organization has left,
    as the pool itself judges it."""
    return _pool_headroom(provider="groq", model=model)
