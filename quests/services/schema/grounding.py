"""How each tier's questions are grounded in the briefing: the tier rules.

- cadet: one fact, quoted word for word from the briefing, that names the right answer;
- officer: the answer takes two facts combined, or a number worked out: two distinct quotes in
  "facts", or one quote and a "calculation" that gives the (numeric) answer from the numbers it
  states (or the question itself states, for a "what if"). A numeric answer is either stated in
  the quoted facts or worked out by the calculation. Every quoted fact must bear on the question
  (share a word with it or its answer, or give the calculation a number);
- commander: grounded as an officer question, and it asks why (reasoning "cause") or what follows
  (reasoning "consequence"), which its wording must show.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from quests.models import Tier
from quests.services.schema.calculation import CalculationError, evaluate, unstated_inputs
from quests.services.schema.quantities import in_base_unit, numbers_in, parse_quantity
from quests.services.schema.text import InvalidRun, keywords, norm, stems, text_field

MAX_FACTS = 2
# How close a worked-out number must come to the right option ("about 1.3 s" for 1.28 s).
CALCULATION_TOLERANCE = 0.15
REASONING_CUES = {
    "cause": re.compile(
        r"\bwhy\b|\bhow come\b|\breasons?\b|\bcaus(?:e|es|ed)\b|\bexplains?\b|\bresponsible\b|\baccounts? for\b"
        r"|\bwhat (?:drives|drove|powers|powered|keeps|kept|makes|made|gives|gave|heats|heated|shapes|shaped"
        r"|creates|created|formed|forms|produces|produced|lets|allows|allowed|stops|stopped|prevents|prevented)\b",
        re.IGNORECASE,
    ),
    "consequence": re.compile(
        r"\bwhat (?:follows|followed|would|will|should|could|might|must|happens|happened|results?|does that|does this)\b"
        r"|\bconsequences?\b|\bresults?\b|\beffects?\b|\bif\b|\bwould\b|\bexpect\b|\bpredict|\bimpl(?:y|ies)\b"
        r"|\btherefore\b|\bas a result\b|\bleads? to\b",
        re.IGNORECASE,
    ),
}


@dataclass(frozen=True)
class Grounding:
    """The quoted facts of a question, and its calculation or reasoning where it has one."""

    facts: list[str]
    calculation: str = ""
    reasoning: str = ""

    def fields(self, tier: str) -> dict[str, Any]:
        if tier == Tier.CADET:
            return {"fact": self.facts[0]}
        extra: dict[str, Any] = {"fact": display(self.facts), "facts": self.facts}
        if self.calculation:
            extra["calculation"] = self.calculation
        if self.reasoning:
            extra["reasoning"] = self.reasoning
        return extra


def display(facts: list[str]) -> str:
    """The facts as one text for the debriefing: each quote a sentence, or marked as cut."""
    return " ".join(f if f[-1:] in ".!?" else f"{f} …" for f in facts)


def _quote(value: Any, where: str, briefing_norm: str) -> str:
    fact = text_field(value, "fact", where)
    if norm(fact) not in briefing_norm:
        raise InvalidRun(f"{where}: the fact must be quoted word for word from the briefing")
    return fact


def cadet_grounding(raw: dict, where: str, briefing_norm: str) -> Grounding:
    if "fact" not in raw:
        raise InvalidRun(f"{where}: missing fact")
    return Grounding(facts=[_quote(raw["fact"], f"{where} fact", briefing_norm)])


def check_names_answer(grounding: Grounding, where: str, right: str) -> None:
    """A cadet's fact contains the words of the right answer."""
    wanted = keywords(right)
    if wanted and not wanted & keywords(grounding.facts[0]):
        raise InvalidRun(f"{where}: the fact does not name the right answer ({right!r})")


def _check_calculation(calculation: str, *, where: str, stated: set[float], options: list[str], answer: int) -> set[float]:
    """The calculation gives the right option and no other; returns the numbers it uses."""
    try:
        value, inputs = evaluate(calculation)
    except CalculationError as exc:
        raise InvalidRun(f"{where} calculation: {exc}") from None
    unstated = unstated_inputs(inputs, stated)
    if unstated:
        shown = ", ".join(f"{n:g}" for n in unstated)
        raise InvalidRun(f"{where} calculation: uses {shown}, which the quoted facts do not state")
    right = parse_quantity(options[answer])
    if right is None:
        raise InvalidRun(f"{where}: a calculation needs a numeric right answer, not {options[answer]!r}")
    if not math.isclose(value, right.value, rel_tol=CALCULATION_TOLERANCE):
        raise InvalidRun(f"{where} calculation: gives {value:.4g}, not the right answer {options[answer]!r}")
    worked = in_base_unit(value, right)
    miss = abs(worked - right.base)
    for i, option in enumerate(options):
        other = parse_quantity(option)
        if i != answer and other is not None and other.dimension == right.dimension and abs(worked - other.base) <= miss:
            raise InvalidRun(f"{where} calculation: gives {value:.4g}, as close to {option!r} as to the right answer")
    return set(inputs)


def _bears_on(fact: str, question: set[str], used_numbers: set[float]) -> bool:
    if stems(fact) & question:
        return True
    return any(math.isclose(n, m, rel_tol=1e-9) for n in numbers_in(fact) for m in used_numbers if n not in (1.0, 2.0))


def _reasoning(raw: dict, where: str, prompt: str) -> str:
    """A commander question's reasoning, "cause" or "consequence", matched by its wording."""
    reasoning = raw.get("reasoning")
    if not isinstance(reasoning, str) or reasoning not in REASONING_CUES:
        raise InvalidRun(f'{where}: reasoning must be "cause" (the question asks why) or "consequence" '
                         "(it asks what follows)")
    if not REASONING_CUES[reasoning].search(prompt):
        asks = "why" if reasoning == "cause" else "what follows"
        raise InvalidRun(f"{where}: a commander question with reasoning {reasoning!r} asks {asks}; {prompt!r} does not")
    return reasoning


def combined_grounding(raw: dict, where: str, briefing_norm: str, prompt: str, options: list[str], answer: int,
                       *, tier: str) -> Grounding:
    """Officer and commander: two facts, or one fact and a calculation; a numeric answer derivable."""
    facts_raw = raw.get("facts")
    if facts_raw is None:
        hint = ' (an officer or commander question cites its quotes in "facts", a list)' if "fact" in raw else ""
        raise InvalidRun(f"{where}: missing facts{hint}")
    if not isinstance(facts_raw, list) or not 1 <= len(facts_raw) <= MAX_FACTS:
        raise InvalidRun(f"{where}: facts must be a list of one or two quotes from the briefing")
    facts = [_quote(f, f"{where} fact {j}", briefing_norm) for j, f in enumerate(facts_raw, start=1)]
    if len(facts) == 2 and (norm(facts[0]) in norm(facts[1]) or norm(facts[1]) in norm(facts[0])):
        raise InvalidRun(f"{where}: the two facts must be distinct")
    calculation = raw.get("calculation") or ""
    if calculation and not isinstance(calculation, str):
        raise InvalidRun(f"{where} calculation: expected a string")
    calculation = " ".join(calculation.split())
    if len(facts) < 2 and not calculation:
        raise InvalidRun(
            f"{where}: {Tier(tier).label.lower()} questions combine two facts of the briefing, or one fact and a "
            "calculation: add a second fact or the calculation"
        )
    right = options[answer]
    stated = set().union(*(numbers_in(f) for f in facts)) | numbers_in(prompt)
    used: set[float] = set()
    right_number = parse_quantity(right)
    if calculation:
        used = _check_calculation(calculation, where=where, stated=stated, options=options, answer=answer)
    elif right_number is not None and right_number.dimension != "date":
        if not any(math.isclose(right_number.value, n, rel_tol=1e-9) for n in stated):
            raise InvalidRun(
                f"{where}: the right answer {right!r} is neither stated in the quoted facts nor worked out: "
                "add the calculation that gives it"
            )
    elif (wanted := keywords(right)) and not wanted & set().union(*(keywords(f) for f in facts)):
        raise InvalidRun(f"{where}: the quoted facts do not name the right answer ({right!r})")
    question = stems(prompt) | stems(right)
    for j, fact in enumerate(facts, start=1):
        if not _bears_on(fact, question, used):
            raise InvalidRun(f"{where}: fact {j} has nothing to do with the question or its answer")
    reasoning = _reasoning(raw, where, prompt) if tier == Tier.COMMANDER else ""
    return Grounding(facts=facts, calculation=calculation, reasoning=reasoning)
