"""The quest-run schema every LLM reply (and every curated archive entry) must satisfy.

Shape: {"title": str, "briefing": str (a paragraph that teaches),
        "questions": [3 x {"prompt": str, "options": [4 distinct str], "answer": 0-3,
                           "fact": str (the sentence of the briefing that answers it), "explanation": str}]}

The briefing is a lesson, not a teaser: each question's answer is found in its own fact, quoted
from the briefing, and the fact names the right answer.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

QUESTION_COUNT = 3
OPTION_COUNT = 4
LIMITS = {
    "title": (3, 120),
    "briefing": (350, 2400),
    "prompt": (8, 300),
    "option": (1, 140),
    "fact": (20, 500),
    "explanation": (8, 400),
}
MIN_SENTENCES = 4
# Words too common to show that a fact names an answer.
_COMMON = frozenset(
    "about above after also among and any are around as at be been before below between but by can could "
    "did does each for from had has have her his how into is it its just less like many may more most much "
    "near not now of off on only onto or our out over per same than that the their them then there these "
    "they this those through to too under until very was were what when where which while who why will "
    "with within would you your".split()
)
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)


class InvalidRun(ValueError):
    """The content does not match the schema; the message says where and why."""


@dataclass(frozen=True)
class RunContent:
    title: str
    briefing: str
    questions: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {"title": self.title, "briefing": self.briefing, "questions": self.questions}


def _text(value: Any, name: str, where: str) -> str:
    if not isinstance(value, str):
        raise InvalidRun(f"{where}: expected a string, got {type(value).__name__}")
    text = " ".join(value.split())
    low, high = LIMITS[name]
    if not low <= len(text) <= high:
        raise InvalidRun(f"{where}: length {len(text)} outside {low}-{high} characters")
    return text


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold().strip(" \"'“”‘’")


def _keywords(text: str) -> set[str]:
    """Numbers and words of three letters or more that are not filler."""
    return {t for t in _TOKEN.findall(text.casefold()) if (t.isdigit() or len(t) >= 3) and t not in _COMMON}


def _sentences(text: str) -> int:
    return len([part for part in re.split(r"(?<=[.!?])\s+", text) if len(part) >= 15])


def validate_content(data: Any) -> RunContent:
    """Check types, lengths, four distinct options, one correct index in range, a briefing of
    at least a paragraph, and for each question a distinct fact quoted from the briefing that
    names the right answer."""
    if not isinstance(data, dict):
        raise InvalidRun("top level: expected a JSON object")
    missing = {"title", "briefing", "questions"} - set(data)
    if missing:
        raise InvalidRun(f"top level: missing {', '.join(sorted(missing))}")
    title = _text(data["title"], "title", "title")
    briefing = _text(data["briefing"], "briefing", "briefing")
    if _sentences(briefing) < MIN_SENTENCES:
        raise InvalidRun(f"briefing: a paragraph of at least {MIN_SENTENCES} sentences is needed")
    briefing_norm = _norm(briefing)
    facts: set[str] = set()
    raw_questions = data["questions"]
    if not isinstance(raw_questions, list) or len(raw_questions) != QUESTION_COUNT:
        raise InvalidRun(f"questions: expected a list of exactly {QUESTION_COUNT}")
    questions = []
    prompts = set()
    for i, raw in enumerate(raw_questions, start=1):
        where = f"question {i}"
        if not isinstance(raw, dict):
            raise InvalidRun(f"{where}: expected an object")
        missing = {"prompt", "options", "answer", "fact", "explanation"} - set(raw)
        if missing:
            raise InvalidRun(f"{where}: missing {', '.join(sorted(missing))}")
        prompt = _text(raw["prompt"], "prompt", f"{where} prompt")
        if prompt.casefold() in prompts:
            raise InvalidRun(f"{where}: repeats an earlier question")
        prompts.add(prompt.casefold())
        options = raw["options"]
        if not isinstance(options, list) or len(options) != OPTION_COUNT:
            raise InvalidRun(f"{where}: expected exactly {OPTION_COUNT} options")
        options = [_text(o, "option", f"{where} option {j}") for j, o in enumerate(options, start=1)]
        if len({o.casefold() for o in options}) != OPTION_COUNT:
            raise InvalidRun(f"{where}: options are not distinct")
        answer = raw["answer"]
        # bool is an int in Python; `true` is not an index.
        if isinstance(answer, bool) or not isinstance(answer, int) or not 0 <= answer < OPTION_COUNT:
            raise InvalidRun(f"{where}: answer must be an integer from 0 to {OPTION_COUNT - 1}")
        fact = _text(raw["fact"], "fact", f"{where} fact")
        fact_norm = _norm(fact)
        if fact_norm not in briefing_norm:
            raise InvalidRun(f"{where}: the fact must be quoted word for word from the briefing")
        if fact_norm in facts:
            raise InvalidRun(f"{where}: each question needs its own fact")
        facts.add(fact_norm)
        wanted = _keywords(options[answer])
        if wanted and not wanted & _keywords(fact):
            raise InvalidRun(f"{where}: the fact does not name the right answer ({options[answer]!r})")
        explanation = _text(raw["explanation"], "explanation", f"{where} explanation")
        questions.append(
            {"prompt": prompt, "options": options, "answer": answer, "fact": fact, "explanation": explanation}
        )
    return RunContent(title=title, briefing=briefing, questions=questions)


def parse_reply(text: str) -> RunContent:
    """Parse a model reply (JSON mode) and validate it."""
    body = (text or "").strip()
    if body.startswith("```"):
        # Some models wrap JSON in a fence even in JSON mode.
        body = body.strip("`").removeprefix("json").strip()
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise InvalidRun(f"not valid JSON ({exc.__class__.__name__})") from None
    return validate_content(data)
