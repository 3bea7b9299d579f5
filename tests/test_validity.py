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


# --- indirect forms the gate derives ---------------------------------------------------------------------------

from envs.domains import calendar, travel, units_weather  # noqa: E402
from fcgym.validity import agent_judge, derived_text, judge_prompt, number_from_words, read_yes_no  # noqa: E402


def _domain_task(module, *calls: tuple) -> Task:
    answers = tuple(possible_answer(getattr(module, name), arguments) for name, arguments in calls)
    return Task(id="t", tools=module.TOOLS, query="seed", answers=answers, domain=module.NAME)


RESCHEDULE = _domain_task(calendar, ("reschedule_event", {"title": "Team standup", "new_date": "2025-06-05",
                                                          "new_start_time": "15:30"}))
REMINDER = _domain_task(calendar, ("add_reminder", {"title": "Book club", "minutes_before": 90, "channel": "sms"}))
HOTEL = _domain_task(travel, ("book_hotel", {"hotel": "Harbor Inn", "check_in": "2025-07-01", "nights": 14,
                                             "room": "suite", "guests": {"adults": 2, "children": 1}}))
BUDGET = _task(("set_budget", {"category": "rent", "monthly_limit": 1500}))
FORECAST = _domain_task(units_weather, ("get_forecast", {"city": "Oslo", "days": 1, "unit": "celsius"}))


@pytest.mark.parametrize("words, number", [
    ("zero", 0), ("seven", 7), ("nineteen", 19), ("forty two", 42), ("forty-two", 42), ("two hundred", 200),
    ("two hundred and fifty", 250), ("two hundred fifty", 250), ("twelve hundred and fifty", 1250),
    ("one thousand two hundred and fifty", 1250), ("two thousand", 2000), ("ninety-nine thousand and one", 99001),
])
def test_number_words(words, number):
    assert number_from_words(words.replace("-", " ").split()) == number
    assert derived_text(f"pay {words} dollars") == f"pay {number} dollars"


@pytest.mark.parametrize("words", ["two five", "hundred", "fifty two hundred thousand thousand", "two hundred and",
                                   "twenty ten", "thousand and one"])
def test_malformed_number_words_are_not_one_number(words):
    assert number_from_words(words.split()) is None


@pytest.mark.parametrize("query", [
    "Move two hundred and fifty dollars from checking to savings.",
    "Move two hundred fifty bucks from checking to savings.",
    "Please move a cool two hundred and fifty from CHECKING to savings!",
])
def test_spelled_out_numbers_state_the_value(query):
    assert valid(query, TRANSFER)


@pytest.mark.parametrize("query", [
    "Move two hundred and sixty dollars from checking to savings.",  # a wrong spelled-out number
    "Move twenty-five dollars from checking to savings.",
    "Move two hundred dollars and fifty cents from checking to savings.",  # 200.50 is not 250
])
def test_a_wrong_spelled_out_number_is_rejected(query):
    result = check_query(query, TRANSFER)
    assert not result.valid and result.reasons == ("transfer.amount=250 is not stated",)


def test_derived_dates_times_and_units():
    assert valid("Push Team standup to June 5th, 2025 at 3:30 pm.", RESCHEDULE)
    assert valid("Move Team standup to the 5th of June, 2025, 3:30 p.m.", RESCHEDULE)
    assert valid("Reschedule Team standup: Thursday, 5 June 2025, half past... 15:30.", RESCHEDULE)
    assert valid("Ping me by sms an hour and a half before Book club.", REMINDER)
    assert valid("Ping me by sms 1.5 hours before Book club.", REMINDER)
    assert valid("Set my rent budget to 1.5 thousand a month.", BUDGET)
    assert valid("Set my rent budget to $1.5k a month.", BUDGET)
    assert valid("Book a suite at Harbor Inn from July 1, 2025 for two weeks, two adults and one child.", HOTEL)
    assert valid("Give me the one-day forecast for Oslo in celsius.", FORECAST)


def test_wrong_derived_dates_times_and_units_are_rejected():
    assert not valid("Push Team standup to June 6th, 2025 at 3:30 pm.", RESCHEDULE)
    assert not valid("Push Team standup to June 5th, 2025 at 3:30 am.", RESCHEDULE)
    assert not valid("Push Team standup to June 5th at 3:30 pm.", RESCHEDULE)  # no year: not derivable
    assert not valid("Push Team standup to tomorrow at 3:30 pm.", RESCHEDULE)  # relative dates are not derivable
    assert not valid("Ping me by sms 2 hours before Book club.", REMINDER)
    assert not valid("Set my rent budget to 1.6 thousand a month.", BUDGET)
    assert not valid("Book a suite at Harbor Inn from July 1, 2025 for a week, two adults and one child.", HOTEL)
    assert not valid("Give me the forecast for the one in Oslo in celsius.", FORECAST)  # "the one" is a pronoun


# --- a different intent ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("query", [
    "Don't transfer 250 from checking to savings.",
    "Do not transfer $250 from checking to savings.",
    "I'd like you not to transfer 250 dollars from checking to savings.",
    "Never transfer 250 from checking to savings.",
    "Please don't ever transfer 250 from checking to savings.",
    "I don\u2019t want you to transfer 250 from checking to savings.",
])
def test_a_negated_request_is_rejected(query):
    result = check_query(query, TRANSFER)
    assert not result.valid and result.reasons == ("the query says not to do transfer",)


def test_a_negated_request_in_a_parallel_query_is_rejected():
    assert not valid("Freeze the savings card, but don't get the travel balance.", PARALLEL)
    assert not valid("Don't freeze the savings card. Also, check the travel balance.", PARALLEL)


@pytest.mark.parametrize("query", [
    "Don't forget to transfer 250 from checking to savings.",
    "Never mind the rest, transfer 250 from checking to savings.",
    "Not send_payment - transfer 250 from checking to savings.",
    "Transfer 250 from checking to savings. (I don't mean send_payment.)",
    "I don't want to wait: transfer 250 from checking to savings.",
])
def test_other_negations_are_fine(query):
    assert valid(query, TRANSFER)


@pytest.mark.parametrize("query", [
    "Pay Alice 1250 dollars for rent. On top of that, pay Alice 1250 dollars for rent.",
    "Send alice 1250 (rent). Plus, send 1250 to Alice for rent, thanks!",
])
def test_a_repeated_request_is_rejected(query):
    result = check_query(query, PAYMENT)
    assert not result.valid and result.reasons == ("the query asks for send_payment more than once",)


def test_a_repeated_request_in_a_parallel_query_is_rejected():
    booking = _task(("send_payment", {"recipient": "Alice", "amount": 1250, "note": "rent"}),
                    ("send_payment", {"recipient": "Bob", "amount": 40, "note": "pizza"}))
    assert valid("Pay Alice 1250 for rent. Also, pay Bob 40 for pizza.", booking)
    assert not valid("Pay Alice 1250 for rent. Also, pay Bob 40 for pizza. Also, pay Alice 1250 for rent.", booking)


@pytest.mark.parametrize("query", [
    "Pay Alice 1250 dollars for rent. Rent is due on Friday, the rent never waits.",  # one value again, not the request
    "Pay Alice 1250 dollars for rent. Alice says hi.",
])
def test_a_value_said_again_is_not_a_repeated_request(query):
    assert valid(query, PAYMENT)


def test_a_request_the_task_itself_states_twice_may_say_it_twice():
    twice = _task(("send_payment", {"recipient": "Alice", "amount": 1250, "note": "rent"}),
                  query="Pay Alice 1250 for rent - yes, Alice, the rent.")
    assert valid("Alice, rent: pay 1250 to Alice for the rent.", twice)
    assert not valid("Alice, rent: pay 1250 to Alice for the rent. Alice, rent!", twice)


@pytest.mark.parametrize("query", [
    "Pay Alice 1250 for rent. (I don't mean send_payment.)",
    "Pay Alice 1250 for rent. To be clear: no send_payment, only this.",
    "Not send_payment - pay Alice 1250 for rent.",
    "Just to be clear, this is not a send_payment request: pay Alice 1250 for rent.",
    "Pay Alice 1250 for rent. (I don\u2019t mean send_payment.)",
])
def test_a_query_that_names_a_target_tool_as_not_wanted_is_rejected(query):
    result = check_query(query, PAYMENT)
    assert not result.valid and result.reasons == ("the query says it does not mean send_payment",)


def test_a_target_tool_named_as_not_wanted_in_a_parallel_query_is_rejected():
    assert not valid("Freeze the savings card and get the travel balance. (I don't mean get_balance.)", PARALLEL)
    assert valid("Freeze the savings card and get the travel balance. (I don't mean transfer.)", PARALLEL)


@pytest.mark.parametrize("query", [
    "Use send_payment, not request_payment: pay Alice 1250 for rent.",
    "Pay Alice 1250 for rent with send_payment.",
    "No rush. Please pay Alice 1250 for rent using send_payment.",
])
def test_a_target_tool_named_as_wanted_is_fine(query):
    assert valid(query, PAYMENT)


# --- the judge adapter -------------------------------------------------------------------------------------------

class ScriptedJudge:
    """Answers with a fixed reply and records what it was asked."""

    def __init__(self, reply: str):
        self.reply, self.asked = reply, []

    def act(self, messages: list[dict], tools: list[dict]) -> str:
        self.asked.append((messages, tools))
        return self.reply


@pytest.mark.parametrize("reply, accepted", [
    ("yes", True), ("Yes.", True), ("  YES, it asks for exactly that", True), ("**yes**", True),
    ("no", False), ("No - the amount changed.", False), ("maybe", False), ("", False), ("yesterday", False),
    ("I think yes", False),
])
def test_agent_judge_reads_yes_or_no(reply, accepted):
    agent = ScriptedJudge(reply)
    result = check_query("Move 250 from checking to savings.", TRANSFER, judge=agent_judge(agent))
    assert result.valid is accepted
    assert result.reasons == (() if accepted else ("the judge rejected the query",))
    (messages, tools), = agent.asked
    assert tools == [] and messages == judge_prompt("Move 250 from checking to savings.", TRANSFER)
    assert '"transfer"' in messages[-1]["content"] and "Move 250 from checking to savings." in messages[-1]["content"]


def test_agent_judge_vetoes_a_different_intent_the_rules_cannot_see():
    # Every value is stated, but the user asks about the transfer rather than for it; a judge catches that.
    query = "Did the transfer of 250 from checking to savings go through last week?"
    assert check_query(query, TRANSFER).valid
    assert not check_query(query, TRANSFER, judge=agent_judge(ScriptedJudge("no"))).valid


def test_agent_judge_on_an_irrelevance_task_and_odd_replies():
    agent = ScriptedJudge("yes")
    assert check_query("Tell me a joke about penguins.", IRRELEVANT, judge=agent_judge(agent)).valid
    assert "none" in agent.asked[0][0][-1]["content"]
    assert read_yes_no(None) is None and read_yes_no(["yes"]) is None
    assert not agent_judge(ScriptedJudge(None))("Move 250 from checking to savings.", TRANSFER)
