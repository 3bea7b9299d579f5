"""Tasks: what one episode asks for, and the possible answers it accepts."""

from __future__ import annotations

import functools
import pickle
from dataclasses import dataclass, field
from typing import Any

from fcgym.tools import Call, Tool

#: BFCL's possible-answer form: ``{tool_name: {param: [accepted values]}}``, ``""`` meaning "may be omitted".
PossibleAnswer = dict[str, dict[str, list[Any]]]


def possible_answer(tool: Tool, arguments: dict[str, Any]) -> PossibleAnswer:
    """The possible answer for one call: the stated values, and optional parameters that may be left out."""
    params = {name: [value] for name, value in arguments.items()}
    for name, prop in tool.parameters.get("properties", {}).items():
        if name not in params and "default" in prop:
            params[name] = ["", prop["default"]]
    return {tool.name: params}


@dataclass(frozen=True, eq=False)
class Task:
    """One episode's tools, seed query, possible answers and initial state.

    ``answers`` lists one possible answer per expected call; an empty list means the right answer is
    to call no tool (an irrelevance task). ``ordered`` says whether the calls must come in order.
    ``derived`` names the ``(call index, parameter)`` pairs whose values come from an earlier call's result
    (multi-step tasks): a request need not state them, and the model learns them from the tool's reply.
    ``any_call`` (with no answers): any call of a tool on offer is right and no call is wrong (BFCL's relevance).
    """

    id: str
    tools: tuple[Tool, ...]
    query: str
    answers: tuple[PossibleAnswer, ...]
    initial_state: dict[str, Any] = field(default_factory=dict)
    domain: str = ""
    kind: str = "single"
    ordered: bool = False
    derived: frozenset[tuple[int, str]] = frozenset()
    any_call: bool = False

    def tool(self, name: str) -> Tool | None:
        """The episode's tool called ``name``, or None."""
        return next((t for t in self.tools if t.name == name), None)

    def target_calls(self, copy: bool = True) -> list[Call]:
        """The canonical answer: for every call, the first accepted value of every parameter that may not be
        left out, resolved recursively through dict-valued parameters (which nest the possible-answer form).

        ``copy=False`` returns the task's own calls, which is faster: read them, never change them."""
        if not copy:
            return list(self._target_calls)
        return [Call(call.name, copy_state(call.arguments)) for call in self._target_calls]

    @functools.cached_property
    def _target_calls(self) -> tuple[Call, ...]:
        return tuple(Call(name, _first_accepted(params)) for answer in self.answers for name, params in answer.items())

    def stated_calls(self, copy: bool = True) -> list[Call]:
        """The target calls without the parameters that may be left out or come from earlier results: what a
        request must state. ``copy=False`` shares the values with the task, as in `target_calls`."""
        derived = self.derived
        calls = []
        for index, (call, answer) in enumerate(zip(self._target_calls, self.answers)):
            accepted = answer[call.name]
            stated = {k: v for k, v in call.arguments.items()
                      if "" not in accepted[k] and not (derived and (index, k) in derived)}
            calls.append(call if len(stated) == len(call.arguments) else Call(call.name, stated))
        return [Call(call.name, copy_state(call.arguments)) for call in calls] if copy else calls

    def fresh_state(self) -> State:
        """A private copy of the initial state for one episode (a `State`: values are copied when first read)."""
        return State(self.initial_state)


def _first_accepted(params: dict[str, Any]) -> dict[str, Any]:
    """``{param: [accepted...]}`` -> ``{param: first accepted value}``, leaving out omittable parameters."""
    resolved = {}
    for param, accepted in params.items():
        options = accepted if isinstance(accepted, list) else [accepted]
        for value in options:
            if value != "":
                resolved[param] = _resolve(value) if isinstance(value, (dict, list)) else value
                break
        else:
            if not options:
                resolved[param] = ""
    return resolved


def _resolve(value: Any) -> Any:
    if isinstance(value, dict):
        return _first_accepted(value)
    if isinstance(value, list):
        return [_resolve(v) for v in value]
    return value


def copy_state(state: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of a world state (plain data); a pickle round trip is several times faster than deepcopy."""
    return pickle.loads(pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL))


class State(dict):
    """A world state that deep-copies each top-level value from its source the first time it hands it out.

    ``State(source)`` costs a shallow copy: a value is copied (`copy_state`) on its first read through any dict method,
    so nothing done through the `State` changes ``source``, and values nobody reads are never copied. ``source`` must
    not change in place while the `State` is in use. Values are copied per top-level key (objects shared between two
    keys stop being shared); pickling and `copy.copy` give a plain deep copy.
    """

    def __init__(self, source: dict[str, Any]):
        super().__init__(dict.items(source))
        self._shared = set(source)

    def __getitem__(self, key: str) -> Any:
        value = dict.__getitem__(self, key)
        if key in self._shared:
            self._shared.discard(key)
            value = copy_state(value)
            dict.__setitem__(self, key, value)
        return value

    def __setitem__(self, key: str, value: Any) -> None:
        dict.__setitem__(self, key, value)
        self._shared.discard(key)

    def __delitem__(self, key: str) -> None:
        dict.__delitem__(self, key)
        self._shared.discard(key)

    def __iter__(self):  # a Python-level __iter__ makes dict(s), {**s} and d.update(s) read values through __getitem__
        return dict.__iter__(self)

    def __reduce__(self) -> tuple:
        return dict, (dict(dict.items(self)),)

    def _own_all(self) -> None:
        for key in list(self._shared):
            self[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self else default

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def pop(self, key: str, *default: Any) -> Any:
        if key not in self:
            return dict.pop(self, key, *default)
        value = self[key]
        del self[key]
        return value

    def popitem(self) -> tuple[str, Any]:
        key = next(reversed(self.keys()))
        return key, self.pop(key)

    def items(self):
        self._own_all()
        return dict.items(self)

    def values(self):
        self._own_all()
        return dict.values(self)

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def clear(self) -> None:
        dict.clear(self)
        self._shared.clear()

    def copy(self) -> dict[str, Any]:
        return copy_state(self)

    __copy__ = copy

    def __or__(self, other: dict[str, Any]) -> dict[str, Any]:
        new = self.copy()
        new.update(other)
        return new

    def __ior__(self, other: dict[str, Any]) -> State:
        self.update(other)
        return self
