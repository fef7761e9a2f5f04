"""Writing a quest run with the LLM through the key pool, validated against the schema."""

from __future__ import annotations

import logging
import random
import uuid
from dataclasses import dataclass

from keymanager.services import KeyPoolError, PoolExhausted, complete, mark_unusable
from quests.models import Quest, QuestTier, Tier
from quests.services.schema import InvalidRun, RunContent, parse_reply

logger = logging.getLogger("quests")

MAX_ATTEMPTS = 2  # one reply, then one more chance to fix invalid output

FORMAT_RULES = (
    "Reply with one JSON object and nothing else, with exactly these keys: "
    '"title" (a mission title, under 80 characters), '
    '"briefing" (one paragraph of 5 to 9 sentences, 450 to 1800 characters, set in the mission, that teaches '
    "the science: the player will read it and then find each answer in it), "
    '"questions" (a list of exactly 3 objects, each with "prompt" (the question), "options" (a list of exactly 4 '
    'distinct short answers), "answer" (the 0-based index of the one correct option), "fact" (one sentence copied '
    "word for word from the briefing that gives the answer and contains the words of the correct option; each "
    'question has its own fact) and "explanation" (one sentence saying why it is right and the others are not)). '
    "Every fact must be scientifically accurate and current; exactly one option may be correct; "
    "wrong options must be plausible; vary which position holds the correct answer."
)

# Used when a quest has no row for a tier (an admin deleted it): the seeded values.
TIER_DEFAULTS = {
    Tier.CADET: {"model": "", "temperature": 0.8, "max_tokens": 1800},
    Tier.OFFICER: {"model": "", "temperature": 0.7, "max_tokens": 2200},
    Tier.COMMANDER: {"model": "openai/gpt-oss-120b", "temperature": 0.6, "max_tokens": 2600},
}


@dataclass(frozen=True)
class Generated:
    content: RunContent
    model: str
    request_id: uuid.UUID
    note: str


def tier_config(*, quest: Quest, tier: str) -> QuestTier:
    """The quest's LLM configuration for this tier (admin-edited), or the seeded defaults."""
    config = QuestTier.objects.filter(quest=quest, tier=tier).first()
    return config or QuestTier(quest=quest, tier=tier, **TIER_DEFAULTS[Tier(tier)])


def build_messages(*, quest: Quest, topic: str, config: QuestTier, problem: str | None = None) -> list[dict]:
    system = f"{quest.system_prompt.strip()}\n\n{FORMAT_RULES}"
    if config.guidance.strip():
        system += f"\n\nDifficulty ({config.get_tier_display()}): {config.guidance.strip()}"
    user = (
        f"Write a new {config.get_tier_display().lower()}-level mission for quest {quest.number}, "
        f"\"{quest.title}\" at {quest.destination}. "
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


def generate_content(
    *, quest: Quest, purpose: str, tier: str = Tier.CADET, rng: random.Random | None = None, background: bool = False
) -> Generated | None:
    """One validated run from the LLM, or None when the pool cannot serve or output stays invalid.
    `background`: nobody waits for it (the buffer), so the pool may send it on the flex tier.

    Never raises for pool trouble: the caller serves the curated archive instead.
    """
    rng = rng or random.Random()
    config = tier_config(quest=quest, tier=tier)
    topics = quest.topic_list() or [quest.theme]
    topic = rng.choice(topics)
    problem = None
    for attempt in range(1, MAX_ATTEMPTS + 1):
        call_purpose = purpose if attempt == 1 else f"{purpose}-retry"
        try:
            result = complete(
                messages=build_messages(quest=quest, topic=topic, config=config, problem=problem),
                model=config.model or None,
                quest=quest.number,
                purpose=call_purpose,
                temperature=config.temperature,
                max_tokens=config.max_tokens,
                response_format={"type": "json_object"},
                background=background,
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
