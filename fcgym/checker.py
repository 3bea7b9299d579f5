"""Compare a model's calls with a task's possible answers (BFCL semantics) and return a typed `Verdict`.

Possible answers list the accepted values of every parameter; ``""`` among them means the parameter may be
left out. Calls of an unordered task (parallel calls) are matched to the answers as an assignment, so the
order in which a model writes independent calls never matters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from fcgym.tasks import PossibleAnswer, Task
from fcgym.tools import Call

#: Every error type a verdict can carry.
ERROR_TYPES = (
    "parse_error", "no_call", "irrelevance", "wrong_count", "wrong_function",
    "missing_required", "unexpected_param", "type_error", "value_error", "tool_error",
)


@dataclass(frozen=True)
class Verdict:
    """The outcome of one check: ``valid`` with ``score`` 1.0, or an ``error_type`` with readable errors."""

    valid: bool
    score: float
    error_type: str | None = None
    errors: tuple[str, ...] = ()

    @classmethod
    def correct(cls) -> Verdict:
        return cls(True, 1.0)

    @classmethod
    def failed(cls, error_type: str, *errors: str) -> Verdict:
        assert error_type in ERROR_TYPES, error_type
        return cls(False, 0.0, error_type, tuple(errors))


@dataclass(frozen=True)
class CheckOptions:
    """Strictness knobs of the checker."""

    int_as_float: bool = True
    """Accept an integer where a float is expected (``2`` for ``2.0``)."""
    normalize_strings: bool = True
    """Compare strings case-insensitively, ignoring spaces and the punctuation ``,./-_*^``."""


DEFAULT_OPTIONS = CheckOptions()

_STRING_NOISE = re.compile(r"[ ,./\-_*^]")
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "float": (float,), "boolean": (bool,),
    "array": (list, tuple), "tuple": (list, tuple), "object": (dict,), "dict": (dict,),
}


def check(calls: list[Call], task: Task, options: CheckOptions = DEFAULT_OPTIONS) -> Verdict:
    """Check ``calls`` against every possible answer of ``task``."""
    answers = task.answers
    if not answers:
        if calls:
            return Verdict.failed("irrelevance", f"no tool fits this request, but {calls[0].name} was called")
        return Verdict.correct()
    if not calls:
        return Verdict.failed("no_call", f"expected {len(answers)} call(s), got none")
    if len(calls) != len(answers):
        return Verdict.failed("wrong_count", f"expected {len(answers)} call(s), got {len(calls)}")
    problems = [[_call_problem(call, answer, task, options) for answer in answers] for call in calls]
    if task.ordered:
        pairs = list(enumerate(range(len(calls))))
    else:
        pairs = _assignment([[p is None for p in row] for row in problems])
    for call_index, answer_index in pairs:
        problem = problems[call_index][answer_index]
        if problem is not None:
            return Verdict.failed(*problem)
    return Verdict.correct()


def _assignment(compatible: list[list[bool]]) -> list[tuple[int, int]]:
    """A maximum bipartite matching (Kuhn's augmenting paths), completed to a full pairing.

    Pairs that did not match keep the index order, so the first reported error is a sensible one.
    """
    size = len(compatible)
    owner: list[int | None] = [None] * size  # owner[answer] = call

    def augment(call: int, seen: set[int]) -> bool:
        for answer in range(size):
            if compatible[call][answer] and answer not in seen:
                seen.add(answer)
                if owner[answer] is None or augment(owner[answer], seen):
                    owner[answer] = call
                    return True
        return False

    for call in range(size):
        augment(call, set())
    pairs = {call: answer for answer, call in enumerate(owner) if call is not None}
    free_answers = iter(a for a in range(size) if owner[a] is None)
    return [(call, pairs[call] if call in pairs else next(free_answers)) for call in range(size)]


def _call_problem(call: Call, answer: PossibleAnswer, task: Task, options: CheckOptions) -> tuple[str, str] | None:
    """``None`` when ``call`` satisfies ``answer``, else ``(error_type, message)``."""
    (name, accepted_params), = answer.items()
    if call.name != name:
        return "wrong_function", f"expected a call to {name}, got {call.name}"
    tool = task.tool(name)
    properties = tool.parameters.get("properties", {}) if tool else {}
    for param in call.arguments:
        if param not in accepted_params:
            return "unexpected_param", f"{name}: unexpected parameter {param!r}"
    for param, accepted in accepted_params.items():
        if param not in call.arguments:
            if "" not in accepted:
                return "missing_required", f"{name}: missing parameter {param!r}"
            continue
        value = call.arguments[param]
        expected_type = properties.get(param, {}).get("type")
        if expected_type and not _has_type(value, expected_type, options):
            return "type_error", f"{name}: {param} should be {expected_type}, got {type(value).__name__}"
        if not any(_values_match(value, option, options) for option in accepted if option != ""):
            return "value_error", f"{name}: {param}={value!r} is not one of {accepted!r}"
    return None


def _has_type(value: Any, expected: str | list[str], options: CheckOptions) -> bool:
    if isinstance(expected, list):
        return any(_has_type(value, e, options) for e in expected)
    if expected == "any" or expected not in _JSON_TYPES:
        return True
    if isinstance(value, bool):
        return expected == "boolean"
    if expected == "float" and options.int_as_float and isinstance(value, int):
        return True
    return isinstance(value, _JSON_TYPES[expected])


def _values_match(value: Any, option: Any, options: CheckOptions) -> bool:
    if isinstance(option, dict) and isinstance(value, dict):
        if any(key not in option for key in value):
            return False
        return all(
            (key in value and any(_values_match(value[key], o, options) for o in accepted if o != ""))
            or (key not in value and "" in accepted)
            for key, accepted in ((k, v if isinstance(v, list) else [v]) for k, v in option.items())
        )
    if isinstance(option, (list, tuple)) and isinstance(value, (list, tuple)):
        return len(option) == len(value) and all(_values_match(v, o, options) for v, o in zip(value, option))
    if isinstance(option, str) and isinstance(value, str):
        if options.normalize_strings:
            return _STRING_NOISE.sub("", value).lower() == _STRING_NOISE.sub("", option).lower()
        return value == option
    if isinstance(value, bool) or isinstance(option, bool):
        return value is option
    if isinstance(value, (int, float)) and isinstance(option, (int, float)):
        return value == option and (options.int_as_float or type(value) is type(option))
    return value == option
