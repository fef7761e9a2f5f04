"""Counting a prompt's tokens close to the way the provider counts them, with no network.

The provider counts a request against its token limits as its prompt plus its max tokens, up
front (docs/provider-facts.md). The pool counts the prompt with OpenAI's `o200k_base` encoding
(the one gpt-oss uses), through `tiktoken`: its vocabulary ships with the project in
`keymanager/data/o200k_base.tiktoken.gz` (checked against its published SHA-256 when loaded),
so nothing is fetched at run time. Other models' tokenizers differ, and every provider adds a
chat template around the messages: each budget learns the ratio of the provider's reported
prompt tokens to this count from its replies (`Ledger.token_ratio`) and applies it.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import math
import threading
from pathlib import Path

VOCABULARY = Path(__file__).resolve().parent / "data" / "o200k_base.tiktoken.gz"
VOCABULARY_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"
# tiktoken's split pattern for o200k_base.
PATTERN = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
MESSAGE_OVERHEAD = 4  # each message's role and separators
REPLY_OVERHEAD = 3  # the assistant's reply is primed
# An estimate may be this much above the provider's count (a ratio not learned yet, another
# model's tokenizer): only what a request certainly counts is held against a hard limit.
CERTAIN_SHARE = 0.8

_encoding = None
_lock = threading.Lock()


def _load():
    global _encoding
    if _encoding is None:
        with _lock:
            if _encoding is None:
                import tiktoken

                data = gzip.decompress(VOCABULARY.read_bytes())
                if hashlib.sha256(data).hexdigest() != VOCABULARY_SHA256:
                    raise RuntimeError(f"{VOCABULARY} is not OpenAI's o200k_base vocabulary")
                ranks = {}
                for line in data.splitlines():
                    if line:
                        token, rank = line.split()
                        ranks[base64.b64decode(token)] = int(rank)
                _encoding = tiktoken.Encoding(name="o200k_base", pat_str=PATTERN, mergeable_ranks=ranks,
                                              special_tokens={})
    return _encoding


def _text(content) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI-style content parts
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return "" if content is None else str(content)


def count_prompt(messages: list[dict]) -> int:
    """The prompt's tokens under o200k_base, with the chat template's per-message overhead."""
    encoding = _load()
    total = REPLY_OVERHEAD
    for message in messages:
        text = _text(message.get("content"))
        total += MESSAGE_OVERHEAD + len(encoding.encode_ordinary(text))
    return total


def scaled(count: int, ratio: float) -> int:
    """A count in the provider's terms, with a budget's learned ratio."""
    return math.ceil(count * ratio)
