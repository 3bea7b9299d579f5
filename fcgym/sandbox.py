"""Run tool implementations on an episode's state.

`execute` is the one entry point: it dispatches each call by name among the episode's tools, validates the
arguments against the tool's JSON Schema, runs the tool through a sandbox backend and returns one
`ToolResult` per call. A failing call leaves the state exactly as it was.

Backends: `InProcessSandbox` runs trusted built-in tools in this process.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any, Protocol

from fcgym.errors import FCGymError, ToolExecutionError, UnknownToolError
from fcgym.tools import Call, Tool

MAX_RESULT_CHARS = 4_000


@dataclass(frozen=True)
class ToolResult:
    """What one call returned (``output``, JSON text) or why it failed (``error``, with its type)."""

    call: Call
    output: str | None = None
    error: str | None = None
    error_type: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def message(self) -> dict[str, str]:
        """The result as an OpenAI-style ``tool`` chat message."""
        content = self.output if self.ok else json.dumps({"error": self.error_type, "message": self.error})
        return {"role": "tool", "name": self.call.name, "content": content}


class Sandbox(Protocol):
    """A backend that runs one tool call; it raises `ToolExecutionError` when the tool fails."""

    def run(self, tool: Tool, arguments: dict[str, Any], state: dict[str, Any]) -> Any: ...


class InProcessSandbox:
    """Runs trusted tools in this process; any exception becomes a `ToolExecutionError`."""

    def run(self, tool: Tool, arguments: dict[str, Any], state: dict[str, Any]) -> Any:
        if tool.fn is None:
            raise ToolExecutionError(f"{tool.name} has no implementation")
        try:
            return tool.fn(state, **arguments)
        except FCGymError:
            raise
        except Exception as error:  # tool code is arbitrary: every failure becomes a typed error
            raise ToolExecutionError(f"{tool.name} failed: {type(error).__name__}: {error}") from None


def _to_json(tool: Tool, output: Any) -> str:
    try:
        return json.dumps(output, default=str)
    except (TypeError, ValueError) as error:
        raise ToolExecutionError(f"{tool.name} returned a result that is not JSON: {error}") from None


def execute(
    calls: list[Call], tools: tuple[Tool, ...], state: dict[str, Any], sandbox: Sandbox | None = None
) -> list[ToolResult]:
    """Run ``calls`` in order on ``state`` (changed in place by successful calls only)."""
    sandbox = sandbox or InProcessSandbox()
    by_name = {tool.name: tool for tool in tools}
    results = []
    for call in calls:
        try:
            tool = by_name.get(call.name)
            if tool is None:
                raise UnknownToolError(f"unknown tool {call.name!r}; available: {', '.join(by_name)}")
            tool.validate(call.arguments)
            scratch = copy.deepcopy(state)
            text = _to_json(tool, sandbox.run(tool, call.arguments, scratch))
            if len(text) > MAX_RESULT_CHARS:
                text = text[:MAX_RESULT_CHARS] + "...(truncated)"
            state.clear()
            state.update(scratch)
            results.append(ToolResult(call, output=text))
        except FCGymError as error:
            results.append(ToolResult(call, error=str(error), error_type=type(error).__name__))
    return results
