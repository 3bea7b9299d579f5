"""agents.scripted: every perturbation operator keeps the answer, and the scripted adversary composes them."""

from __future__ import annotations

import inspect
import random
import re

import pytest

from agents.scripted import (
    _CHAT,
    _DISTRACTORS,
    _IRRELEVANT_NUMBERS,
    _LANGUAGES,
    _PREAMBLE_ENDS,
    OPERATORS,
    ScriptedAdversary,
    detected_operators,
    operator_rates,
)
from envs.domains import DOMAINS, TASK_KINDS, make_task
from envs.tool_duel import query_prompt
from fcgym import Task
from fcgym.validity import MAX_QUERY_CHARS, check_query, derived_text

TASKS_PER_CELL = 12  # per domain, kind and split: 6 x 4 x 2 x 12 = 576 tasks


@pytest.fixture(scope="module")
def tasks() -> list[Task]:
    rng = random.Random(2024)
    return [make_task(domain, kind, rng, split) for split in ("train", "test") for domain in DOMAINS
            for kind in TASK_KINDS for _ in range(TASKS_PER_CELL)]


def _snapshot(task: Task) -> tuple:
    return (task.query, [call.to_dict() for call in task.target_calls()], repr(task.answers))


#: The least share of all generated tasks each operator must change: an operator that never applies is useless.
#: Those that need a kind of value (dates, times, parallel requests...) apply only to the tasks that have one.
MIN_APPLIED = {
    "paraphrase": 0.5, "verb_synonym": 0.3, "indirect_request": 0.99, "distractor": 0.99, "irrelevant_number": 0.99,
    "spelled_out_number": 0.15, "scaled_unit": 0.02, "written_date": 0.05, "twelve_hour_clock": 0.04,
    "reorder_requests": 0.2, "typo": 0.5, "mixed_language": 0.99, "long_context": 0.99, "near_miss_tool": 0.99,
}


def test_every_operator_is_named_documented_and_has_the_operator_signature():
    assert set(OPERATORS) == set(MIN_APPLIED)
    for name, operator in OPERATORS.items():
        assert operator.__name__ == name
        assert list(inspect.signature(operator).parameters) == ["query", "task", "rng"]
        doc = inspect.getdoc(operator) or ""
        assert "Preserves the answer" in " ".join(doc.split()), name


@pytest.mark.parametrize("name", sorted(OPERATORS))
def test_operator_keeps_the_answer_on_every_domain_and_kind(name, tasks):
    operator, rng = OPERATORS[name], random.Random(name)
    changed = 0
    for task in tasks:
        before = _snapshot(task)
        query = operator(task.query, task, rng)
        assert _snapshot(task) == before, "an operator must not change the task"
        assert isinstance(query, str)
        if query == task.query:
            continue
        changed += 1
        validity = check_query(query, task)
        assert validity.valid, (name, task.query, query, validity.reasons)
    assert changed / len(tasks) >= MIN_APPLIED[name], f"{name} changed only {changed} of {len(tasks)} queries"


def test_chains_of_operators_keep_the_answer(tasks):
    rng = random.Random(7)
    for task in tasks:
        for _ in range(3):
            query = task.query
            for name in rng.sample(sorted(OPERATORS), rng.randint(2, 4)):
                query = OPERATORS[name](query, task, rng)
            validity = check_query(query, task)
            assert validity.valid or validity.reasons == (f"the query is longer than {MAX_QUERY_CHARS} characters",), \
                (task.query, query, validity.reasons)


def test_operator_rates_report(tasks, capsys):
    rates = operator_rates(tasks, seed=3)
    with capsys.disabled():
        print(f"\n{'operator':<20}{'applied':>9}{'valid':>9}   ({len(tasks)} tasks, every domain, kind and split)")
        for name, rate in rates.items():
            print(f"{name:<20}{rate['applied']:>9.1%}{rate['valid']:>9.1%}")
    for name, rate in rates.items():
        assert rate["applied"] >= MIN_APPLIED[name] and rate["valid"] == 1.0, (name, rate)


def test_indirect_operators_write_what_the_gate_derives():
    rng = random.Random(0)
    task = make_task("calendar", "single", rng)
    while not any(re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(v))
                  for call in task.target_calls() for v in call.arguments.values()):
        task = make_task("calendar", "single", rng)
    query = OPERATORS["written_date"](task.query, task, rng)
    assert query != task.query and not re.search(r"\d{4}-\d{2}-\d{2}", query)
    assert re.search(r"\d{4}-\d{2}-\d{2}", derived_text(query.lower()))


def test_reorder_swaps_the_requests_of_a_parallel_task():
    rng = random.Random(1)
    task = make_task("banking", "parallel", rng)
    first, second = task.query.split(" Also, ")
    query = OPERATORS["reorder_requests"](task.query, task, rng)
    assert query.lower().startswith(second.lower()) and query.lower().endswith(first.lower())
    single = make_task("banking", "single", rng)
    assert OPERATORS["reorder_requests"](single.query, single, rng) == single.query


def test_near_miss_names_a_tool_the_task_does_not_call():
    rng = random.Random(3)
    for _ in range(50):
        task = make_task("files", rng.choice(["single", "parallel"]), rng)
        query = OPERATORS["near_miss_tool"](task.query, task, rng)
        named = [tool.name for tool in task.tools if re.search(rf"\b{tool.name}\b", query)]
        assert len(named) == 1 and named[0] not in {call.name for call in task.target_calls()}


def test_fixed_phrases_hold_no_values_numbers_or_negations():
    enum_values = {str(option).lower() for module in DOMAINS.values() for tool in module.TOOLS
                   for prop in tool.parameters["properties"].values()
                   for option in prop.get("enum", []) + prop.get("items", {}).get("enum", [])}
    phrases = _DISTRACTORS + _CHAT + _PREAMBLE_ENDS
    phrases += [p for greetings, thanks, please in _LANGUAGES.values() for p in greetings + thanks + [please]]
    for phrase in phrases + _IRRELEVANT_NUMBERS:
        words = set(re.findall(r"[a-z]+", phrase.lower()))
        assert not words & enum_values, (phrase, words & enum_values)
        assert not re.search(r"\b(?:don'?t|do not|never|not to)\b", phrase.lower()), phrase
    for phrase in phrases:
        assert derived_text(phrase.lower()) == phrase.lower() and not re.search(r"\d", phrase), phrase


def test_scripted_adversary_is_deterministic_under_a_seed(tasks):
    sample = tasks[::6]
    runs = [[ScriptedAdversary(seed=seed).rewrite(task) for task in sample] for seed in (5, 5, 6)]
    assert runs[0] == runs[1] and runs[0] != runs[2]
    adversary = ScriptedAdversary(seed=9)
    first = [adversary.rewrite(task) for task in sample]
    adversary.reset(9)
    assert [adversary.rewrite(task) for task in sample] == first


def test_scripted_adversary_rewrites_are_valid_and_name_their_operators(tasks):
    adversary, used = ScriptedAdversary(seed=1), set()
    for task in tasks:
        query, applied = adversary.rewrite(task)
        assert check_query(query, task).valid and set(applied) <= set(OPERATORS)
        assert (query != task.query) == bool(applied)
        used.update(applied)
    assert used == set(OPERATORS)


def test_scripted_adversary_act_works_from_the_prompt(tasks):
    adversary = ScriptedAdversary(seed=2)
    for task in tasks[::4]:
        query = adversary.act([{"role": "user", "content": query_prompt(task)}], [t.schema() for t in task.tools])
        assert check_query(query, task).valid


def test_scripted_adversary_operator_subset_and_unknown_names():
    adversary = ScriptedAdversary(operators=("typo",), seed=0)
    task = make_task("banking", "single", random.Random(0))
    assert adversary.rewrite(task)[1] in ([], ["typo"])
    with pytest.raises(ValueError, match="unknown operators"):
        ScriptedAdversary(operators=("typo", "shout"))


#: Operators whose rewrites leave a trace `detected_operators` finds every time (scaled_unit's "two weeks" reads as a
#: spelled number; paraphrases, synonyms, typos and reordering leave none that can be told apart).
TRACEABLE = ("distractor", "irrelevant_number", "spelled_out_number", "written_date", "twelve_hour_clock",
             "mixed_language", "long_context", "near_miss_tool")


def test_detected_operators_find_the_traceable_operators_and_little_else(tasks):
    missed, extra, rewrites = [], 0, 0
    for index, task in enumerate(tasks):
        assert detected_operators(task.query, task) == []  # the seed query itself shows no operator
        for name in OPERATORS:
            query, applied = ScriptedAdversary(operators=(name,), max_operators=1, seed=index).rewrite(task)
            if not applied:
                continue
            rewrites += 1
            found = detected_operators(query, task)
            missed += [(name, query) for name in applied if name in TRACEABLE and name not in found]
            extra += len(set(found) - set(applied))
    assert missed == [] and extra <= 0.01 * rewrites, (missed[:3], extra, rewrites)
