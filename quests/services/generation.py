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
    "the science: the player will read it and then answer each question from it), "
    '"questions" (a list of exactly 3 objects, each with "prompt" (the question), "options" (a list of exactly 4 '
    'distinct short answers), "answer" (the 0-based index of the one correct option), {grounding} and '
    '"explanation" (one sentence saying why it is right and the others are not)). '
    "Every fact must be scientifically accurate and current; exactly one option may be correct; "
    "vary which position holds the correct answer. Wrong options are plausible and of the same kind as the right "
    "one: planets with planets, moons with moons, numbers with numbers in the same unit and within a factor of "
    "ten of the right value; never a joke or an absurd option."
)
# What each tier asks of a question, and the keys that ground it in the briefing (quests.services.schema).
TIER_RULES = {
    Tier.CADET: {
        "grounding": '"fact" (one sentence copied word for word from the briefing that gives the answer and '
        "contains the words of the correct option; each question has its own fact)",
        "questions": "Each answer is stated in the briefing.",
    },
    Tier.OFFICER: {
        "grounding": '"facts" (a list of the two sentences of the briefing, each copied word for word, that the '
        "question combines; one sentence is enough when the question works out a number) and \"calculation\" "
        '(when the answer is a number worked out: an arithmetic expression with numbers only, such as '
        '"384000 / 300000", using only numbers stated in the facts and unit conversions such as 60, 24 or 1000, '
        'whose result is the correct option; otherwise "")',
        "questions": "No answer is stated by one sentence alone: each question combines two facts of the briefing "
        "(compares two worlds, links a finding to its place) or works out a number from them (a difference, a "
        "ratio, a travel time), and the briefing states the numbers needed.",
    },
    Tier.COMMANDER: {
        "grounding": '"facts" (a list of the two sentences of the briefing, each copied word for word, from which '
        'the answer follows), "calculation" (as for an officer question: an arithmetic expression with numbers '
        'only when the answer is a number worked out, otherwise "") and "reasoning" ("cause" when the question '
        'asks why, "consequence" when it asks what follows, what would happen or what it implies)',
        "questions": "Each question asks why something is so (its cause) or what follows from it (a consequence, a "
        "prediction), and the answer follows from the quoted facts by reasoning, not by finding a phrase.",
    },
}


def format_rules(tier: str) -> str:
    """The reply format and question rules of a tier: what the schema will check."""
    rules = TIER_RULES[Tier(tier)]
    return f"{FORMAT_RULES.format(grounding=rules['grounding'])} {rules['questions']}"


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
    system = f"{quest.system_prompt.strip()}\n\n{format_rules(config.tier)}"
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
            content = parse_reply(result.text, tier=tier)
        except InvalidRun as exc:
            problem = str(exc)
            logger.warning("quest %s: invalid output on attempt %s: %s", quest.number, attempt, problem)
            _mark_invalid(result.request_id, call_purpose)
            continue
        note = "" if attempt == 1 else f"valid on attempt {attempt} after: {problem}"[:255]
        return Generated(content=content, model=result.model, request_id=result.request_id, note=note)
    return None
