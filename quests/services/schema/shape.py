"""The quest-run schema every LLM reply (and every curated archive entry) must satisfy.

Shape: {"title": str, "briefing": str (a paragraph that teaches),
        "questions": [3 x {"prompt": str, "options": [4 distinct str], "answer": 0-3,
                           <grounding>, "explanation": str}]}

The grounding depends on the tier (see grounding.py): a cadet question quotes one fact of the
briefing that names its answer ("fact"); officer and commander questions quote two facts, or one
and a "calculation" ("facts", "calculation"), and a commander question says whether it asks why
or what follows ("reasoning"). On every tier the wrong options are of the same kind as the right
one and none is absurd (options.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from quests.models import Tier
from quests.services.schema.grounding import cadet_grounding, check_names_answer, combined_grounding
from quests.services.schema.options import options_problem
from quests.services.schema.text import InvalidRun, norm, sentences, text_field

QUESTION_COUNT = 3
OPTION_COUNT = 4
MIN_SENTENCES = 4


@dataclass(frozen=True)
class RunContent:
    title: str
    briefing: str
    questions: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {"title": self.title, "briefing": self.briefing, "questions": self.questions}


def _options(raw: dict, where: str) -> tuple[list[str], int]:
    options = raw["options"]
    if not isinstance(options, list) or len(options) != OPTION_COUNT:
        raise InvalidRun(f"{where}: expected exactly {OPTION_COUNT} options")
    options = [text_field(o, "option", f"{where} option {j}") for j, o in enumerate(options, start=1)]
    if len({o.casefold() for o in options}) != OPTION_COUNT:
        raise InvalidRun(f"{where}: options are not distinct")
    answer = raw["answer"]
    # bool is an int in Python; `true` is not an index.
    if isinstance(answer, bool) or not isinstance(answer, int) or not 0 <= answer < OPTION_COUNT:
        raise InvalidRun(f"{where}: answer must be an integer from 0 to {OPTION_COUNT - 1}")
    problem = options_problem(options, answer)
    if problem:
        raise InvalidRun(f"{where}: {problem}")
    return options, answer


def validate_content(data: Any, *, tier: str = Tier.CADET) -> RunContent:
    """Check types, lengths, four distinct options of one kind with one correct index, a briefing
    of at least a paragraph, and each question grounded in quotes of the briefing as its tier asks."""
    tier = Tier(tier)
    if not isinstance(data, dict):
        raise InvalidRun("top level: expected a JSON object")
    missing = {"title", "briefing", "questions"} - set(data)
    if missing:
        raise InvalidRun(f"top level: missing {', '.join(sorted(missing))}")
    title = text_field(data["title"], "title", "title")
    briefing = text_field(data["briefing"], "briefing", "briefing")
    if sentences(briefing) < MIN_SENTENCES:
        raise InvalidRun(f"briefing: a paragraph of at least {MIN_SENTENCES} sentences is needed")
    briefing_norm = norm(briefing)
    raw_questions = data["questions"]
    if not isinstance(raw_questions, list) or len(raw_questions) != QUESTION_COUNT:
        raise InvalidRun(f"questions: expected a list of exactly {QUESTION_COUNT}")
    questions = []
    prompts: set[str] = set()
    cited: set[frozenset[str]] = set()
    for i, raw in enumerate(raw_questions, start=1):
        where = f"question {i}"
        if not isinstance(raw, dict):
            raise InvalidRun(f"{where}: expected an object")
        missing = {"prompt", "options", "answer", "explanation"} - set(raw)
        if missing:
            raise InvalidRun(f"{where}: missing {', '.join(sorted(missing))}")
        prompt = text_field(raw["prompt"], "prompt", f"{where} prompt")
        if prompt.casefold() in prompts:
            raise InvalidRun(f"{where}: repeats an earlier question")
        prompts.add(prompt.casefold())
        options, answer = _options(raw, where)
        if tier == Tier.CADET:
            grounding = cadet_grounding(raw, where, briefing_norm)
        else:
            grounding = combined_grounding(raw, where, briefing_norm, prompt, options, answer, tier=tier)
        facts = frozenset(norm(f) for f in grounding.facts)
        if facts in cited:
            raise InvalidRun(f"{where}: each question needs its own fact" + ("s" if len(facts) > 1 else ""))
        cited.add(facts)
        if tier == Tier.CADET:
            check_names_answer(grounding, where, options[answer])
        explanation = text_field(raw["explanation"], "explanation", f"{where} explanation")
        questions.append({"prompt": prompt, "options": options, "answer": answer, **grounding.fields(tier),
                          "explanation": explanation})
    return RunContent(title=title, briefing=briefing, questions=questions)


def parse_reply(text: str, *, tier: str = Tier.CADET) -> RunContent:
    """Parse a model reply (JSON mode) and validate it for its tier."""
    body = (text or "").strip()
    if body.startswith("```"):
        # Some models wrap JSON in a fence even in JSON mode.
        body = body.strip("`").removeprefix("json").strip()
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise InvalidRun(f"not valid JSON ({exc.__class__.__name__})") from None
    return validate_content(data, tier=tier)
