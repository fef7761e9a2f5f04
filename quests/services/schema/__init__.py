"""The quest-run schema: what an LLM reply or an archive entry must be to reach a player.

shape.py checks the run (title, briefing, three questions); grounding.py the tier rules (how each
question is grounded in quotes of the briefing); options.py the options' kinds; quantities.py,
bodies.py and calculation.py read numbers, names and worked-out answers.
"""

from quests.services.schema.shape import OPTION_COUNT, QUESTION_COUNT, RunContent, parse_reply, validate_content
from quests.services.schema.text import LIMITS, InvalidRun

__all__ = ["LIMITS", "OPTION_COUNT", "QUESTION_COUNT", "InvalidRun", "RunContent", "parse_reply", "validate_content"]
