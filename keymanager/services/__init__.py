"""The key pool's service layer. Views, admin, commands and tasks call these.

Code outside `keymanager` (the game) uses only what this module exports.
"""

from keymanager.conf import default_model
from keymanager.services.complete import CompletionResult, acomplete, complete
from keymanager.services.errors import KeyPoolError, PoolExhausted, PoolMisconfigured, PoolMisuse, RequestRejected
from keymanager.services.fallbacks import register_fallback_counter
from keymanager.services.outcomes import mark_unusable
from keymanager.services.selection import pool_headroom

__all__ = [
    "CompletionResult",
    "KeyPoolError",
    "PoolExhausted",
    "PoolMisconfigured",
    "PoolMisuse",
    "RequestRejected",
    "acomplete",
    "complete",
    "default_model",
    "mark_unusable",
    "pool_headroom",
    "register_fallback_counter",
]
