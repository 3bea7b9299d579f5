"""The validity gate: does a rewritten query still ask for exactly the task's target calls?

Rule checks (no model): every target value that may not be left out is stated in the query, no other
value of the target tool's enum parameters is mentioned in a single-call request (it would make the request
ambiguous), and an irrelevance query mentions no tool's enum values. A `judge` (any callable ``(query, task) -> bool``) can veto what the rules accept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from fcgym.tasks import Task

MAX_QUERY_CHARS = 2_000


@dataclass(frozen=True)
class Validity:
    """The gate's answer, with the reasons a query was rejected."""

    valid: bool
    reasons: tuple[str, ...] = ()


def surface_forms(value: Any) -> list[str]:
    """The ways a literal value can be written in a query (lower-case)."""
    if isinstance(value, bool):
        return []
    if isinstance(value, (int, float)):
        forms = {str(value), f"{value:g}", f"{value:.2f}", f"{value:,.2f}"}
        if float(value).is_integer():
            forms |= {f"{int(value)}", f"{int(value):,}"}
        return sorted(forms)
    return [str(value).lower()]


def _mentions(text: str, value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return all(_mentions(text, v) for v in value)
    if isinstance(value, dict):
        return all(_mentions(text, v) for v in value.values())
    forms = surface_forms(value)
    return not forms or any(_stated(text, form) for form in forms)


def _stated(text: str, form: str) -> bool:
    """``form`` occurs in ``text`` as a whole token: not inside a word or a longer number (1,250 is not 250)."""
    start = text.find(form)
    while start != -1:
        end = start + len(form)
        before, after = text[max(0, start - 2):start], text[end:end + 2]
        glued_before = before[-1:].isalnum() or before[-1:] in ("_", ".") or (before[-1:] == "," and before[:1].isdigit())
        glued_after = after[:1].isalnum() or after[:1] == "_" or (after[:1] in (".", ",") and after[1:2].isdigit())
        if not glued_before and not glued_after:
            return True
        start = text.find(form, start + 1)
    return False


def _leaves(value: Any) -> list[Any]:
    """The scalar values inside nested lists and dicts."""
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, (list, tuple)):
        return [leaf for v in value for leaf in _leaves(v)]
    return [value]


def check_query(query: str, task: Task, judge: Callable[[str, Task], bool] | None = None) -> Validity:
    """Rule checks, then the optional judge."""
    if not isinstance(query, str) or not query.strip():
        return Validity(False, ("the query is empty",))
    if len(query) > MAX_QUERY_CHARS:
        return Validity(False, (f"the query is longer than {MAX_QUERY_CHARS} characters",))
    text = query.lower()
    reasons = []
    targets = task.target_calls()
    for answer, call in zip(task.answers, targets):
        accepted_values = answer[call.name]
        for param, value in call.arguments.items():
            accepted = accepted_values.get(param, [value])
            if "" in accepted:
                continue  # a parameter that may be left out need not be stated
            if not any(_mentions(text, option) for option in accepted):
                reasons.append(f"{call.name}.{param}={value!r} is not stated")
    target_values = {str(leaf).lower() for call in targets for leaf in _leaves(call.arguments)}
    called = {call.name for call in targets}
    for tool in task.tools:
        if len(targets) > 1 or (targets and tool.name not in called):
            continue  # a value of another call's enum may rightly appear in a parallel request
        for param, prop in tool.parameters.get("properties", {}).items():
            for option in prop.get("enum", []):
                if str(option).lower() not in target_values and _mentions(text, option):
                    reasons.append(f"{option!r} is mentioned but is not a value of the target calls")
    if not reasons and judge is not None and not judge(query, task):
        reasons.append("the judge rejected the query")
    return Validity(not reasons, tuple(dict.fromkeys(reasons)))
