"""The arithmetic behind a worked-out answer: "384000 / 300000" for a light travel time.

An officer or commander question whose answer is a number not stated in the briefing carries the
calculation that gives it. The calculation is evaluated here (numbers, + - * / and parentheses;
never Python's eval) and its inputs must be numbers the question's quoted facts state, or plain
unit conversions (60 seconds, 24 hours, 1,000 metres...), so the answer is derivable from the
briefing and not just asserted.
"""

from __future__ import annotations

import ast
import math
import operator
import re

# Numbers a calculation may use without a fact stating them: unit conversions and halving/doubling.
CONVERSIONS = (1, 2, 10, 12, 24, 60, 100, 1000, 3600, 86400, 365, 365.25, 1e6, 1e9, 1e12)
_OPERATORS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
_ALLOWED = re.compile(r"^[\d\s.+\-*/()eE]+$")
_MAX_EXPONENT = 15


class CalculationError(ValueError):
    """The calculation is not plain arithmetic, or cannot be evaluated."""


def _clean(expression: str) -> str:
    text = str(expression).strip()
    # "384000 / 300000 = 1.28": the working, without the result it claims.
    text = re.split(r"[=≈]", text, maxsplit=1)[0]
    text = text.replace("−", "-").replace("–", "-").replace("×", "*").replace("·", "*").replace("÷", "/")
    text = text.replace("^", "**")
    text = re.sub(r"(?<=\d)\s*[xX]\s*(?=\d)", "*", text)
    return re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", text)


def evaluate(expression: str) -> tuple[float, list[float]]:
    """(value, the numbers it uses). Raises CalculationError for anything but arithmetic."""
    text = _clean(expression)
    if not text or not _ALLOWED.match(text.replace("**", "*")):
        raise CalculationError("use only numbers and + - * / ( )")
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError):
        raise CalculationError("it is not a complete arithmetic expression") from None
    inputs: list[float] = []

    def walk(node: ast.AST) -> float:
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
            inputs.append(float(node.value))
            return float(node.value)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            value = walk(node.operand)
            return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            # Powers of ten only (10**6 for a million): the exponent is notation, not an input.
            if not (isinstance(node.left, ast.Constant) and node.left.value == 10
                    and isinstance(node.right, ast.Constant | ast.UnaryOp)):
                raise CalculationError("use powers of ten only (10**6)")
            exponent = ast.literal_eval(node.right)
            if not isinstance(exponent, int) or abs(exponent) > _MAX_EXPONENT:
                raise CalculationError("use a whole power of ten")
            inputs.append(10.0)
            return 10.0**exponent
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            left, right = walk(node.left), walk(node.right)
            try:
                return _OPERATORS[type(node.op)](left, right)
            except ZeroDivisionError:
                raise CalculationError("it divides by zero") from None
        raise CalculationError("use only numbers and + - * / ( )")

    try:
        value = walk(tree.body)
    except RecursionError:
        raise CalculationError("it is nested too deeply") from None
    except OverflowError:
        raise CalculationError("its numbers are too large") from None
    if not math.isfinite(value):
        raise CalculationError("its result is not a finite number")
    return value, inputs


def unstated_inputs(inputs: list[float], stated: set[float]) -> list[float]:
    """The calculation's numbers that neither the facts state nor a unit conversion explains."""
    # Signs are the calculation's business: "120 + 170" spans "120 °C" to "-170 °C".
    known = [abs(k) for k in (*stated, *CONVERSIONS)]
    return [n for n in inputs if not any(math.isclose(abs(n), k, rel_tol=1e-9, abs_tol=1e-12) for k in known)]
