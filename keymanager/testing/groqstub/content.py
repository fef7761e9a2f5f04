"""Canned, factually correct astronomy content for the stub's completions.

The project asks the model for space-quest JSON; the stub answers from its mission library
(missions.py) so tests and demos get well-formed, true content without a real model. Like a
model, it follows the prompt: the mission whose keywords the prompt names most is chosen (ties
at random), so a prompt about the Galilean moons gets Io and Europa, not the Milky Way. It
reads nothing but the messages it receives.
"""

from __future__ import annotations

import json
import random
import re
from functools import cache
from typing import Any

from .limits import message_text
from .missions import MISSIONS

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


@cache
def _pattern(keyword: str) -> re.Pattern[str]:
    return re.compile(rf"(?<!\w){re.escape(keyword)}(?!\w)", re.IGNORECASE)


def topic_score(mission: dict[str, Any], prompt: str) -> int:
    """How many of a mission's keywords the prompt names."""
    return sum(1 for keyword in mission["keywords"] if _pattern(keyword).search(prompt))


def prompt_text(messages: list[Any]) -> str:
    """What the caller asked: every message but the model's own earlier replies."""
    return "\n".join(
        message_text(m.get("content")) for m in messages if isinstance(m, dict) and m.get("role") != "assistant"
    )


def pick_mission(prompt: str, rng: random.Random) -> dict[str, Any]:
    scores = [topic_score(m, prompt) for m in MISSIONS]
    best = max(scores)
    return rng.choice([m for m, score in zip(MISSIONS, scores, strict=True) if score == best])


def quest(rng: random.Random, prompt: str = "") -> dict[str, Any]:
    """A quest object on the prompt's topic, options shuffled; ``answer`` indexes the correct one."""
    src = pick_mission(prompt, rng)
    questions = []
    sentences = split_sentences(src["briefing"])
    for text, right, wrong, explanation in src["questions"]:
        options = [right, *wrong]
        rng.shuffle(options)
        questions.append(
            {
                "prompt": text,
                "options": options,
                "answer": options.index(right),
                "fact": best_fact(sentences, right),
                "explanation": explanation,
            }
        )
    return {"title": src["title"], "briefing": src["briefing"], "questions": questions}


def split_sentences(text: str) -> list[str]:
    return [part.strip() for part in re.split(r"(?<=[.!?])\s+", text) if part.strip()]


def best_fact(sentences: list[str], answer: str) -> str:
    """The briefing sentence sharing most words with the answer: the game asks for the fact
    that gives each answer, quoted from the briefing."""
    words = {w for w in re.findall(r"\w+", answer.lower()) if len(w) > 2}
    return max(sentences, key=lambda s: len(words & set(re.findall(r"\w+", s.lower()))))


def sentence(rng: random.Random, count: int = 2) -> str:
    return " ".join(rng.sample(SENTENCES, count))


def generate(messages: list[Any], response_format: Any, rng: random.Random) -> str:
    """Reply text for a completion that has no scripted content."""
    if isinstance(response_format, dict) and response_format.get("type") == "json_object":
        prompt = prompt_text(messages)
        obj = quest(rng, prompt) if "questions" in prompt.lower() else {"reply": sentence(rng, 1)}
        return json.dumps(obj, ensure_ascii=False)
    return sentence(rng, rng.choice((1, 2)))
