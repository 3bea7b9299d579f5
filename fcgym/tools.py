"""Tools: a name, a description, JSON-Schema parameters and an optional Python implementation."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Callable

import jsonschema

from fcgym.errors import ToolArgumentError

#: A tool implementation: ``fn(state, **arguments) -> result``. It may change ``state`` in place.
ToolFn = Callable[..., Any]


@dataclass(frozen=True)
class Call:
    """One function call: a tool name and its keyword arguments."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "arguments": self.arguments}


@dataclass(frozen=True, eq=False)
class Tool:
    """A callable tool as a model sees it (name, description, parameters) plus its implementation."""

    name: str
    description: str
    parameters: dict[str, Any]
    fn: ToolFn | None = None

    @functools.cached_property
    def _validator(self) -> jsonschema.protocols.Validator:
        cls = jsonschema.validators.validator_for(self.parameters, default=jsonschema.Draft202012Validator)
        cls.check_schema(self.parameters)
        return cls(self.parameters)

    def validate(self, arguments: dict[str, Any]) -> None:
        """Raise `ToolArgumentError` listing every schema violation of ``arguments``."""
        errors = sorted(self._validator.iter_errors(arguments), key=lambda e: list(e.path))
        if errors:
            details = "; ".join(f"{'/'.join(map(str, e.path)) or '<root>'}: {e.message}" for e in errors)
            raise ToolArgumentError(f"{self.name}: {details}")

    def schema(self) -> dict[str, Any]:
        """The tool in OpenAI's ``tools=[...]`` format, as chat templates and endpoints expect it."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }


def tool(description: str, **properties: dict[str, Any]) -> Callable[[ToolFn], Tool]:
    """Decorator that turns ``fn(state, **kwargs)`` into a `Tool`.

    Keyword arguments are the JSON-Schema properties; a property is required unless it has a ``default``.
    """

    def wrap(fn: ToolFn) -> Tool:
        required = [name for name, prop in properties.items() if "default" not in prop]
        parameters = {"type": "object", "properties": properties, "required": required, "additionalProperties": False}
        return Tool(name=fn.__name__, description=description, parameters=parameters, fn=fn)

    return wrap
