"""fcgym.checker: BFCL possible-answer semantics, every error type, and order-free matching."""

from __future__ import annotations

import pytest

from fcgym import Call, CheckOptions, Task, Tool, check
from fcgym.checker import ERROR_TYPES


def _tool(name: str, **properties) -> Tool:
    return Tool(name, f"The {name} tool.", {"type": "object", "properties": properties})


PAY = _tool("pay", recipient={"type": "string"}, amount={"type": "number"}, note={"type": "string"},
            rate={"type": "float"}, count={"type": "integer"}, urgent={"type": "boolean"},
            address={"type": "dict"}, tags={"type": "array"})
LOOKUP = _tool("lookup", key={"type": "string"})
SET = _tool("set", x={"type": "integer"})


def _task(*answers, tools=(PAY, LOOKUP, SET), ordered=False) -> Task:
    return Task(id="t", tools=tools, query="q", answers=tuple(answers), ordered=ordered)


PAY_TASK = _task({"pay": {"recipient": ["Alice"], "amount": [25], "note": ["", "rent"]}})


def _error(calls, task, options=CheckOptions()) -> str | None:
    verdict = check(calls, task, options)
    assert verdict.valid == (verdict.error_type is None)
    assert verdict.score == (1.0 if verdict.valid else 0.0)
    if not verdict.valid:
        assert verdict.error_type in ERROR_TYPES and verdict.errors and all(verdict.errors)
    return verdict.error_type


def test_correct_answer():
    verdict = check([Call("pay", {"recipient": "Alice", "amount": 25, "note": "rent"})], PAY_TASK)
    assert verdict.valid and verdict.score == 1.0 and verdict.error_type is None and verdict.errors == ()


def test_optional_parameter_may_be_left_out():
    assert _error([Call("pay", {"recipient": "Alice", "amount": 25})], PAY_TASK) is None


def test_optional_parameter_given_must_still_match():
    assert _error([Call("pay", {"recipient": "Alice", "amount": 25, "note": "gift"})], PAY_TASK) == "value_error"


def test_target_calls_pass():
    assert _error(PAY_TASK.target_calls(), PAY_TASK) is None


def test_target_and_stated_calls_are_copies_unless_asked_not_to_be():
    task = _task({"pay": {"recipient": ["Alice"], "tags": [["a", "b"]], "note": ["", "rent"]}})
    for calls in (task.target_calls(), task.stated_calls()):
        calls[0].arguments["tags"].append("c")
        calls[0].arguments["recipient"] = "Bob"
    assert task.target_calls(copy=False) == task.target_calls() == [
        Call("pay", {"recipient": "Alice", "tags": ["a", "b"], "note": "rent"})]
    assert task.stated_calls(copy=False) == task.stated_calls() == [
        Call("pay", {"recipient": "Alice", "tags": ["a", "b"]})]


def test_no_call():
    assert _error([], PAY_TASK) == "no_call"


def test_irrelevance():
    task = _task()
    assert _error([], task) is None
    verdict = check([Call("lookup", {"key": "weather"})], task)
    assert verdict.error_type == "irrelevance" and "lookup" in verdict.errors[0]


def test_wrong_count():
    call = Call("pay", {"recipient": "Alice", "amount": 25})
    assert _error([call, call], PAY_TASK) == "wrong_count"


def test_wrong_function():
    assert _error([Call("lookup", {"key": "Alice"})], PAY_TASK) == "wrong_function"


def test_missing_required():
    verdict = check([Call("pay", {"recipient": "Alice"})], PAY_TASK)
    assert verdict.error_type == "missing_required" and "amount" in verdict.errors[0]


def test_unexpected_param():
    verdict = check([Call("pay", {"recipient": "Alice", "amount": 25, "currency": "EUR"})], PAY_TASK)
    assert verdict.error_type == "unexpected_param" and "currency" in verdict.errors[0]


@pytest.mark.parametrize("param, value, accepted", [
    ("amount", "25", [25]),
    ("amount", True, [1]),
    ("count", 2.0, [2]),
    ("count", True, [1]),
    ("recipient", 7, ["7"]),
    ("urgent", 1, [True]),
    ("address", "Main St", [{"street": ["Main St"]}]),
    ("tags", "a", [["a"]]),
])
def test_type_error(param, value, accepted):
    task = _task({"pay": {param: accepted}})
    assert _error([Call("pay", {param: value})], task) == "type_error"


@pytest.mark.parametrize("param, value, accepted", [
    ("amount", 26, [25]),
    ("amount", 25.01, [25]),
    ("recipient", "Alicia", ["Alice"]),
    ("urgent", False, [True]),
    ("tags", ["a", "b"], [["a"]]),
    ("tags", ["b", "a"], [["a", "b"]]),
])
def test_value_error(param, value, accepted):
    task = _task({"pay": {param: accepted}})
    assert _error([Call("pay", {param: value})], task) == "value_error"


def test_any_accepted_value_matches():
    task = _task({"pay": {"amount": [25, 30.5], "recipient": ["Alice", "Bob"]}})
    assert _error([Call("pay", {"amount": 30.5, "recipient": "Bob"})], task) is None


def test_nested_dict_values():
    address = {"street": ["Main St"], "city": ["Oslo", "Bergen"], "zip": ["", "0150"]}
    task = _task({"pay": {"address": [address]}})
    assert _error([Call("pay", {"address": {"street": "Main St", "city": "Bergen"}})], task) is None
    assert _error([Call("pay", {"address": {"street": "Main St", "city": "Oslo", "zip": "0150"}})], task) is None
    assert _error([Call("pay", {"address": {"street": "Main St", "city": "Paris"}})], task) == "value_error"
    assert _error([Call("pay", {"address": {"street": "Main St"}})], task) == "value_error"  # city is required
    assert _error([Call("pay", {"address": {"street": "Main St", "city": "Oslo", "flat": "2"}})],
                  task) == "value_error"  # an extra key


# ------------------------------------------------------------------------------- parallel calls

PARALLEL = _task({"lookup": {"key": ["a"]}}, {"set": {"x": [1]}})


def test_parallel_calls_in_any_order():
    forward = [Call("lookup", {"key": "a"}), Call("set", {"x": 1})]
    assert _error(forward, PARALLEL) is None
    assert _error(forward[::-1], PARALLEL) is None


def test_parallel_calls_report_the_failing_call():
    verdict = check([Call("set", {"x": 2}), Call("lookup", {"key": "a"})], PARALLEL)
    assert verdict.error_type == "value_error" and "x=2" in verdict.errors[0]


def _greedy_first_fit(calls, task) -> bool:
    """What a greedy matcher (BFCL's) does: each call takes the first free answer it satisfies."""
    free = list(range(len(task.answers)))
    for call in calls:
        fitting = [a for a in free if check([call], _task(task.answers[a])).valid]
        if not fitting:
            return False
        free.remove(fitting[0])
    return True


def test_parallel_matching_is_an_assignment_not_greedy():
    # Answer A accepts x in {1, 2}, answer B only x = 1. Greedy gives x=1 to A, then x=2 fits nothing;
    # the assignment x=1 -> B, x=2 -> A exists.
    task = _task({"set": {"x": [1, 2]}}, {"set": {"x": [1]}})
    calls = [Call("set", {"x": 1}), Call("set", {"x": 2})]
    assert not _greedy_first_fit(calls, task)  # the case really defeats greedy matching
    assert _error(calls, task) is None
    assert _error(calls[::-1], task) is None
    assert _error([Call("set", {"x": 2}), Call("set", {"x": 2})], task) == "value_error"


def test_assignment_with_longer_augmenting_path():
    task = _task({"set": {"x": [1, 2, 3]}}, {"set": {"x": [1, 2]}}, {"set": {"x": [1]}})
    calls = [Call("set", {"x": v}) for v in (1, 2, 3)]
    assert not _greedy_first_fit(calls, task)
    assert _error(calls, task) is None


def test_ordered_task_requires_the_order():
    task = _task({"lookup": {"key": ["a"]}}, {"set": {"x": [1]}}, ordered=True)
    assert _error([Call("lookup", {"key": "a"}), Call("set", {"x": 1})], task) is None
    assert _error([Call("set", {"x": 1}), Call("lookup", {"key": "a"})], task) == "wrong_function"


# ------------------------------------------------------------------------------------ options


def test_int_for_float_knob():
    task = _task({"pay": {"rate": [2.0]}})
    assert _error([Call("pay", {"rate": 2})], task) is None
    assert _error([Call("pay", {"rate": 2.0})], task) is None
    strict = CheckOptions(int_as_float=False)
    assert _error([Call("pay", {"rate": 2})], task, strict) == "type_error"
    assert _error([Call("pay", {"rate": 2.0})], task, strict) is None


def test_int_for_float_knob_on_number_values():
    task = _task({"pay": {"amount": [25.0]}})
    assert _error([Call("pay", {"amount": 25})], task) is None
    assert _error([Call("pay", {"amount": 25})], task, CheckOptions(int_as_float=False)) == "value_error"


@pytest.mark.parametrize("written", ["new york", "New-York", "NEW_YORK", "new.york", "New York"])
def test_string_normalisation_knob(written):
    task = _task({"pay": {"recipient": ["New York"]}})
    assert _error([Call("pay", {"recipient": written})], task) is None
    strict = CheckOptions(normalize_strings=False)
    expected = None if written == "New York" else "value_error"
    assert _error([Call("pay", {"recipient": written})], task, strict) == expected


def test_normalisation_does_not_ignore_letters():
    task = _task({"pay": {"recipient": ["Alice"]}})
    assert _error([Call("pay", {"recipient": "Alice B"})], task) == "value_error"


# ------------------------------------------------------------------------- BFCL's stricter rules

STRICT = Tool("s", "A tool with a schema.", {
    "type": "object", "required": ["a"],
    "properties": {"a": {"type": "string"}, "f": {"type": "number", "x-bfcl-type": "float"},
                   "n": {"type": "integer"}, "xs": {"type": "array", "items": {"type": "integer"}},
                   "anything": {"x-bfcl-type": "any"}}})


def _strict(**accepted):
    return _task({"s": accepted}, tools=(STRICT,))


def test_schema_required_parameter_is_required_even_if_the_answer_marks_it_omittable():
    task = _strict(a=["", "x"])
    assert _error([Call("s", {})], task) == "missing_required"
    assert _error([Call("s", {"a": "x"})], task) is None


def test_parameter_missing_from_the_schema_is_unexpected_even_if_the_answer_lists_it():
    task = _strict(a=["x"], ghost=["y"])
    assert _error([Call("s", {"a": "x", "ghost": "y"})], task) == "unexpected_param"


def test_x_bfcl_type_float_is_read_before_the_json_type():
    task = _strict(a=["x"], f=[2.5])
    assert _error([Call("s", {"a": "x", "f": 2.5})], task) is None
    assert _error([Call("s", {"a": "x", "f": 3})], task) == "value_error"
    assert _error([Call("s", {"a": "x", "f": 3})], task, CheckOptions(int_as_float=False)) == "type_error"
    assert _error([Call("s", {"a": "x", "f": "2.5"})], task) == "type_error"


def test_a_value_of_the_answers_own_type_is_not_a_type_error():
    # BFCL's possible answers sometimes hold a string (or None) for a numeric parameter: the answer is the truth.
    assert _error([Call("s", {"a": "x", "n": "$count"})], _strict(a=["x"], n=["$count"])) is None
    assert _error([Call("s", {"a": "x", "n": None})], _strict(a=["x"], n=[None])) is None
    assert _error([Call("s", {"a": "x", "n": "7"})], _strict(a=["x"], n=[7])) == "type_error"


def test_array_elements_are_type_checked():
    task = _strict(a=["x"], xs=[[1, 2]])
    assert _error([Call("s", {"a": "x", "xs": [1, 2]})], task) is None
    assert _error([Call("s", {"a": "x", "xs": [1, "2"]})], task) == "type_error"
    assert _error([Call("s", {"a": "x", "xs": [1, True]})], task) == "type_error"


def test_any_type_accepts_every_type():
    assert _error([Call("s", {"a": "x", "anything": 5})], _strict(a=["x"], anything=[5])) is None


def test_an_omittable_list_is_not_satisfied_by_an_empty_list():
    # BFCL accepts [] here (len("") == 0 in its list checker); "" means "may be left out", not "may be empty".
    assert _error([Call("s", {"a": "x", "xs": []})], _strict(a=["x"], xs=["", [1]])) == "value_error"


def test_quotes_are_normalised_like_bfcl():
    assert _error([Call("pay", {"recipient": "it's"})], _task({"pay": {"recipient": ['it"s']}})) is None


def test_parallel_failure_reports_the_unplaceable_call_against_a_free_answer_of_its_function():
    task = _task({"lookup": {"key": ["a"]}}, {"set": {"x": [1]}}, {"set": {"x": [2]}})
    verdict = check([Call("set", {"x": 1}), Call("lookup", {"key": "a"}), Call("set", {"x": 3})], task)
    assert verdict.error_type == "value_error" and "x=3" in verdict.errors[0]


def test_canonical_dates_compare_dates_and_times_by_value_only_when_asked():
    when = Tool("book", "", {"type": "object", "properties": {"day": {"type": "string"}, "at": {"type": "string"}}})
    task = Task(id="t", tools=(when,), query="", answers=({"book": {"day": ["2025-06-05"], "at": ["15:30"]}},))
    written = [Call("book", {"day": "June 5th, 2025", "at": "3:30 PM"})]
    assert check(written, task, CheckOptions(canonical_dates=True)).valid
    assert check(written, task).error_type == "value_error"
    wrong_day = [Call("book", {"day": "June 6, 2025", "at": "3:30 PM"})]
    assert check(wrong_day, task, CheckOptions(canonical_dates=True)).error_type == "value_error"
    assert not check([Call("book", {"day": "soon", "at": "later"})], task, CheckOptions(canonical_dates=True)).valid
