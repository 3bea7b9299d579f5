"""Tools: a name, a description, JSON-Schema parameters and an optional Python implementation."""

from __future__ import annotations

import functools
import re
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

    @functools.cached_property
    def _compiled(self) -> tuple[Callable[[Any], bool], list[str]] | None:
        """A compiled check of every keyword but the top-level ``required`` (see `_compile`), and the required names;
        None where the schema is not compiled."""
        validator = self._validator  # checks the schema first
        schema = self.parameters
        if type(validator) is not jsonschema.Draft202012Validator or not isinstance(schema, dict):
            return None
        accepts = _compile({keyword: value for keyword, value in schema.items() if keyword != "required"})
        return None if accepts is None else (accepts, schema.get("required", []))

    def validate(self, arguments: dict[str, Any]) -> None:
        """Raise `ToolArgumentError` listing every schema violation of ``arguments``.

        Arguments that a compiled check of the schema's common keywords accepts are valid but for missing required
        parameters, which are then the only violations (worded as jsonschema words them); all other arguments go to
        jsonschema, which finds and words the violations. The compiled check never accepts what jsonschema rejects.
        """
        compiled = self._compiled
        if compiled is not None and type(arguments) is dict and compiled[0](arguments):
            problems = [("", f"{name!r} is a required property") for name in compiled[1] if name not in arguments]
        else:
            errors = sorted(self._validator.iter_errors(arguments), key=lambda e: list(e.path))
            problems = [("/".join(map(str, e.path)), e.message) for e in errors]
        if problems:
            details = "; ".join(f"{path or '<root>'}: {message}" for path, message in problems)
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


# ---------------------------------------------------------------------------------------------------------------
# A compiled check for JSON Schema (draft 2020-12) that accepts only what jsonschema accepts. It covers the keywords
# tool schemas use; a schema with any other jsonschema keyword is not compiled. Values of other types than JSON's
# (exactly str, int, float, bool, None, list, dict) and cases it does not decide exactly are left to jsonschema.

_JSON_TYPES = frozenset({str, int, float, bool, type(None), list, dict})
_NUMBER = (int, float)
_IS_TYPE: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: type(v) is str,
    "integer": lambda v: type(v) is int or (type(v) is float and v.is_integer()),
    "number": lambda v: type(v) in _NUMBER,
    "boolean": lambda v: type(v) is bool,
    "null": lambda v: v is None,
    "array": lambda v: type(v) is list,
    "object": lambda v: type(v) is dict,
}


def _compile(schema: Any) -> Callable[[Any], bool] | None:
    """``accepts(value)`` for ``schema``, or None where the schema uses a keyword this check does not cover."""
    if schema is True:
        return lambda value: True
    if not isinstance(schema, dict):
        return None
    checks = []
    for keyword, argument in schema.items():
        if keyword == "format" or keyword not in jsonschema.Draft202012Validator.VALIDATORS:
            continue  # annotations (format is one without a format checker)
        build = _KEYWORDS.get(keyword)
        check = build(argument, schema) if build is not None else None
        if check is None:
            return None
        checks.append(check)

    def accepts(value: Any) -> bool:
        if type(value) not in _JSON_TYPES:
            return False
        for check in checks:
            if not check(value):
                return False
        return True

    return accepts


def _type(argument: Any, schema: dict) -> Callable[[Any], bool] | None:
    names = [argument] if isinstance(argument, str) else argument
    if not isinstance(names, list) or not all(name in _IS_TYPE for name in names):
        return None
    tests = [_IS_TYPE[name] for name in names]
    return lambda v: any(test(v) for test in tests)


def _enum(argument: Any, schema: dict) -> Callable[[Any], bool] | None:
    if not isinstance(argument, list):
        return None
    strings = frozenset(e for e in argument if type(e) is str)
    numbers = [e for e in argument if type(e) in _NUMBER]
    return lambda v: v in strings if type(v) is str else type(v) in _NUMBER and any(v == e for e in numbers)


def _bound(compare: Callable[[Any, Any], bool]) -> Callable[[Any, dict], Callable[[Any], bool] | None]:
    def build(argument: Any, schema: dict) -> Callable[[Any], bool] | None:
        if type(argument) not in _NUMBER:
            return None
        return lambda v: type(v) not in _NUMBER or not compare(v, argument)
    return build


def _length(of: type, too_short: bool) -> Callable[[Any, dict], Callable[[Any], bool] | None]:
    def build(argument: Any, schema: dict) -> Callable[[Any], bool] | None:
        if type(argument) is not int:
            return None
        if too_short:
            return lambda v: type(v) is not of or len(v) >= argument
        return lambda v: type(v) is not of or len(v) <= argument
    return build


def _pattern(argument: Any, schema: dict) -> Callable[[Any], bool] | None:
    try:
        search = re.compile(argument).search
    except (TypeError, re.error):
        return None
    return lambda v: type(v) is not str or search(v) is not None


def _unique_items(argument: Any, schema: dict) -> Callable[[Any], bool] | None:
    if argument is False:
        return lambda v: True
    if argument is not True:
        return None
    # Unique by jsonschema's equality is decided here for lists of strings only (others go to jsonschema).
    return lambda v: type(v) is not list or (all(type(e) is str for e in v) and len(set(v)) == len(v))


def _required(argument: Any, schema: dict) -> Callable[[Any], bool] | None:
    if not isinstance(argument, list):
        return None
    return lambda v: type(v) is not dict or all(name in v for name in argument)


def _properties(argument: Any, schema: dict) -> Callable[[Any], bool] | None:
    if not isinstance(argument, dict):
        return None
    compiled = {name: _compile(sub) for name, sub in argument.items()}
    if None in compiled.values():
        return None
    checks = list(compiled.items())
    return lambda v: type(v) is not dict or all(check(v[name]) for name, check in checks if name in v)


def _additional_properties(argument: Any, schema: dict) -> Callable[[Any], bool] | None:
    if "patternProperties" in schema:
        return None
    known = frozenset(schema.get("properties", {}))
    if argument is True:
        return lambda v: True
    if argument is False:
        return lambda v: type(v) is not dict or all(key in known for key in v)
    check = _compile(argument)
    if check is None:
        return None
    return lambda v: type(v) is not dict or all(check(v[key]) for key in v if key not in known)


def _items(argument: Any, schema: dict) -> Callable[[Any], bool] | None:
    check = _compile(argument) if "prefixItems" not in schema else None
    if check is None:
        return None
    return lambda v: type(v) is not list or all(check(e) for e in v)


_KEYWORDS: dict[str, Callable[[Any, dict], Callable[[Any], bool] | None]] = {
    "type": _type, "enum": _enum, "pattern": _pattern, "uniqueItems": _unique_items, "required": _required,
    "properties": _properties, "additionalProperties": _additional_properties, "items": _items,
    "minimum": _bound(lambda v, bound: v < bound), "maximum": _bound(lambda v, bound: v > bound),
    "exclusiveMinimum": _bound(lambda v, bound: v <= bound), "exclusiveMaximum": _bound(lambda v, bound: v >= bound),
    "minLength": _length(str, too_short=True), "maxLength": _length(str, too_short=False),
    "minItems": _length(list, too_short=True), "maxItems": _length(list, too_short=False),
}
