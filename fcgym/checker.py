"""Compare a model's calls with a task's possible answers (BFCL semantics) and return a typed `Verdict`.

Possible answers list the accepted values of every parameter; ``""`` among them means the parameter may be
left out. Calls of an unordered task (parallel calls) are matched to the answers as an assignment, so the
order in which a model writes independent calls never matters. A task with no answers wants no call, unless it
has ``any_call`` (BFCL's live_relevance): then any call of a tool on offer is right and no call is wrong.

One call is checked against one possible answer in BFCL's order (``ast_checker.simple_function_checker``):

1. the function name;
2. every parameter the tool's schema lists as ``required`` is present (``missing_required``);
3. each given parameter, in the call's order: it exists in the schema and in the answer (``unexpected_param``),
   it has the declared type (``type_error``), and it equals an accepted value (``value_error``);
4. every parameter the answer does not mark omittable (no ``""``) is present (``missing_required``).

Types are read from ``x-bfcl-type`` first (kept by `envs.bfcl` when converting BFCL's dialect), then ``type``.
They are strict as in Python: ``True`` is not an integer, ``2.0`` is not an integer, ``2`` is a float only with
``CheckOptions.int_as_float``. As in BFCL, a value of the same type as the answer's accepted values is accepted
even where the schema says otherwise (possible answers sometimes hold a string for a numeric parameter). Array
elements are type-checked against ``items`` at every depth.

Where this checker deliberately differs from bfcl-eval's ``ast_checker`` (see ``benchmarks/bench_checker.py``):

- parallel calls are matched by a maximum bipartite matching; BFCL's greedy first-fit rejects correct answers when
  an earlier answer grabs a call that a later one needed;
- ``""`` means "may be omitted", never "may be an empty list" (BFCL accepts ``[]`` for any omittable list);
- dict values nest possible answers at any depth (BFCL's ``dict_checker`` handles one level), and string
  normalisation applies at every depth; ``any`` puts no constraint on the type (BFCL wants a string there);
- ``int_as_float`` applies to array elements as well (BFCL converts int to float only at the top level).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from fcgym.tasks import PossibleAnswer, Task
from fcgym.tools import Call

#: Every error type a verdict can carry.
ERROR_TYPES = (
    "parse_error", "no_call", "irrelevance", "wrong_count", "wrong_function",
    "missing_required", "unexpected_param", "type_error", "value_error", "tool_error", "state_mismatch",
)


@dataclass(frozen=True, eq=False, repr=False)
class Verdict:
    """The outcome of one check: ``valid`` with ``score`` 1.0, or an ``error_type`` with readable ``errors``.

    Messages are formatted when ``errors`` is read: most failures found while training are never read.
    """

    valid: bool
    score: float
    error_type: str | None = None
    reasons: tuple[tuple[str, tuple], ...] = ()
    """``(message format, its arguments)`` of each error (what ``errors`` formats)."""

    @classmethod
    def correct(cls) -> Verdict:
        return _CORRECT if cls is Verdict else cls(True, 1.0)

    @classmethod
    def failed(cls, error_type: str, *errors: str) -> Verdict:
        assert error_type in ERROR_TYPES, error_type
        reasons = tuple(("{}", (error,)) for error in errors)
        return _failure(error_type, reasons) if cls is Verdict else cls(False, 0.0, error_type, reasons)

    @property
    def errors(self) -> tuple[str, ...]:
        return tuple([message.format(*args) for message, args in self.reasons])

    def to_dict(self) -> dict[str, Any]:
        """``valid``, ``error_type`` and ``errors`` as JSON-ready data."""
        return {"valid": self.valid, "error_type": self.error_type, "errors": list(self.errors)}

    def _key(self) -> tuple:
        return self.valid, self.score, self.error_type, self.errors

    def __eq__(self, other: object) -> bool:
        return self._key() == other._key() if isinstance(other, Verdict) else NotImplemented

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(valid={self.valid!r}, score={self.score!r}, error_type={self.error_type!r}, "
                f"errors={self.errors!r})")


def _failure(error_type: str, reasons: tuple[tuple[str, tuple], ...]) -> Verdict:
    """A failed `Verdict`, filled directly instead of through the frozen dataclass ``__init__`` (the hot path)."""
    verdict = object.__new__(Verdict)
    fields = verdict.__dict__
    fields["valid"] = False
    fields["score"] = 0.0
    fields["error_type"] = error_type
    fields["reasons"] = reasons
    return verdict


_CORRECT = Verdict(True, 1.0)


@dataclass(frozen=True)
class CheckOptions:
    """Strictness knobs of the checker."""

    int_as_float: bool = True
    """Accept an integer where a float is expected (``2`` for ``2.0``)."""
    normalize_strings: bool = True
    """Compare strings case-insensitively, ignoring spaces and the punctuation ``,./-_*^``, with ``'`` read as ``"``."""
    canonical_dates: bool = False
    """Compare strings that read as dates or times by value: ``"June 5, 2025"`` equals ``"2025-06-05"`` and
    ``"3:30 PM"`` equals ``"15:30"``. Off by default, as in BFCL."""


DEFAULT_OPTIONS = CheckOptions()

_STRING_NOISE = re.compile(r"[ ,./\-_*^]")
#: Python types of every schema type, JSON Schema's and BFCL's dialect alike (bool is handled apart).
_PY_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "float": (float,), "boolean": (bool,),
    "array": (list, tuple), "tuple": (list, tuple), "object": (dict,), "dict": (dict,), "null": (type(None),),
}
_NO_PROPERTIES: dict[str, Any] = {}
_NOTHING = object()


def check(calls: list[Call], task: Task, options: CheckOptions = DEFAULT_OPTIONS) -> Verdict:
    """Check ``calls`` against every possible answer of ``task``."""
    answers = task.answers
    if not answers and task.any_call:
        if not calls:
            return _failure("no_call", (("a tool call was expected, got none", ()),))
        offered = {tool.name for tool in task.tools}
        unknown = next((call.name for call in calls if call.name not in offered), None)
        return _CORRECT if unknown is None else _failure("wrong_function", (("{} is not a tool on offer", (unknown,)),))
    if not answers:
        if calls:
            return _failure("irrelevance", (("no tool fits this request, but {} was called", (calls[0].name,)),))
        return _CORRECT
    if not calls:
        return _failure("no_call", (("expected {} call(s), got none", (len(answers),)),))
    size = len(answers)
    if len(calls) != size:
        return _failure("wrong_count", (("expected {} call(s), got {}", (size, len(calls))),))
    tools = task.tools
    if size == 1:
        problem = _call_problem(calls[0], answers[0], tools, options)
        return _CORRECT if problem is None else _failed(problem)
    for index in range(size):  # calls written in the answers' order need no matching
        problem = _call_problem(calls[index], answers[index], tools, options)
        if problem is not None:
            break
    else:
        return _CORRECT
    if task.ordered:
        return _failed(problem)
    memo: list[list[Any]] = [[_NOTHING] * size for _ in range(size)]  # memo[call][answer] = problem
    for earlier in range(index):
        memo[earlier][earlier] = None
    memo[index][index] = problem

    def compatible(call: int, answer: int) -> bool:
        problem = memo[call][answer]
        if problem is _NOTHING:
            problem = memo[call][answer] = _call_problem(calls[call], answers[answer], tools, options)
        return problem is None

    owner = _match(size, compatible)
    if all(call is not None for call in owner):
        return _CORRECT
    # A call that no matching can place: report it against the free answer most like it (same function first).
    call = next(c for c in range(size) if c not in owner)
    free = [a for a in range(size) if owner[a] is None]
    answer = next((a for a in free if next(iter(answers[a])) == calls[call].name), free[0])
    compatible(call, answer)
    return _failed(memo[call][answer])


def _failed(problem: tuple[str, str, tuple]) -> Verdict:
    error_type, message, args = problem
    return _failure(error_type, ((message, args),))


def _assignment(compatible: list[list[bool]]) -> list[tuple[int, int]]:
    """A maximum matching over a compatibility matrix (``compatible[call][answer]``), completed to a full pairing
    in which unmatched calls take the free answers in index order."""
    size = len(compatible)
    owner = _match(size, lambda call, answer: compatible[call][answer], stop_early=False)
    pairs = {call: answer for answer, call in enumerate(owner) if call is not None}
    free_answers = iter(a for a in range(size) if owner[a] is None)
    return [(call, pairs[call] if call in pairs else next(free_answers)) for call in range(size)]


def _match(size: int, compatible: Callable[[int, int], bool], stop_early: bool = True) -> list[int | None]:
    """A maximum bipartite matching by Kuhn's augmenting paths: ``owner[answer]`` is its call, or None.

    ``compatible`` is evaluated lazily and each call tries the answer at its own index first. With ``stop_early``
    the search ends at the first call that cannot be placed: no later augmentation can place it (a property of
    Kuhn's algorithm), so the matching can no longer be perfect.
    """
    owner: list[int | None] = [None] * size

    def augment(call: int, seen: set[int]) -> bool:
        for answer in (call, *range(call), *range(call + 1, size)):
            if answer not in seen and compatible(call, answer):
                seen.add(answer)
                if owner[answer] is None or augment(owner[answer], seen):
                    owner[answer] = call
                    return True
        return False

    for call in range(size):
        if not augment(call, set()) and stop_early:
            break
    return owner


def _tool_spec(tool: Any) -> tuple[tuple[str, ...], dict[str, tuple[Any, Any, Any]]]:
    """A tool's required parameters and ``{param: type spec}`` (see `_type_spec`), computed once per tool and kept
    in ``tool.__dict__["_fcgym_check_spec"]`` (like functools.cached_property: Tool is frozen)."""
    schema = tool.parameters
    required = schema.get("required", ())
    properties = schema.get("properties") or {}
    spec = (
        tuple(required) if isinstance(required, (list, tuple)) else (),
        {param: _type_spec(prop) for param, prop in properties.items()},
    )
    tool.__dict__["_fcgym_check_spec"] = spec
    return spec


def _type_spec(prop: Any) -> tuple[Any, Any, type | None]:
    """``(declared type, items spec, the exact Python type that passes at once or None)``."""
    if not isinstance(prop, dict):
        return None, None, None
    items = prop.get("items")
    expected = prop.get("x-bfcl-type") or prop.get("type")
    items_spec = _type_spec(items) if isinstance(items, dict) else None
    exact = _EXACT_TYPES.get(expected) if isinstance(expected, str) and items_spec is None else None
    return expected, items_spec, exact


#: Schema types a value passes by its exact Python type alone (the fast path of the type check).
_EXACT_TYPES: dict[str, type] = {"string": str, "integer": int, "float": float, "boolean": bool, "object": dict,
                                 "dict": dict}
_SCALARS = (str, int, float, bool)


def _call_problem(call: Call, answer: PossibleAnswer, tools: tuple[Any, ...],
                  options: CheckOptions) -> tuple[str, str, tuple] | None:
    """``None`` when ``call`` satisfies ``answer``, else ``(error_type, message format, format arguments)``.

    The message is formatted only when it is reported: most problems found while matching parallel calls are not.
    """
    (name, accepted_params), = answer.items()
    if call.name != name:
        return "wrong_function", "expected a call to {}, got {}", (name, call.name)
    arguments = call.arguments
    for tool in tools:  # a loop beats building a dict by name: tasks offer few tools
        if tool.name == name:
            break
    else:
        tool = None
    if tool is not None:
        required, properties = tool.__dict__.get("_fcgym_check_spec") or _tool_spec(tool)
        for param in required:
            if param not in arguments:
                return "missing_required", "{}: missing required parameter {!r}", (name, param)
    else:
        properties = None
    for param, value in arguments.items():
        accepted = accepted_params.get(param)
        if accepted is None:
            return "unexpected_param", "{}: unexpected parameter {!r}", (name, param)
        value_type = type(value)
        if properties is not None:
            type_spec = properties.get(param)
            if type_spec is None:
                return "unexpected_param", "{}: unexpected parameter {!r}", (name, param)
            expected, items, exact = type_spec
            if expected is not None and value_type is not exact:
                if not _has_type(value, expected, items, accepted, options):
                    return ("type_error", "{}: {} should be {}, got {} {!r}",
                            (name, param, expected, value_type.__name__, value))
        if value_type in _SCALARS:  # the fast path: an accepted scalar, exactly
            for option in accepted:
                if option == value and type(option) is value_type:
                    break
            else:
                option = _NOTHING
            if option is not _NOTHING:
                continue
        if not _matches_any(value, accepted, options):
            return "value_error", "{}: {}={!r} is not one of {!r}", (name, param, value, accepted)
    if len(arguments) == len(accepted_params):
        return None  # every argument is one of the answer's parameters, so every one of those is given
    for param, accepted in accepted_params.items():
        if param not in arguments and "" not in accepted:
            return "missing_required", "{}: missing parameter {!r}", (name, param)
    return None


def _is_type(value: Any, expected: str, options: CheckOptions) -> bool:
    """Whether ``value`` has schema type ``expected`` (unknown types and ``any`` accept everything)."""
    python_types = _PY_TYPES.get(expected)
    if python_types is None:
        return True
    if isinstance(value, bool):
        return expected == "boolean"
    if expected == "float" and options.int_as_float and isinstance(value, int):
        return True
    return isinstance(value, python_types)


def _has_type(value: Any, expected: Any, items: tuple[Any, Any, Any] | None, accepted: list[Any],
              options: CheckOptions) -> bool:
    """Whether ``value`` has the declared type, or the type of the accepted values themselves."""
    if expected is None:
        return True
    if isinstance(expected, list):
        ok = any(_is_type(value, e, options) for e in expected)
    else:
        ok = _is_type(value, expected, options)
    if not ok:
        # The possible answers are the ground truth: a value of their type is not a type error (BFCL's "variable").
        for option in accepted:
            if option != "":
                return type(value) is type(option)
        return False
    if items is not None and isinstance(value, (list, tuple)):
        item_expected, item_items, item_exact = items
        element_options = None  # the accepted values' elements, gathered only if an element needs a full check
        for element in value:
            if type(element) is not item_exact:
                if element_options is None:
                    element_options = [e for o in accepted if isinstance(o, (list, tuple)) for e in o]
                if not _has_type(element, item_expected, item_items, element_options, options):
                    return False
    return True


@functools.lru_cache(maxsize=1 << 16)
def _normalize(text: str) -> str:
    return _STRING_NOISE.sub("", text).lower().replace("'", '"')


_DATE_FORMATS = ("%Y-%m-%d", "%B %d, %Y", "%b %d, %Y", "%d %B %Y", "%d %b %Y", "%Y/%m/%d")
_TIME_FORMATS = ("%H:%M", "%H:%M:%S", "%I:%M %p", "%I:%M%p", "%I %p", "%I%p")


@functools.lru_cache(maxsize=1 << 12)
def _as_date_or_time(text: str) -> tuple[str, str] | None:
    """``("date", ISO date)`` or ``("time", HH:MM:SS)`` for a string in a common format, else None."""
    text = re.sub(r"(?<=\d)(st|nd|rd|th)\b", "", text.strip())
    for kind, formats in (("date", _DATE_FORMATS), ("time", _TIME_FORMATS)):
        for fmt in formats:
            try:
                parsed = datetime.strptime(text, fmt)
            except ValueError:
                continue
            return kind, parsed.date().isoformat() if kind == "date" else parsed.time().isoformat()
    return None


def _matches_any(value: Any, accepted: list[Any], options: CheckOptions) -> bool:
    """Whether ``value`` matches one of the ``accepted`` values (``""``, "may be omitted", matches nothing)."""
    for option in accepted:
        if option != "" and _values_match(value, option, options):
            return True
    return False


def _values_match(value: Any, option: Any, options: CheckOptions) -> bool:
    if isinstance(option, str):
        if not isinstance(value, str):
            return False
        if value == option or (options.normalize_strings and _normalize(value) == _normalize(option)):
            return True
        if not options.canonical_dates:
            return False
        canonical = _as_date_or_time(option)
        return canonical is not None and _as_date_or_time(value) == canonical
    if isinstance(option, dict):
        if not isinstance(value, dict) or any(key not in option for key in value):
            return False
        for key, accepted in option.items():
            if not isinstance(accepted, list):
                accepted = [accepted]
            if key in value:
                if not _matches_any(value[key], accepted, options):
                    return False
            elif "" not in accepted:
                return False
        return True
    if isinstance(option, (list, tuple)):
        return (isinstance(value, (list, tuple)) and len(option) == len(value)
                and all(_values_match(v, o, options) for v, o in zip(value, option)))
    if isinstance(value, bool) or isinstance(option, bool):
        return value is option
    if isinstance(value, (int, float)) and isinstance(option, (int, float)):
        return value == option and (options.int_as_float or type(value) is type(option))
    return value == option


def check_state(task: Task, final_state: dict[str, Any], sandbox: Any = None) -> Verdict:
    """State-based scoring (tau-bench style): does ``final_state`` equal the state the target calls produce
    from the task's initial state? Read-only calls change nothing, so combine this with `check` for them."""
    from fcgym.sandbox import execute

    expected = task.fresh_state()
    execute(task.target_calls(), task.tools, expected, sandbox)
    if final_state == expected:
        return Verdict.correct()
    differing = sorted(key for key in expected.keys() | final_state.keys() if expected.get(key) != final_state.get(key))
    return Verdict.failed("state_mismatch", f"the final state differs from the target's in {', '.join(differing)}")
