"""The key pool's service layer. Views, admin, commands and tasks call these."""

from keymanager.services.complete import CompletionResult, complete
from keymanager.services.errors import KeyPoolError, PoolExhausted, PoolMisconfigured, RequestRejected

__all__ = [
    "CompletionResult",
    "KeyPoolError",
    "PoolExhausted",
    "PoolMisconfigured",
    "RequestRejected",
    "complete",
]
