"""The quest-run schema every LLM reply (and every curated archive entry) must satisfy.

Shape: {"title": str, "briefing": str,
        "questions": [3 x {"prompt": str, "options": [4 distinct str], "answer": 0-3, "explanation": str}]}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

QUESTION_COUNT = 3
OPTION_COUNT = 4
LIMITS = {
    "title": (3, 120),
    "briefing": (40, 1500),
    "prompt": (8, 300),
    "option": (1, 140),
    "explanation": (8, 400),
}


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


def validate_content(data: Any) -> RunContent:
    """Check types, lengths, four distinct options and one correct index in range."""
    if not isinstance(data, dict):
        raise InvalidRun("top level: expected a JSON object")
    missing = {"title", "briefing", "questions"} - set(data)
    if missing:
        raise InvalidRun(f"top level: missing {', '.join(sorted(missing))}")
    title = _text(data["title"], "title", "title")
    briefing = _text(data["briefing"], "briefing", "briefing")
    raw_questions = data["questions"]
    if not isinstance(raw_questions, list) or len(raw_questions) != QUESTION_COUNT:
        raise InvalidRun(f"questions: expected a list of exactly {QUESTION_COUNT}")
    questions = []
    prompts = set()
    for i, raw in enumerate(raw_questions, start=1):
        where = f"question {i}"
        if not isinstance(raw, dict):
            raise InvalidRun(f"{where}: expected an object")
        missing = {"prompt", "options", "answer", "explanation"} - set(raw)
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
        explanation = _text(raw["explanation"], "explanation", f"{where} explanation")
        questions.append({"prompt": prompt, "options": options, "answer": answer, "explanation": explanation})
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
