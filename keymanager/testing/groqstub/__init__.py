"""A Groq API stand-in over real HTTP for tests and benchmarks (no internet needed).

Reproduces the wire behaviour in docs/provider-facts.md closely enough for the real ``groq`` and
``openai`` SDKs: per-(organization, model) RPM/RPD/TPM/TPD limits, counted by sliding windows
or token buckets (``limiter=``), with Groq's 429 bodies and ``x-ratelimit-*`` headers,
401/400/404/413/498/5xx errors, JSON mode, streaming, scripted replies and seeded fault
injection (errors, connection resets, slow replies).

Token accounting is the stand-in's own (``prompt_tokens``: a loosely BPE-like count of words,
numbers and other characters, plus 4 per message); ``completion_tokens`` =
``ceil(len(reply) / 4)`` capped at the request's max tokens. Admission
reserves ``prompt_tokens + max_tokens`` (``max_completion_tokens`` or ``max_tokens``, default
1024) and settles to the actual total when the reply is produced; a request whose reservation
alone exceeds TPM gets 413. The ``x-ratelimit-reset-*`` headers give the time until the window is
fully restored (the newest entry leaves it); ``retry-after`` on a 429 is the whole seconds until
enough of the window frees for the refused request.

Scripted replies (``enqueue``) are consumed by the next completion that passes auth, whatever
happens to it afterwards; random faults are drawn only for unscripted, well-formed requests.
Unscripted JSON-mode replies to a mission prompt are missions written like a model would write
them (content.py, missions.py): on the prompt's quest, tier and topic, from the fact table in
``facts/``, varied from call to call and reproducible for a given ``seed``.

    with GroqStub(orgs={"org_a": {"keys": ["gsk_..."]}}) as stub:
        client = groq.Groq(api_key="gsk_...", base_url=stub.url, max_retries=0)

Run standalone with ``python -m keymanager.testing.groqstub --port 8900 --orgs 4``.
"""

from __future__ import annotations

from .engine import DECOMMISSIONED, DEFAULT_MODELS
from .limits import FREE_TIER, go_duration, prompt_tokens, text_tokens
from .server import GroqStub, make_key

__all__ = [
    "DECOMMISSIONED", "DEFAULT_MODELS", "FREE_TIER", "GroqStub", "go_duration", "make_key", "prompt_tokens", "text_tokens",
]
