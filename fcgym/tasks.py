"""Tasks: what one episode asks for, and the possible answers it accepts."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from fcgym.tools import Call, Tool

#: BFCL's possible-answer form: ``{tool_name: {param: [accepted values]}}``, ``""`` meaning "may be omitted".
PossibleAnswer = dict[str, dict[str, list[Any]]]


@dataclass(frozen=True, eq=False)
class Task:
    """One episode's tools, seed query, possible answers and initial state.

    ``answers`` lists one possible answer per expected call; an empty list means the right answer is
    to call no tool (an irrelevance task). ``ordered`` says whether the calls must come in order.
    """

    id: str
    tools: tuple[Tool, ...]
    query: str
    answers: tuple[PossibleAnswer, ...]
    initial_state: dict[str, Any] = field(default_factory=dict)
    domain: str = ""
    kind: str = "single"
    ordered: bool = False

    def tool(self, name: str) -> Tool | None:
        """The episode's tool called ``name``, or None."""
        return next((t for t in self.tools if t.name == name), None)

    def target_calls(self) -> list[Call]:
        """The canonical answer: for every call, the first accepted value of every non-omittable parameter."""
        calls = []
        for answer in self.answers:
            (name, params), = answer.items()
            arguments = {}
            for param, accepted in params.items():
                value = next((v for v in accepted if v != ""), None)
                if value is not None:
                    arguments[param] = value
            calls.append(Call(name, arguments))
        return calls

    def fresh_state(self) -> dict[str, Any]:
        """A private deep copy of the initial state for one episode."""
        return copy.deepcopy(self.initial_state)
