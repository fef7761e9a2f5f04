"""What every new run gets from its content, wherever the content came from (LLM, buffer,
archive, daily mission): its own order of options, and the key that identifies the content."""

from __future__ import annotations

import random

from quests.services.schema import RunContent
from quests.services.xp import content_key


def shuffled_questions(content: RunContent | list[dict], *, rng: random.Random | None = None) -> list[dict]:
    """The questions with options in a new order, so no run can be answered from memory of
    another run's letters; the right answer's index follows its option."""
    rng = rng or random.Random()
    questions = content.questions if isinstance(content, RunContent) else content
    shuffled = []
    for q in questions:
        order = list(range(len(q["options"])))
        rng.shuffle(order)
        shuffled.append({**q, "options": [q["options"][i] for i in order], "answer": order.index(q["answer"])})
    return shuffled


def content_fields(content: RunContent | dict, *, rng: random.Random | None = None) -> dict:
    """QuestRun fields for a new run of this content: title, briefing, shuffled questions, key."""
    if isinstance(content, RunContent):
        content = content.as_dict()
    questions = shuffled_questions(content["questions"], rng=rng)
    return {
        "title": content["title"],
        "briefing": content["briefing"],
        "questions": questions,
        "content_key": content_key(questions),
    }
