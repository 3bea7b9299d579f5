"""envs.domains: the banking tools on their state, and the seeded task generator."""

from __future__ import annotations

import copy
import json
import random

import pytest

from envs.domains import DOMAINS, TASK_KINDS, DomainTasks, make_task, possible_answer
from envs.domains import banking
from fcgym import Call, check, execute
from fcgym.validity import check_query


@pytest.fixture
def state():
    return {
        "accounts": {"checking": {"balance": 1000.0, "frozen": False}, "savings": {"balance": 500.0, "frozen": False},
                     "travel": {"balance": 0.0, "frozen": False}},
        "budgets": {},
        "log": [],
    }


def run(state, name, **arguments):
    (result,) = execute([Call(name, arguments)], banking.TOOLS, state)
    return result


def ok(state, name, **arguments):
    result = run(state, name, **arguments)
    assert result.ok, result.error
    return json.loads(result.output)


def balances(state):
    return {name: account["balance"] for name, account in state["accounts"].items()}


# --------------------------------------------------------------------------------- good arguments


def test_get_balance(state):
    assert ok(state, "get_balance", account="savings") == {"account": "savings", "balance": 500.0, "currency": "USD"}


def test_transfer(state):
    assert ok(state, "transfer", from_account="checking", to_account="travel", amount=250.5) == {
        "status": "done", "from_balance": 749.5}
    assert balances(state) == {"checking": 749.5, "savings": 500.0, "travel": 250.5}
    assert state["log"] == [{"op": "transfer", "from": "checking", "to": "travel", "amount": 250.5}]


def test_transfer_whole_balance(state):
    ok(state, "transfer", from_account="savings", to_account="checking", amount=500)
    assert balances(state) == {"checking": 1500.0, "savings": 0.0, "travel": 0.0}


def test_send_payment(state):
    assert ok(state, "send_payment", recipient="Alice", amount=40, note="dinner") == {
        "status": "sent", "recipient": "Alice", "amount": 40}
    ok(state, "send_payment", recipient="Bruno", amount=0.5)
    assert balances(state)["checking"] == 959.5
    assert state["log"] == [{"op": "payment", "to": "Alice", "amount": 40, "note": "dinner"},
                            {"op": "payment", "to": "Bruno", "amount": 0.5, "note": ""}]


def test_list_transactions(state):
    for amount in (1, 2, 3, 4, 5, 6):
        ok(state, "send_payment", recipient="Alice", amount=amount)
    ok(state, "transfer", from_account="savings", to_account="checking", amount=7)
    assert [e["amount"] for e in ok(state, "list_transactions", account="checking")] == [3, 4, 5, 6, 7]
    assert [e["amount"] for e in ok(state, "list_transactions", account="checking", limit=2)] == [6, 7]
    assert ok(state, "list_transactions", account="savings") == [
        {"op": "transfer", "from": "savings", "to": "checking", "amount": 7}]
    assert ok(state, "list_transactions", account="travel") == []


def test_list_transactions_of_checking_excludes_other_accounts_transfers(state):
    ok(state, "transfer", from_account="savings", to_account="travel", amount=10)
    assert ok(state, "list_transactions", account="checking") == []


def test_convert_currency(state):
    before = copy.deepcopy(state)
    assert ok(state, "convert_currency", amount=100, from_currency="EUR", to_currency="USD") == {
        "amount": 108.0, "currency": "USD"}
    assert ok(state, "convert_currency", amount=127, from_currency="GBP", to_currency="EUR") == {
        "amount": round(127 * 1.27 / 1.08, 2), "currency": "EUR"}
    assert state == before  # a read-only tool


def test_freeze_card_blocks_spending(state):
    assert ok(state, "freeze_card", account="checking") == {"status": "frozen", "account": "checking"}
    assert state["accounts"]["checking"]["frozen"] is True
    before = copy.deepcopy(state)
    for name, arguments in [("send_payment", {"recipient": "Alice", "amount": 5}),
                            ("transfer", {"from_account": "checking", "to_account": "savings", "amount": 5})]:
        result = run(state, name, **arguments)
        assert result.error_type == "ToolExecutionError" and "frozen" in result.error
    assert state == before
    ok(state, "transfer", from_account="savings", to_account="checking", amount=5)  # money may still come in


def test_set_budget(state):
    assert ok(state, "set_budget", category="dining", monthly_limit=300) == {
        "status": "set", "category": "dining", "monthly_limit": 300}
    ok(state, "set_budget", category="dining", monthly_limit=0)
    ok(state, "set_budget", category="rent", monthly_limit=1200.5)
    assert state["budgets"] == {"dining": 0, "rent": 1200.5}


def test_every_tool_is_covered():
    assert {t.name for t in banking.TOOLS} == {
        "get_balance", "transfer", "send_payment", "list_transactions", "convert_currency", "freeze_card", "set_budget"}
    assert set(banking.TEMPLATES) == {t.name for t in banking.TOOLS}


# ---------------------------------------------------------------------------------- bad arguments

BAD_CALLS = {
    "unknown_account": ("get_balance", {"account": "offshore"}, "ToolArgumentError"),
    "missing_account": ("get_balance", {}, "ToolArgumentError"),
    "transfer_zero": ("transfer", {"from_account": "checking", "to_account": "savings", "amount": 0}, "ToolArgumentError"),
    "transfer_negative": ("transfer", {"from_account": "checking", "to_account": "savings", "amount": -5},
                          "ToolArgumentError"),
    "transfer_amount_string": ("transfer", {"from_account": "checking", "to_account": "savings", "amount": "5"},
                               "ToolArgumentError"),
    "transfer_same_account": ("transfer", {"from_account": "savings", "to_account": "savings", "amount": 5},
                              "ToolExecutionError"),
    "transfer_insufficient": ("transfer", {"from_account": "savings", "to_account": "travel", "amount": 500.01},
                              "ToolExecutionError"),
    "payment_insufficient": ("send_payment", {"recipient": "Alice", "amount": 1000.5}, "ToolExecutionError"),
    "payment_empty_recipient": ("send_payment", {"recipient": "", "amount": 5}, "ToolArgumentError"),
    "payment_extra_param": ("send_payment", {"recipient": "Alice", "amount": 5, "from_account": "savings"},
                            "ToolArgumentError"),
    "list_limit_too_big": ("list_transactions", {"account": "checking", "limit": 51}, "ToolArgumentError"),
    "list_limit_zero": ("list_transactions", {"account": "checking", "limit": 0}, "ToolArgumentError"),
    "list_limit_float": ("list_transactions", {"account": "checking", "limit": 2.5}, "ToolArgumentError"),
    "convert_unknown_currency": ("convert_currency", {"amount": 5, "from_currency": "BTC", "to_currency": "USD"},
                                 "ToolArgumentError"),
    "freeze_unknown_account": ("freeze_card", {"account": "Checking"}, "ToolArgumentError"),
    "budget_unknown_category": ("set_budget", {"category": "casino", "monthly_limit": 5}, "ToolArgumentError"),
    "budget_negative": ("set_budget", {"category": "rent", "monthly_limit": -1}, "ToolArgumentError"),
}


@pytest.mark.parametrize("name, arguments, error_type", BAD_CALLS.values(), ids=BAD_CALLS.keys())
def test_bad_arguments_give_typed_errors_and_keep_state(state, name, arguments, error_type):
    before = copy.deepcopy(state)
    result = run(state, name, **arguments)
    assert not result.ok and result.error_type == error_type
    assert state == before


# ------------------------------------------------------------------------------------ task generation


def _fingerprint(task):
    return (task.id, task.query, task.answers, task.initial_state, task.kind, [t.name for t in task.tools])


@pytest.mark.parametrize("kind", TASK_KINDS)
def test_generation_is_deterministic(kind):
    first = [make_task("banking", kind, random.Random(seed)) for seed in range(20)]
    again = [make_task("banking", kind, random.Random(seed)) for seed in range(20)]
    assert [_fingerprint(t) for t in first] == [_fingerprint(t) for t in again]
    assert len({t.id for t in first}) == 20


def test_domain_tasks_source_is_deterministic():
    source = DomainTasks()
    rng_a, rng_b = random.Random(3), random.Random(3)
    assert [_fingerprint(source.sample(rng_a)) for _ in range(10)] == [_fingerprint(source.sample(rng_b))
                                                                       for _ in range(10)]


def _all_tasks(count=150):
    for split in ("train", "test"):
        for kind in TASK_KINDS:
            rng = random.Random(f"{split}/{kind}")
            for _ in range(count):
                yield make_task("banking", kind, rng, split)


def test_generated_tasks_are_well_formed():
    for task in _all_tasks():
        assert task.domain == "banking" and task.query
        expected = {"single": 1, "parallel": 2, "irrelevance": 0}[task.kind]
        assert len(task.answers) == expected
        for call in task.target_calls():
            task.tool(call.name).validate(call.arguments)


def test_canonical_answers_pass_the_checker():
    for task in _all_tasks():
        verdict = check(task.target_calls(), task)
        assert verdict.valid, (task.query, verdict)


def test_seed_queries_pass_the_validity_gate():
    for task in _all_tasks():
        validity = check_query(task.query, task)
        assert validity.valid, (task.query, validity.reasons)


def test_canonical_answers_run_in_the_sandbox():
    for task in _all_tasks(50):
        state = task.fresh_state()
        results = execute(task.target_calls(), task.tools, state)
        # the schema accepts every canonical call; only the world (e.g. a low balance) may refuse one
        assert all(r.error_type in (None, "ToolExecutionError") for r in results), results


def test_train_and_test_recipients_are_disjoint():
    recipients = {"train": set(), "test": set()}
    notes = {"train": set(), "test": set()}
    for split in recipients:
        rng = random.Random(0)
        for _ in range(400):
            task = make_task("banking", "single", rng, split)
            for call in task.target_calls():
                if call.name == "send_payment":
                    recipients[split].add(call.arguments["recipient"])
                    notes[split].add(call.arguments["note"])
    assert len(recipients["train"]) > 5 and len(recipients["test"]) > 5
    assert not recipients["train"] & recipients["test"]
    assert not notes["train"] & notes["test"]


def test_possible_answer_marks_defaults_optional():
    answer = possible_answer(banking.send_payment, {"recipient": "Alice", "amount": 5})
    assert answer == {"send_payment": {"recipient": ["Alice"], "amount": [5], "note": ["", ""]}}
    answer = possible_answer(banking.list_transactions, {"account": "savings"})
    assert answer == {"list_transactions": {"account": ["savings"], "limit": ["", 5]}}


def test_unknown_kind_and_domain():
    with pytest.raises(ValueError):
        make_task("banking", "chitchat", random.Random(0))
    with pytest.raises(ValueError):
        DomainTasks(domains=("nope",))
    assert "banking" in DOMAINS
