"""The key pool's service layer. Views, admin, commands and tasks call these."""

from keymanager.services.complete import CompletionResult, complete
from keymanager.services.errors import KeyPoolError, PoolExhausted, RequestRejected

__all__ = ["CompletionResult", "KeyPoolError", "PoolExhausted", "RequestRejected", "complete"]
