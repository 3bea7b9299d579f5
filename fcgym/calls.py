"""Read tool calls out of model text. Model text is untrusted data: nothing here evaluates it.

Four forms are understood:

* a JSON object or list of objects: ``{"name": "f", "arguments": {"x": 1}}``
  (``arguments`` may also be a JSON string, or be called ``parameters``);
* OpenAI ``tool_calls`` (``{"type": "function", "function": {"name": ..., "arguments": "<json>"}}``);
* Hermes/Qwen blocks: ``<tool_call>{"name": ..., "arguments": ...}</tool_call>``;
* Python call syntax ``[f(x=1, y="a"), g()]``, read with `ast` and accepting literals only.

`parse_calls` returns ``[]`` for prose that attempts no call (an abstention or a plain answer) and raises
`ParseError` for a call attempt it cannot read: "no call" and "unreadable" are different outcomes.
`format_calls` writes calls back as text in the JSON or the Python form (what a model should answer).
"""

from __future__ import annotations

import ast
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from fcgym.errors import ParseError
from fcgym.tools import Call


@dataclass(frozen=True)
class ParseLimits:
    """Bounds that keep parsing fast and safe on adversarial input."""

    max_chars: int = 100_000
    max_depth: int = 32
    max_calls: int = 64
    max_int_digits: int = 64


DEFAULT_LIMITS = ParseLimits()

_TOOL_CALL_BLOCK = re.compile(r"<tool_call>(.*?)(?:</tool_call>|$)", re.DOTALL)
_PYTHON_CALL_START = re.compile(r"^\[?\s*[A-Za-z_][\w.]*\(")
_OPENERS, _CLOSERS = "[{(", "]})"


def parse_calls(text: str, limits: ParseLimits = DEFAULT_LIMITS) -> list[Call]:
    """Parse model text into calls; ``[]`` when the text attempts none. Raises `ParseError`."""
    if not isinstance(text, str):
        raise ParseError(f"expected text, got {type(text).__name__}")
    if len(text) > limits.max_chars:
        raise ParseError(f"output is {len(text)} characters long; the limit is {limits.max_chars}")
    if "\x00" in text:
        raise ParseError("output contains a null byte")
    stripped = _strip_code_fence(text.strip())
    if "<tool_call>" in stripped:
        calls = []
        for block in _TOOL_CALL_BLOCK.findall(stripped):
            calls.extend(_calls_from_json(_load_json(block.strip(), limits), limits))
        return _bounded(calls, limits)
    if stripped.startswith(("{", "[")):
        try:
            data = _load_json(stripped, limits)
        except ParseError as json_error:
            if _PYTHON_CALL_START.match(stripped):
                return _bounded(_calls_from_python(stripped, limits), limits)
            raise json_error
        return _bounded(_calls_from_json(data, limits), limits)
    if _PYTHON_CALL_START.match(stripped):
        return _bounded(_calls_from_python(stripped, limits), limits)
    return []


#: The reply `format_calls` writes for no calls: prose, which `parse_calls` reads as an abstention.
ABSTENTION = "No tool fits this request."
CALL_STYLES = ("json", "python")


def format_calls(calls: list[Call], style: str = "json") -> str:
    """The reply that makes exactly ``calls``, in ``style``: ``json`` (``[{"name": ..., "arguments": {...}}]``)
    or ``python`` (``[f(x=1, y="a")]``, with JSON literals); `ABSTENTION` for no calls. `parse_calls` reads it
    back as ``calls``."""
    if style not in CALL_STYLES:
        raise ValueError(f"unknown call style {style!r}; choose from {CALL_STYLES}")
    if not calls:
        return ABSTENTION
    if style == "json":
        return json.dumps([call.to_dict() for call in calls])
    return "[" + ", ".join(
        f"{c.name}(" + ", ".join(f"{k}={_python_literal(v)}" for k, v in c.arguments.items()) + ")" for c in calls
    ) + "]"


def _python_literal(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(map(_python_literal, value)) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {_python_literal(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)


def parse_tool_calls(tool_calls: list[dict[str, Any]], limits: ParseLimits = DEFAULT_LIMITS) -> list[Call]:
    """Parse the ``tool_calls`` list of an OpenAI chat-completion message. Raises `ParseError`."""
    if not isinstance(tool_calls, list):
        raise ParseError("tool_calls must be a list")
    return _bounded(_calls_from_json(tool_calls, limits), limits)


def _strip_code_fence(text: str) -> str:
    """The inside of a Markdown code fence (```json ... ```), or the text unchanged."""
    if len(text) >= 6 and text.startswith("```") and text.endswith("```"):
        first_line, _, rest = text[3:-3].partition("\n")
        return (rest if first_line.strip().isalpha() or not first_line.strip() else text[3:-3]).strip()
    return text


def _bounded(calls: list[Call], limits: ParseLimits) -> list[Call]:
    if len(calls) > limits.max_calls:
        raise ParseError(f"{len(calls)} calls in one reply; the limit is {limits.max_calls}")
    return calls


def _check_depth(text: str, limits: ParseLimits) -> None:
    """Reject nesting deeper than the limit before any recursive parser sees the text."""
    if sum(map(text.count, _OPENERS)) <= limits.max_depth:
        return  # nesting is never deeper than the number of opening brackets
    depth, in_string, escaped, quote = 0, False, False, ""
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                in_string = False
        elif char in "\"'":
            in_string, quote = True, char
        elif char in _OPENERS:
            depth += 1
            if depth > limits.max_depth:
                raise ParseError(f"nesting deeper than {limits.max_depth} levels")
        elif char in _CLOSERS:
            depth -= 1


def _load_json(text: str, limits: ParseLimits) -> Any:
    _check_depth(text, limits)

    def parse_int(digits: str) -> int:
        if len(digits.lstrip("-")) > limits.max_int_digits:
            raise ParseError(f"integer with more than {limits.max_int_digits} digits")
        return int(digits)

    def parse_float(literal: str) -> float:
        value = float(literal)
        if not math.isfinite(value):
            raise ParseError(f"number {literal[:20]!r} is out of range")
        return value

    def reject_constant(name: str) -> None:
        raise ParseError(f"{name} is not valid JSON")

    try:
        return json.loads(text, parse_int=parse_int, parse_float=parse_float, parse_constant=reject_constant)
    except json.JSONDecodeError as error:
        raise ParseError(f"malformed JSON: {error.msg} at line {error.lineno} column {error.colno}") from None


def _calls_from_json(data: Any, limits: ParseLimits) -> list[Call]:
    items = data if isinstance(data, list) else [data]
    if len(items) > limits.max_calls:
        raise ParseError(f"{len(items)} calls in one reply; the limit is {limits.max_calls}")
    return [_call_from_object(item, limits) for item in items]


def _call_from_object(item: Any, limits: ParseLimits) -> Call:
    if not isinstance(item, dict):
        raise ParseError(f"a call must be a JSON object, got {type(item).__name__}")
    if isinstance(item.get("function"), dict):  # OpenAI tool_calls entry
        item = item["function"]
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise ParseError('a call needs a non-empty string "name"')
    arguments = item.get("arguments", item.get("parameters", {}))
    if isinstance(arguments, str):
        arguments = _load_json(arguments, limits) if arguments.strip() else {}
    if not isinstance(arguments, dict):
        raise ParseError(f"{name}: arguments must be an object, got {type(arguments).__name__}")
    return Call(name, arguments)


def _calls_from_python(text: str, limits: ParseLimits) -> list[Call]:
    _check_depth(text, limits)
    try:
        tree = ast.parse(text, mode="eval").body
    except (SyntaxError, ValueError) as error:
        raise ParseError(f"malformed call syntax: {error}") from None
    except (RecursionError, MemoryError):
        raise ParseError("call syntax nested too deeply") from None
    nodes = tree.elts if isinstance(tree, (ast.List, ast.Tuple)) else [tree]
    if len(nodes) > limits.max_calls:
        raise ParseError(f"{len(nodes)} calls in one reply; the limit is {limits.max_calls}")
    return [_call_from_ast(node, limits) for node in nodes]


def _call_from_ast(node: ast.AST, limits: ParseLimits) -> Call:
    if not isinstance(node, ast.Call):
        raise ParseError(f"expected a function call, found {type(node).__name__}")
    name = _dotted_name(node.func)
    if node.args:
        raise ParseError(f"{name}: positional arguments are not allowed; name every argument")
    arguments = {}
    for keyword in node.keywords:
        if keyword.arg is None:
            raise ParseError(f"{name}: **kwargs unpacking is not allowed")
        if keyword.arg in arguments:
            raise ParseError(f"{name}: argument {keyword.arg!r} is given twice")
        arguments[keyword.arg] = _literal(keyword.value, name, limits)
    return Call(name, arguments)


def _dotted_name(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted_name(node.value)}.{node.attr}"
    raise ParseError(f"a function name must be a (dotted) name, found {type(node).__name__}")


def _literal(node: ast.AST, name: str, limits: ParseLimits) -> Any:
    """A literal value; anything that would need evaluation (names, operators, lambdas...) is an error."""
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**limits.max_int_digits:
            raise ParseError(f"{name}: integer with more than {limits.max_int_digits} digits")
        if isinstance(value, float) and not math.isfinite(value):
            raise ParseError(f"{name}: number out of range")
        if isinstance(value, (complex, bytes)) or value is Ellipsis:
            raise ParseError(f"{name}: {type(value).__name__} values are not allowed")
        return value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        operand = node.operand
        if isinstance(operand, ast.Constant) and type(operand.value) in (int, float):
            return _literal(operand, name, limits) * (-1 if isinstance(node.op, ast.USub) else 1)
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_literal(element, name, limits) for element in node.elts]
    if isinstance(node, ast.Dict):
        if any(key is None for key in node.keys):
            raise ParseError(f"{name}: ** unpacking is not allowed")
        keys = [_literal(key, name, limits) for key in node.keys]
        if not all(isinstance(key, str) for key in keys):
            raise ParseError(f"{name}: dictionary keys must be strings")
        return dict(zip(keys, (_literal(value, name, limits) for value in node.values)))
    raise ParseError(f"{name}: only literal argument values are allowed, found {type(node).__name__}")
