"""Tools: a name, a description, JSON-Schema parameters and an optional Python implementation."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Callable

import fastjsonschema
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

    @functools.cached_property
    def _fast_check(self) -> Callable[[Any], Any] | None:
        """fastjsonschema's compiled check of the schema without its top-level ``required``, or None where the schema
        uses a keyword whose meaning differs between draft 7 (what fastjsonschema compiles) and jsonschema's draft."""
        self._validator  # noqa: B018 -- checks the schema first
        schema = {keyword: value for keyword, value in self.parameters.items() if keyword != "required"}
        if not _portable(schema):
            return None
        return fastjsonschema.compile(schema, use_default=False, use_formats=False)

    def validate(self, arguments: dict[str, Any]) -> None:
        """Raise `ToolArgumentError` listing every schema violation of ``arguments``, in jsonschema's words.

        Plain JSON arguments that fastjsonschema accepts (all but the top-level ``required``) can only lack required
        parameters, which are then reported as jsonschema reports them; anything else goes to jsonschema.
        """
        fast_check = self._fast_check
        if fast_check is not None and type(arguments) is dict and _is_plain_json(arguments):
            try:
                fast_check(arguments)
            except fastjsonschema.JsonSchemaException:
                pass
            else:
                missing = [name for name in self.parameters.get("required", ()) if name not in arguments]
                if missing:
                    details = "; ".join(f"<root>: {name!r} is a required property" for name in missing)
                    raise ToolArgumentError(f"{self.name}: {details}")
                return
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


#: Keywords that mean the same in JSON Schema draft 7 and 2020-12, and annotations that assert nothing.
_PORTABLE_KEYWORDS = frozenset({
    "type", "enum", "const", "properties", "required", "additionalProperties", "items", "minimum", "maximum",
    "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength", "pattern", "minItems", "maxItems", "uniqueItems",
    "minProperties", "maxProperties", "multipleOf", "anyOf", "allOf", "oneOf", "not",
    "title", "description", "default", "examples", "format", "$comment", "deprecated", "readOnly", "writeOnly",
})
def _portable(schema: Any) -> bool:
    """Whether ``schema`` uses only `_PORTABLE_KEYWORDS` (and ``x-`` extensions) at every depth."""
    if isinstance(schema, bool):
        return True
    if not isinstance(schema, dict) or any(k not in _PORTABLE_KEYWORDS and not k.startswith("x-") for k in schema):
        return False
    properties = schema.get("properties", {})
    if not isinstance(properties, dict):
        return False
    subschemas = [*properties.values(), *(schema[k] for k in ("items", "additionalProperties", "not") if k in schema)]
    for keyword in ("anyOf", "allOf", "oneOf"):
        if keyword in schema:
            if not isinstance(schema[keyword], list):
                return False
            subschemas += schema[keyword]
    return all(_portable(subschema) for subschema in subschemas)


def _is_plain_json(value: Any) -> bool:
    """Whether ``value`` is built of exactly JSON's Python types (no tuples, sets or subclasses) at every depth."""
    kind = type(value)
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return True
    if kind is list:
        return all(_is_plain_json(item) for item in value)
    if kind is dict:
        return all(type(key) is str and _is_plain_json(item) for key, item in value.items())
    return False
