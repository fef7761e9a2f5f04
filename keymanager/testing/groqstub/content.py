"""What the stand-in replies when no reply was scripted.

The project asks the model for space-quest JSON; the stand-in answers like a model would, from
nothing but the messages it receives: it reads the subject (the quest's destination, by the
keywords the prompt names most), the tier ("a new officer-level mission") and the topic ("Focus
this mission on: ...") from the prompt, and its writer (missions.py) composes a mission from the
fact table (facts/) that satisfies that tier's rules. Other JSON-mode requests get a one-line
JSON reply, and plain requests a sentence or two.
"""

from __future__ import annotations

import json
import random
import re
from functools import cache
from typing import Any

from .facts import Subject, subjects
from .limits import message_text
from .missions import TIERS, MissionWriter

SENTENCES = [
    "Jupiter is the largest planet in the Solar System, more than 300 times as massive as Earth.",
    "Sunlight takes about 8 minutes and 20 seconds to travel from the Sun to Earth.",
    "The Moon is tidally locked to Earth, so it always shows us the same face.",
    "Saturn's rings are made mostly of water ice, with a small amount of rocky material.",
    "Proxima Centauri, about 4.2 light-years away, is the closest known star to the Sun.",
    "Venus is the hottest planet because its thick carbon dioxide atmosphere traps heat.",
    "The Milky Way is a barred spiral galaxy containing hundreds of billions of stars.",
    "Mars appears red because iron oxide dust covers much of its surface.",
]
_TIER = re.compile(r"\b(cadet|officer|commander)-level\b", re.IGNORECASE)
_TOPIC = re.compile(r"Focus this mission on:\s*(?P<topic>[^\n]+?)\.(?:\s|$)")


@cache
def _pattern(keyword: str) -> re.Pattern[str]:
    return re.compile(rf"(?<!\w){re.escape(keyword)}(?!\w)", re.IGNORECASE)


def topic_score(subject: Subject, prompt: str) -> int:
    """How many of a subject's keywords the prompt names."""
    return sum(1 for keyword in subject.keywords if _pattern(keyword).search(prompt))


def prompt_text(messages: list[Any]) -> str:
    """What the caller asked: every message but the model's own earlier replies."""
    return "\n".join(
        message_text(m.get("content")) for m in messages if isinstance(m, dict) and m.get("role") != "assistant"
    )


def pick_subject(prompt: str, rng: random.Random) -> Subject:
    """The subject the prompt names most (ties, and prompts naming none, at random)."""
    scores = [(topic_score(s, prompt), s) for s in subjects()]
    best = max(score for score, _ in scores)
    return rng.choice([s for score, s in scores if score == best])


def asked_tier(prompt: str) -> str:
    """The tier the prompt asks for; without one, the tier its reply format implies."""
    found = _TIER.search(prompt)
    if found:
        return found.group(1).casefold()
    if '"reasoning"' in prompt:
        return "commander"
    return "officer" if '"calculation"' in prompt else TIERS[0]


def asked_topic(prompt: str) -> str:
    found = _TOPIC.search(prompt)
    return found.group("topic") if found else ""


def new_writer() -> MissionWriter:
    return MissionWriter(subjects())


def quest(rng: random.Random, prompt: str = "", writer: MissionWriter | None = None) -> dict[str, Any]:
    """A mission on the prompt's subject, at its tier and on its topic."""
    writer = writer or new_writer()
    return writer.write(pick_subject(prompt, rng).key, asked_tier(prompt), rng, asked_topic(prompt))


def sentence(rng: random.Random, count: int = 2) -> str:
    return " ".join(rng.sample(SENTENCES, count))


def generate(messages: list[Any], response_format: Any, rng: random.Random, writer: MissionWriter | None = None) -> str:
    """Reply text for a completion that has no scripted content."""
    if isinstance(response_format, dict) and response_format.get("type") == "json_object":
        prompt = prompt_text(messages)
        obj = quest(rng, prompt, writer) if "questions" in prompt.lower() else {"reply": sentence(rng, 1)}
        return json.dumps(obj, ensure_ascii=False)
    return sentence(rng, rng.choice((1, 2)))
