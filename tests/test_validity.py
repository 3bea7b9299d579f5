"""fcgym.validity.check_query: the gate that keeps rewritten queries asking for exactly the target calls."""

from __future__ import annotations

import random

import pytest

from envs.domains import TASK_KINDS, banking, make_task, possible_answer
from fcgym import Task
from fcgym.validity import MAX_QUERY_CHARS, check_query


def _task(*calls: tuple, query: str = "seed") -> Task:
    answers = tuple(possible_answer(getattr(banking, name), arguments) for name, arguments in calls)
    return Task(id="t", tools=banking.TOOLS, query=query, answers=answers, domain="banking")


TRANSFER = _task(("transfer", {"from_account": "checking", "to_account": "savings", "amount": 250}))
PAYMENT = _task(("send_payment", {"recipient": "Alice", "amount": 1250, "note": "rent"}))
CONVERT = _task(("convert_currency", {"amount": 12.5, "from_currency": "EUR", "to_currency": "JPY"}))
PARALLEL = _task(("get_balance", {"account": "travel"}), ("freeze_card", {"account": "savings"}))
IRRELEVANT = _task()


def valid(query: str, task: Task) -> bool:
    result = check_query(query, task)
    assert result.valid == (not result.reasons)
    return result.valid


@pytest.mark.parametrize("kind", TASK_KINDS)
@pytest.mark.parametrize("split", ["train", "test"])
def test_seed_queries_are_valid(kind, split):
    rng = random.Random(11)
    for _ in range(100):
        task = make_task("banking", kind, rng, split)
        assert valid(task.query, task), task.query


def test_rewrites_that_keep_every_value_are_valid():
    assert valid("Could you shift 250 bucks out of Checking and park it in SAVINGS?", TRANSFER)
    assert valid("alice is owed 1250 dollars (rent) - pay her", PAYMENT)
    assert valid("Which is more: 12.5 EUR or its value in JPY?", CONVERT)
    assert valid("Freeze the savings card; then what's left on travel?", PARALLEL)
    assert valid("Tell me a joke about penguins.", IRRELEVANT)


def test_a_changed_value_is_rejected():
    result = check_query("Move $260 from checking to savings.", TRANSFER)
    assert not result.valid and result.reasons == ("transfer.amount=250 is not stated",)
    assert not valid("Pay Alicia 1250 dollars for rent.", PAYMENT)
    assert not valid("Convert 12.5 EUR to GBP.", CONVERT)


def test_a_dropped_value_is_rejected():
    result = check_query("Move $250 from checking.", TRANSFER)
    assert not result.valid and any("to_account" in reason for reason in result.reasons)
    assert not valid("Pay Alice 1250 dollars.", PAYMENT)  # the note is gone
    assert not valid("Freeze the savings card.", PARALLEL)


def test_an_extra_enum_value_in_a_single_call_request_is_rejected():
    result = check_query("Move $250 from checking (or travel?) to savings.", TRANSFER)
    assert not result.valid and any("'travel'" in reason for reason in result.reasons)
    assert not valid("Convert 12.5 EUR to JPY, or maybe USD.", CONVERT)


def test_values_of_another_call_may_appear_in_a_parallel_request():
    assert valid("Freeze the savings card, then tell me the travel balance.", PARALLEL)


def test_an_irrelevance_query_must_not_mention_account_names():
    result = check_query("What's the weather in Lisbon? Also, how much is in my savings?", IRRELEVANT)
    assert not result.valid and any("'savings'" in reason for reason in result.reasons)
    assert not valid("Tell me a joke about EUR.", IRRELEVANT)


@pytest.mark.parametrize("query", ["", "   \n\t", None, 42])
def test_empty_or_non_text_queries_are_rejected(query):
    assert not check_query(query, TRANSFER).valid


def test_over_long_queries_are_rejected():
    base = "Move $250 from checking to savings. "
    filler = "x" * (MAX_QUERY_CHARS - len(base))
    assert valid(base + filler, TRANSFER)
    assert not valid(base + filler + "x", TRANSFER)


@pytest.mark.parametrize("written", ["250", "$250", "250.00", "USD 250!", "(250)", "250."])
def test_number_forms_of_an_integer(written):
    assert valid(f"Move {written} from checking to savings.", TRANSFER)


@pytest.mark.parametrize("written", ["1250", "1,250", "1,250.00", "$1250.00"])
def test_number_forms_with_thousands(written):
    assert valid(f"Pay Alice {written} for rent.", PAYMENT)


@pytest.mark.parametrize("written", ["12.5", "12.50", "12.5."])
def test_number_forms_of_a_decimal(written):
    assert valid(f"Convert {written} EUR to JPY", CONVERT)


@pytest.mark.parametrize("written", ["25", "2500", "250.5", "250.01", "1250", "0.250", "250abc", "v250", "2,500"])
def test_no_partial_number_matches(written):
    assert not valid(f"Move {written} from checking to savings.", TRANSFER)


@pytest.mark.parametrize("written", ["12", "125", "12.55", "112.5"])
def test_no_partial_decimal_matches(written):
    assert not valid(f"Convert {written} EUR to JPY", CONVERT)


@pytest.mark.parametrize("written", ["1,250", "$9,250.00"])
def test_no_match_after_a_thousands_separator(written):
    assert not valid(f"Move {written} from checking to savings.", TRANSFER)


def test_judge_can_veto_but_not_rescue():
    query = "Move 250 from checking to savings."
    assert check_query(query, TRANSFER, judge=lambda q, t: True).valid
    vetoed = check_query(query, TRANSFER, judge=lambda q, t: False)
    assert not vetoed.valid and vetoed.reasons == ("the judge rejected the query",)
    calls = []
    assert not check_query("Move 260 from checking to savings.", TRANSFER,
                           judge=lambda q, t: calls.append(q) or True).valid
    assert calls == []  # the judge is not asked once the rules reject


def test_an_optional_parameter_left_unsaid_need_not_be_stated():
    from envs.domains import banking, possible_answer
    from fcgym import Task

    answer = possible_answer(banking.list_transactions, {"account": "savings"})
    task = Task(id="t", tools=banking.TOOLS, query="List my savings transactions.", answers=(answer,))
    assert task.target_calls()[0].arguments == {"account": "savings", "limit": 5}
    assert check_query("Show the savings transactions.", task).valid
    assert not check_query("Show the transactions.", task).valid
