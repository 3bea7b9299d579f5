"""fcgym.sandbox.execute: dispatch, schema validation, typed errors, untouched state on failure."""

from __future__ import annotations

import copy
import json
import pickle
from typing import Any

import fastjsonschema
import pytest

from fcgym import Call, InProcessSandbox, Tool, ToolArgumentError, ToolExecutionError, execute, tool
from fcgym.sandbox import MAX_RESULT_CHARS
from fcgym.tasks import State, Task
from fcgym.tools import _is_plain_json


@tool("Add to a counter.", key={"type": "string", "minLength": 1}, amount={"type": "integer", "minimum": 1})
def add(state, key, amount):
    state["counters"][key] = state["counters"].get(key, 0) + amount
    return {"key": key, "value": state["counters"][key]}


@tool("Read a counter.", key={"type": "string"})
def read(state, key):
    return state["counters"].get(key, 0)


@tool("Change the state, then fail.", key={"type": "string"})
def half_done(state, key):
    state["counters"][key] = -1
    state["log"].append("half")
    raise RuntimeError("disk full")


@tool("Return a very long text.", size={"type": "integer", "default": 100_000})
def dump(state, size=100_000):
    return "z" * size


TOOLS = (add, read, half_done, dump)


@pytest.fixture
def state():
    return {"counters": {"a": 1}, "log": []}


def test_results_and_state_changes(state):
    results = execute([Call("add", {"key": "a", "amount": 2}), Call("add", {"key": "b", "amount": 5}),
                       Call("read", {"key": "a"})], TOOLS, state)
    assert [r.ok for r in results] == [True, True, True]
    assert [json.loads(r.output) for r in results] == [{"key": "a", "value": 3}, {"key": "b", "value": 5}, 3]
    assert [r.call.name for r in results] == ["add", "add", "read"]
    assert state == {"counters": {"a": 3, "b": 5}, "log": []}


def test_state_is_changed_in_place(state):
    same = state
    execute([Call("add", {"key": "a", "amount": 1})], TOOLS, state)
    assert state is same and state["counters"]["a"] == 2


def test_unknown_tool(state):
    before = copy.deepcopy(state)
    (result,) = execute([Call("rm_rf", {"path": "/"})], TOOLS, state)
    assert not result.ok and result.output is None
    assert result.error_type == "UnknownToolError" and "rm_rf" in result.error
    assert state == before


@pytest.mark.parametrize("arguments", [
    {"key": "a"},                              # missing required
    {"key": "a", "amount": 0},                 # below minimum
    {"key": "a", "amount": "2"},               # wrong type
    {"key": "a", "amount": 2.5},               # float for integer
    {"key": "a", "amount": True},              # bool is not an integer in JSON Schema
    {"key": "", "amount": 1},                  # minLength
    {"key": "a", "amount": 1, "extra": 1},     # additionalProperties: False
])
def test_schema_violation(state, arguments):
    before = copy.deepcopy(state)
    (result,) = execute([Call("add", arguments)], TOOLS, state)
    assert not result.ok and result.error_type == "ToolArgumentError" and result.error.startswith("add:")
    assert state == before


def test_tool_raising_leaves_state_unchanged(state):
    before = copy.deepcopy(state)
    (result,) = execute([Call("half_done", {"key": "a"})], TOOLS, state)
    assert result.error_type == "ToolExecutionError"
    assert "RuntimeError" in result.error and "disk full" in result.error
    assert state == before


def test_a_failing_call_does_not_stop_the_others(state):
    results = execute([Call("add", {"key": "a", "amount": 1}), Call("half_done", {"key": "a"}),
                       Call("nope", {}), Call("add", {"key": "a", "amount": 10})], TOOLS, state)
    assert [r.error_type for r in results] == [None, "ToolExecutionError", "UnknownToolError", None]
    assert state == {"counters": {"a": 12}, "log": []}


def test_tool_without_implementation(state):
    schema_only = Tool("schema_only", "No code.", {"type": "object", "properties": {}})
    (result,) = execute([Call("schema_only", {})], (schema_only,), state)
    assert result.error_type == "ToolExecutionError"


def test_results_as_tool_messages(state):
    ok, failed = execute([Call("read", {"key": "a"}), Call("add", {"key": "a"})], TOOLS, state)
    assert ok.message() == {"role": "tool", "name": "read", "content": "1"}
    message = failed.message()
    assert message["role"] == "tool" and message["name"] == "add"
    content = json.loads(message["content"])
    assert content["error"] == "ToolArgumentError" and "amount" in content["message"]


def test_huge_outputs_are_truncated(state):
    (result,) = execute([Call("dump", {})], TOOLS, state)
    assert result.ok and result.output.endswith("...(truncated)")
    assert len(result.output) == MAX_RESULT_CHARS + len("...(truncated)")
    (small,) = execute([Call("dump", {"size": 10})], TOOLS, state)
    assert small.output == json.dumps("z" * 10)


def test_in_process_sandbox_wraps_exceptions():
    with pytest.raises(ToolExecutionError, match="ZeroDivisionError"):
        InProcessSandbox().run(Tool("div", "", {"type": "object"}, fn=lambda state: 1 / 0), {}, {})


def test_a_custom_sandbox_backend_is_used(state):
    class Recording:
        def __init__(self):
            self.seen = []

        def run(self, tool, arguments, state):
            self.seen.append((tool.name, arguments))
            return "stub"

    backend = Recording()
    (result,) = execute([Call("add", {"key": "a", "amount": 1})], TOOLS, state, backend)
    assert backend.seen == [("add", {"key": "a", "amount": 1})] and result.output == '"stub"'
    assert state == {"counters": {"a": 1}, "log": []}


def test_unserialisable_output_is_a_tool_error(state):
    odd = Tool("odd", "", {"type": "object"}, fn=lambda state: {(1, 2): "pair"})
    (result,) = execute([Call("odd", {})], (odd,), state)
    assert result.error_type == "ToolExecutionError"


# ----------------------------------------------------------------------------------------- copy-on-read states

def _initial():
    return {"counters": {"a": 1}, "log": [{"op": "open"}], "untouched": {"deep": [1, 2]}}


@pytest.mark.parametrize("mutate", [
    lambda s: s["counters"].update(a=99),
    lambda s: s.get("log").append("x"),
    lambda s: s.setdefault("log", []).append("x"),
    lambda s: s.pop("counters").clear(),
    lambda s: s.popitem()[1]["deep"].append(3),
    lambda s: [v.clear() for v in s.values()],
    lambda s: [v.clear() for _, v in s.items()],
    lambda s: dict(s)["counters"].clear(),
    lambda s: {**s}["log"].clear(),
    lambda s: copy.copy(s)["counters"].clear(),
    lambda s: copy.deepcopy(s)["counters"].clear(),
    lambda s: s.copy()["counters"].clear(),
    lambda s: (s | {})["counters"].clear(),
], ids=["getitem", "get", "setdefault", "pop", "popitem", "values", "items", "dict", "unpack", "copy.copy",
        "deepcopy", "copy", "or"])
def test_a_state_never_changes_its_source(mutate):
    initial = _initial()
    state = State(initial)
    mutate(state)
    assert initial == _initial()


def test_a_state_reads_and_writes_like_a_dict():
    state = State(_initial())
    assert state == _initial() and len(state) == 3 and "log" in state and list(state) == list(_initial())
    state["counters"]["b"] = 2
    state["new"] = 1
    state.update(log=[])
    del state["untouched"]
    assert state == {"counters": {"a": 1, "b": 2}, "log": [], "new": 1}
    assert json.loads(json.dumps(state)) == state
    state.clear()
    assert state == {}


def test_a_state_pickles_as_a_plain_dict():
    state = State(_initial())
    state["counters"]["a"] = 5
    copied = pickle.loads(pickle.dumps(state))
    assert type(copied) is dict and copied == {**_initial(), "counters": {"a": 5}}


def test_episodes_of_one_task_share_no_state():
    task = Task(id="t", tools=TOOLS, query="", answers=(), initial_state={"counters": {"a": 1}, "log": []})
    first, second = task.fresh_state(), task.fresh_state()
    execute([Call("add", {"key": "a", "amount": 2})], TOOLS, first)
    assert first["counters"] == {"a": 3}
    assert second == task.initial_state == {"counters": {"a": 1}, "log": []}


def test_a_failing_call_on_a_fresh_state_changes_nothing():
    task = Task(id="t", tools=TOOLS, query="", answers=(), initial_state={"counters": {"a": 1}, "log": []})
    state = task.fresh_state()
    execute([Call("add", {"key": "a", "amount": 1})], TOOLS, state)
    (result,) = execute([Call("half_done", {"key": "a"})], TOOLS, state)
    assert not result.ok
    assert state == {"counters": {"a": 2}, "log": []} and task.initial_state == {"counters": {"a": 1}, "log": []}


def test_a_call_that_removes_a_key_removes_it(state):
    drop = Tool("drop", "", {"type": "object"}, fn=lambda state: state.pop("log") and None)
    (result,) = execute([Call("drop", {})], (drop,), state)
    assert result.ok and state == {"counters": {"a": 1}}


# ------------------------------------------------------------------------- fastjsonschema's fast path vs jsonschema

class _Text(str):
    pass


_ODD_VALUES = [None, True, False, 0, 1, -1, 1.0, 2.5, -0.0, float("nan"), float("inf"), 10 ** 20, "", "x", "checking",
               "2025-06-05", "a/b.txt", _Text("x"), [], ["a"], ["a", "a"], [1, 1.0], [True, 1], {}, {"a": 1}, (1,),
               {1, 2}]


def _variants(arguments: dict) -> list:
    """``arguments`` and many near misses: each parameter dropped, an extra one, each value swapped for odd values
    (at the top and inside lists and objects)."""
    out = [arguments, {**arguments, "zz_extra": 1}, [arguments], "text"]
    for name, value in arguments.items():
        out.append({k: v for k, v in arguments.items() if k != name})
        out += [{**arguments, name: odd} for odd in _ODD_VALUES]
        if isinstance(value, list) and value:
            out += [{**arguments, name: [odd, *value[1:]]} for odd in _ODD_VALUES]
            out.append({**arguments, name: value + value})
        if isinstance(value, dict) and value:
            key = next(iter(value))
            out += [{**arguments, name: {**value, key: odd}} for odd in _ODD_VALUES]
            out.append({**arguments, name: {**value, "zz_extra": 1}})
    if len(arguments) > 1:  # a missing parameter together with a wrong one
        first, second = list(arguments)[:2]
        out += [{**{k: v for k, v in arguments.items() if k != first}, second: odd} for odd in _ODD_VALUES]
    return out


def _jsonschema_verdict(tool: Tool, arguments: Any) -> str | None:
    """What `Tool.validate` says by jsonschema alone: its errors, sorted by path."""
    errors = sorted(tool._validator.iter_errors(arguments), key=lambda e: list(e.path))
    details = "; ".join(f"{'/'.join(map(str, e.path)) or '<root>'}: {e.message}" for e in errors)
    return f"{tool.name}: {details}" if errors else None


def _verdict(tool: Tool, arguments: Any) -> str | None:
    try:
        tool.validate(arguments)
    except ToolArgumentError as error:
        return str(error)
    return None


def _fast_accepts(tool: Tool, arguments: Any) -> bool:
    """Whether fastjsonschema decided ``arguments`` on its own (valid but for missing required parameters)."""
    if tool._fast_check is None or type(arguments) is not dict or not _is_plain_json(arguments):
        return False
    try:
        tool._fast_check(arguments)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


def _assert_validate_agrees(tool: Tool, arguments_list: list[dict]) -> int:
    """`Tool.validate` says what jsonschema says on every variant; returns how many fastjsonschema decided."""
    decided = 0
    for arguments in arguments_list:
        for candidate in _variants(arguments):
            assert _verdict(tool, candidate) == _jsonschema_verdict(tool, candidate), (tool.name, candidate)
            decided += _fast_accepts(tool, candidate)
    return decided


def test_validate_says_what_jsonschema_says_on_the_domains():
    import random

    from envs.domains import DOMAINS

    rng = random.Random(0)
    for module in DOMAINS.values():
        for domain_tool in module.TOOLS:
            assert domain_tool._fast_check is not None, f"{domain_tool.name}: its schema is not compiled"
            samples = [module.sample_arguments(domain_tool.name, rng, "train") for _ in range(5)]
            assert _assert_validate_agrees(domain_tool, samples) >= len(samples), domain_tool.name


def test_validate_says_what_jsonschema_says_on_bfcl():
    bfcl = pytest.importorskip("envs.bfcl")
    pytest.importorskip("bfcl_eval")
    for category in ("simple_python", "multiple", "live_simple"):
        for task in bfcl.load(category)[::4]:
            for call in task.target_calls():
                bfcl_tool = task.tool(call.name)
                if bfcl_tool is not None:
                    _assert_validate_agrees(bfcl_tool, [call.arguments])


@pytest.mark.parametrize("schema", [
    {"type": "object", "properties": {"n": {"type": "integer", "minimum": 0, "maximum": 10}}},
    {"type": "object", "properties": {"n": {"type": ["number", "null"], "exclusiveMinimum": 0, "exclusiveMaximum": 1}}},
    {"type": "object", "properties": {"s": {"type": "string", "minLength": 1, "maxLength": 3, "pattern": "^[a-z]+$"}}},
    {"type": "object", "properties": {"e": {"enum": ["x", 1, None, [1], True]}}, "required": ["e"]},
    {"type": "object", "properties": {"l": {"type": "array", "items": {"type": "string"}, "uniqueItems": True,
                                            "minItems": 1, "maxItems": 2}}},
    {"type": "object", "properties": {"o": {"type": "object", "additionalProperties": {"type": "integer"}}}},
    {"type": "object", "properties": {"b": {"type": "boolean"}, "c": {"type": "integer"}}, "required": ["c", "b"],
     "additionalProperties": False, "x-note": 1},
    {"type": "object", "properties": {"d": {"type": "string", "format": "date"}}},
    {"properties": {"s": {"pattern": "^[a-z]+$", "minLength": 2, "maximum": 3}}},
    {"type": "object", "properties": {"n": {"anyOf": [{"type": "integer"}, {"type": "string", "maxLength": 1}]}}},
])
def test_validate_says_what_jsonschema_says_on_hand_made_schemas(schema):
    hand_made = Tool("t", "", schema)
    assert hand_made._fast_check is not None
    samples = [{name: value} for name in schema["properties"] for value in _ODD_VALUES + [[1], ["ab", "cd"], {"a": 1}]]
    assert _assert_validate_agrees(hand_made, samples) > 0


@pytest.mark.parametrize("schema", [
    {"type": "object", "properties": {"n": {"$ref": "#/$defs/n"}}, "$defs": {"n": {"type": "integer"}}},
    {"type": "object", "properties": {"n": {"anyOf": [{"type": "integer"}, {"$ref": "#/$defs/n"}]}},
     "$defs": {"n": {"type": "string"}}},
    {"type": "object", "properties": {"l": {"type": "array", "prefixItems": [{"type": "integer"}]}}},
    {"type": "object", "patternProperties": {"^x": {"type": "integer"}}, "additionalProperties": False},
    {"$schema": "http://json-schema.org/draft-04/schema#", "type": "object"},
])
def test_schemas_with_other_keywords_are_left_to_jsonschema(schema):
    assert Tool("t", "", schema)._fast_check is None
