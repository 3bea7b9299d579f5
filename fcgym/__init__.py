"""fcgym core: tools, tasks, call parsing, checking and sandboxed execution. No game, no model."""

from fcgym.calls import ParseLimits, format_calls, parse_calls, parse_tool_calls
from fcgym.checker import CheckOptions, Verdict, check, check_state
from fcgym.errors import FCGymError, ParseError, ToolArgumentError, ToolExecutionError, UnknownToolError
from fcgym.sandbox import InProcessSandbox, SubprocessSandbox, ToolResult, execute
from fcgym.tasks import Task
from fcgym.tools import Call, Tool, tool

__all__ = [
    "Call", "CheckOptions", "FCGymError", "InProcessSandbox", "ParseError", "SubprocessSandbox", "ParseLimits", "Task",
    "Tool", "ToolArgumentError", "ToolExecutionError", "ToolResult", "UnknownToolError", "Verdict", "check",
    "check_state", "execute", "format_calls", "parse_calls", "parse_tool_calls", "tool",
]
