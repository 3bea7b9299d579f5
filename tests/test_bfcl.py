"""envs.bfcl: BFCL's Python categories as fcgym Tasks, and fcgym.check agreeing with bfcl-eval's own checker."""

from __future__ import annotations

import json
import random

import jsonschema
import pytest

pytest.importorskip("bfcl_eval", reason="needs the bfcl-eval wheel: pip install --no-deps bfcl-eval==2026.3.23")

from envs import bfcl  # noqa: E402
from fcgym import Call, check  # noqa: E402
from fcgym.validity import check_query  # noqa: E402

#: Entries per category in bfcl-eval 2026.3.23 (../shared/FACTS.md; the data README's counts are out of date).
SIZES = {
    "simple_python": 400, "multiple": 200, "parallel": 200, "parallel_multiple": 200, "irrelevance": 240,
    "live_simple": 258, "live_multiple": 1053, "live_parallel": 16, "live_parallel_multiple": 24,
    "live_irrelevance": 884, "live_relevance": 16,
}

#: Canonical answers that fail on BFCL's data itself (bfcl-eval's own ast_checker rejects them too).
DATA_QUIRKS = {
    "parallel_multiple_12": "unexpected_param",  # the answer lists 'permeability', which the schema lacks
    "parallel_multiple_26": "unexpected_param",  # the answer lists 'type', which the schema lacks
    "live_simple_106-63-0": "type_error",  # a parameter whose accepted-values list is empty ([])
    "live_simple_112-68-0": "type_error",  # the same
    "live_multiple_507-149-4": "missing_required",  # schema-required 'origin_airport' marked omittable
    "live_multiple_862-181-3": "unexpected_param",  # 'journey_start_time' is not in the schema
    "live_multiple_964-207-0": "missing_required",  # schema-required 'statement' marked omittable
}


def test_every_category_loads_with_the_documented_size():
    assert set(SIZES) == set(bfcl.CATEGORIES)
    for category, size in SIZES.items():
        tasks = bfcl.load(category)
        assert len(tasks) == size, category
        assert len({t.id for t in tasks}) == size
        for task in tasks:
            assert task.domain == "bfcl" and task.kind == category and task.ordered is False
            assert task.messages and isinstance(task.query, str)
            assert task.query == next(m["content"] for m in reversed(task.messages) if m["role"] == "user")
            if category in bfcl.NO_ANSWER_CATEGORIES:
                assert task.answers == ()
            else:
                assert task.answers and all(len(a) == 1 for a in task.answers)
            assert task.any_call == (category == "live_relevance")


def test_irrelevance_tasks_expect_no_call():
    task = bfcl.load("irrelevance")[0]
    assert check([], task).valid
    assert check([Call(task.tools[0].name, {})], task).error_type == "irrelevance"
    assert any(not t.tools for t in bfcl.load("live_irrelevance"))  # some have no function at all


def test_every_tool_schema_is_valid_json_schema_without_the_bfcl_dialect():
    seen = set()
    for category in bfcl.CATEGORIES:
        for task in bfcl.load(category):
            for tool in task.tools:
                key = json.dumps(tool.parameters, sort_keys=True)
                if key in seen:
                    continue
                seen.add(key)
                assert tool.parameters["type"] == "object"
                assert '"type": "dict"' not in key and '"type": "float"' not in key
                assert '"type": "tuple"' not in key and '"type": "any"' not in key
                jsonschema.Draft202012Validator.check_schema(tool.parameters)
    assert len(seen) > 2000


def test_schema_conversion_keeps_the_bfcl_type():
    converted = bfcl.to_json_schema({"type": "dict", "required": ["a"], "properties": {
        "a": {"type": "float"}, "b": {"type": "tuple", "items": {"type": "float"}}, "c": {"type": "any"},
        "d": {"type": "dict", "properties": {"e": {"type": "integer"}}}, "f": {"type": "string", "enum": ["x"]}}})
    assert converted == {"type": "object", "x-bfcl-type": "dict", "required": ["a"], "properties": {
        "a": {"type": "number", "x-bfcl-type": "float"},
        "b": {"type": "array", "x-bfcl-type": "tuple", "items": {"type": "number", "x-bfcl-type": "float"}},
        "c": {"x-bfcl-type": "any"},
        "d": {"type": "object", "x-bfcl-type": "dict", "properties": {"e": {"type": "integer"}}},
        "f": {"type": "string", "enum": ["x"]}}}
    jsonschema.Draft202012Validator.check_schema(converted)


def test_canonical_answers_pass_except_documented_data_quirks():
    failures = {}
    for category in bfcl.CATEGORIES:
        for task in bfcl.load(category):
            if task.any_call:
                continue  # no canonical answer: any call is right (test_any_call_tasks_want_some_call)
            verdict = check(task.target_calls(), task)
            if not verdict.valid:
                failures[task.id] = verdict.error_type
    assert failures == DATA_QUIRKS


def test_any_call_tasks_want_some_call_of_a_tool_on_offer():
    tasks = bfcl.load("live_relevance")
    assert len(tasks) == 16 and all(t.any_call and not t.answers for t in tasks)
    for task in tasks:
        offered = task.tools[0]
        assert check([Call(offered.name, {})], task).valid
        assert check([Call(offered.name, {}), Call(offered.name, {"x": 1})], task).valid
        assert check([], task).error_type == "no_call"
        assert check([Call("not_offered", {})], task).error_type == "wrong_function"
        assert check_query(task.query, task).valid


def test_canonical_calls_resolve_nested_possible_answers():
    task = next(t for t in bfcl.load("simple_python") if t.id == "simple_python_89")
    (call,) = task.target_calls()
    assert call.arguments["conditions"] == {"department": "Science", "school": "Bluebird High School"}


def test_task_source_samples_reproducibly_every_category():
    source = bfcl.BFCLTasks(categories=["parallel", "live_simple"])
    first = [source.sample(random.Random(3)).id for _ in range(3)]
    assert first == [source.sample(random.Random(3)).id for _ in range(3)]
    assert {source.sample(random.Random(i)).kind for i in range(50)} == {"parallel", "live_simple"}
    assert len(source.load("parallel")) == 200
    assert bfcl.BFCLTasks().categories == bfcl.CATEGORIES
    assert bfcl.BFCLTasks(categories=("live_relevance",)).sample(random.Random(0)).any_call
    with pytest.raises(ValueError, match="unknown"):
        bfcl.BFCLTasks(categories=("simple_java",))


def test_fcgym_agrees_with_bfcl_ast_checker_on_a_sample():
    bench = pytest.importorskip("benchmarks.bench_checker")
    bfcl_check = bench.import_bfcl_checker()
    cases = random.Random(0).sample(bench.cases(), 3000)
    report = bench.compare(bfcl_check, cases)
    unexplained = [(c["id"], c["label"], reason) for c, _, _, reason in report["disagreements"]
                   if not reason.startswith("BFCL bug")]
    assert not unexplained
    assert report["agree"] >= len(cases) - 2


def test_bfcl_greedy_matching_bug_is_real_and_fcgym_is_right():
    """parallel_178 with its calls reversed: bfcl's greedy matcher rejects a correct answer."""
    bench = pytest.importorskip("benchmarks.bench_checker")
    bfcl_check = bench.import_bfcl_checker()
    case = next(c for c in bench.cases(("parallel",)) if c["id"] == "parallel_178" and c["label"] == "swapped")
    assert not bench.run_bfcl(bfcl_check, case)["valid"]
    assert check(case["calls"], case["task"]).valid
