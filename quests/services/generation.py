"""Writing a quest run with the LLM through the key pool, validated against the schema."""

from __future__ import annotations

import logging
import random
import uuid
from dataclasses import dataclass

from keymanager.services import KeyPoolError, PoolExhausted, complete, mark_unusable
from quests.models import Quest
from quests.services.schema import InvalidRun, RunContent, parse_reply

logger = logging.getLogger("quests")

MAX_ATTEMPTS = 2  # one reply, then one more chance to fix invalid output

FORMAT_RULES = (
    "Reply with one JSON object and nothing else, with exactly these keys: "
    '"title" (a mission title, under 80 characters), '
    '"briefing" (a vivid mission briefing of 2 to 4 sentences, under 900 characters, that teaches the facts '
    "the questions ask about), "
    '"questions" (a list of exactly 3 objects, each with "prompt" (the question), "options" (a list of exactly 4 '
    'distinct short answers), "answer" (the 0-based index of the one correct option) and "explanation" '
    "(one sentence saying why it is right)). "
    "Every fact must be scientifically accurate and current; exactly one option may be correct; "
    "vary which position holds the correct answer."
)


@dataclass(frozen=True)
class Generated:
    content: RunContent
    model: str
    request_id: uuid.UUID
    note: str


def build_messages(*, quest: Quest, topic: str, problem: str | None = None) -> list[dict]:
    system = f"{quest.system_prompt.strip()}\n\n{FORMAT_RULES}"
    user = (
        f"Write a new mission for quest {quest.number}, \"{quest.title}\" at {quest.destination}. "
        f"Focus this mission on: {topic}. The player answers 3 multiple-choice questions."
    )
    messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    if problem:
        messages.append(
            {
                "role": "user",
                "content": f"Your previous reply was rejected: {problem}. Reply again with valid JSON only, "
                "following every rule about the questions.",
            }
        )
    return messages


def _mark_invalid(request_id: uuid.UUID, purpose: str) -> None:
    # The pool logged the call as a success (the provider answered); record that the game
    # could not use the answer, so usage reports show wasted calls.
    mark_unusable(request_id=request_id, purpose=purpose)


def generate_content(*, quest: Quest, purpose: str, rng: random.Random | None = None) -> Generated | None:
    """One validated run from the LLM, or None when the pool cannot serve or output stays invalid.

    Never raises for pool trouble: the caller serves the curated archive instead.
    """
    rng = rng or random.Random()
    topics = quest.topic_list() or [quest.theme]
    topic = rng.choice(topics)
    problem = None
    for attempt in range(1, MAX_ATTEMPTS + 1):
        call_purpose = purpose if attempt == 1 else f"{purpose}-retry"
        try:
            result = complete(
                messages=build_messages(quest=quest, topic=topic, problem=problem),
                model=quest.model or None,
                quest=quest.number,
                purpose=call_purpose,
                temperature=quest.temperature,
                max_tokens=quest.max_tokens,
                response_format={"type": "json_object"},
            )
        except PoolExhausted as exc:
            logger.info("quest %s: pool exhausted (%s), serving the archive", quest.number, exc)
            return None
        except KeyPoolError as exc:
            logger.warning("quest %s: request refused by the pool (%s), serving the archive", quest.number, exc)
            return None
        except Exception:
            # Players must never see an error because of the pool: log it and serve the archive.
            logger.exception("quest %s: unexpected error from the pool, serving the archive", quest.number)
            return None
        try:
            content = parse_reply(result.text)
        except InvalidRun as exc:
            problem = str(exc)
            logger.warning("quest %s: invalid output on attempt %s: %s", quest.number, attempt, problem)
            _mark_invalid(result.request_id, call_purpose)
            continue
        note = "" if attempt == 1 else f"valid on attempt {attempt} after: {problem}"[:255]
        return Generated(content=content, model=result.model, request_id=result.request_id, note=note)
    return None
