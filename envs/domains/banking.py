"""Banking: accounts, payments, budgets and cards.

This module is the pattern for a domain; to add one, copy its shape:

1. Write tools with `fcgym.tool`: ``fn(state, **arguments)`` reads and changes ``state`` and raises
   ``ValueError`` for a request the world refuses (the sandbox turns it into a typed tool error).
2. ``initial_state(rng, split)`` builds a small random world (from the ``split``'s names, so that the arguments
   drawn below name things that exist); ``TOOLS`` lists the tools. Use top-level state keys no other domain uses
   (a "multiple" task merges several worlds).
3. ``TEMPLATES`` maps each tool to query templates whose ``{slots}`` are the call's arguments, and
   ``sample_arguments(tool_name, rng, split)`` draws those arguments (``split`` keeps train and test values apart).
   A call uses a template whose slots are exactly its arguments, so an optional parameter that is sometimes left
   out needs templates with and without its slot. Templates state every value literally (numbers as digits,
   strings verbatim; a list's items are joined as "a, b and c", an object's leaves are indexed: ``{span[start]}``)
   and mention no other value of the tool's enums. Tool names must be unique across domains.
4. ``IRRELEVANT_QUERIES``: 5-8 requests no tool fits that mention none of the domain's enum values.
5. ``MULTI_STEP`` (for the ``multi_step`` kind): functions ``(rng, state, split) -> MultiStep`` for requests whose
   second call needs the first call's result, like ``_move_whole_balance`` at the end of this module.
6. Register the module in ``envs/domains/__init__.py``. Task kinds (single, parallel, multiple, irrelevance and,
   with step 5, multi_step) come for free; the generator draws again until the canonical answer runs on the world
   without a tool error.
"""

from __future__ import annotations

import random
from typing import Any

from envs.domains.multi_step import MultiStep
from fcgym import Call, tool

NAME = "banking"
ACCOUNTS = ["checking", "savings", "travel"]
CURRENCIES = ["USD", "EUR", "GBP", "JPY", "CHF"]
CATEGORIES = ["groceries", "rent", "dining", "transport", "entertainment"]
RATES_TO_USD = {"USD": 1.0, "EUR": 1.08, "GBP": 1.27, "JPY": 0.0067, "CHF": 1.13}
_RECIPIENTS = {
    "train": ["Alice", "Bruno", "Chen", "Dana", "Emeka", "Farah", "Goran", "Hana", "Ivan", "Jonas", "Keiko",
              "Lena", "Marco", "Nadia", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tariq", "Uma", "Viktor"],
    "test": ["Wendy", "Xavier", "Yara", "Zoltan", "Amara", "Bastian", "Celine", "Dmitri", "Elif", "Felix"],
}
_NOTES = {
    "train": ["rent", "dinner", "concert tickets", "birthday gift", "taxi", "groceries", "books", "coffee"],
    "test": ["ski trip", "plumber", "yoga class", "flowers"],
}


def _account(state: dict[str, Any], name: str) -> dict[str, Any]:
    return state["accounts"][name]


def _withdraw(state: dict[str, Any], account: str, amount: float) -> None:
    if _account(state, account)["frozen"]:
        raise ValueError(f"the {account} account's card is frozen")
    if amount > _account(state, account)["balance"]:
        raise ValueError(f"insufficient funds in {account}")
    _account(state, account)["balance"] = round(_account(state, account)["balance"] - amount, 2)


@tool("Get the current balance of one of the user's accounts.",
      account={"type": "string", "enum": ACCOUNTS, "description": "Which account."})
def get_balance(state, account):
    return {"account": account, "balance": _account(state, account)["balance"], "currency": "USD"}


@tool("Move money between two of the user's own accounts.",
      from_account={"type": "string", "enum": ACCOUNTS},
      to_account={"type": "string", "enum": ACCOUNTS},
      amount={"type": "number", "exclusiveMinimum": 0, "description": "Amount in USD."})
def transfer(state, from_account, to_account, amount):
    if from_account == to_account:
        raise ValueError("from_account and to_account must differ")
    _withdraw(state, from_account, amount)
    _account(state, to_account)["balance"] = round(_account(state, to_account)["balance"] + amount, 2)
    state["log"].append({"op": "transfer", "from": from_account, "to": to_account, "amount": amount})
    return {"status": "done", "from_balance": _account(state, from_account)["balance"]}


@tool("Send money from the checking account to another person.",
      recipient={"type": "string", "minLength": 1, "description": "The person's name."},
      amount={"type": "number", "exclusiveMinimum": 0, "description": "Amount in USD."},
      note={"type": "string", "default": "", "description": "Optional payment reference."})
def send_payment(state, recipient, amount, note=""):
    _withdraw(state, "checking", amount)
    state["log"].append({"op": "payment", "to": recipient, "amount": amount, "note": note})
    return {"status": "sent", "recipient": recipient, "amount": amount}


@tool("List the most recent transactions of an account.",
      account={"type": "string", "enum": ACCOUNTS},
      limit={"type": "integer", "minimum": 1, "maximum": 50, "default": 5, "description": "How many."})
def list_transactions(state, account, limit=5):
    entries = [e for e in state["log"]
               if account in (e.get("from"), e.get("to")) or (e["op"] == "payment" and account == "checking")]
    return entries[-limit:]


@tool("Convert an amount of money between currencies at today's rate.",
      amount={"type": "number", "exclusiveMinimum": 0},
      from_currency={"type": "string", "enum": CURRENCIES},
      to_currency={"type": "string", "enum": CURRENCIES})
def convert_currency(state, amount, from_currency, to_currency):
    value = amount * RATES_TO_USD[from_currency] / RATES_TO_USD[to_currency]
    return {"amount": round(value, 2), "currency": to_currency}


@tool("Freeze the payment card of an account, e.g. when it was lost.",
      account={"type": "string", "enum": ACCOUNTS})
def freeze_card(state, account):
    _account(state, account)["frozen"] = True
    return {"status": "frozen", "account": account}


@tool("Set a monthly spending limit for a budget category.",
      category={"type": "string", "enum": CATEGORIES},
      monthly_limit={"type": "number", "minimum": 0, "description": "Limit in USD per month."})
def set_budget(state, category, monthly_limit):
    state["budgets"][category] = monthly_limit
    return {"status": "set", "category": category, "monthly_limit": monthly_limit}


TOOLS = (get_balance, transfer, send_payment, list_transactions, convert_currency, freeze_card, set_budget)

TEMPLATES: dict[str, list[str]] = {
    "get_balance": [
        "What is the balance of my {account} account?",
        "How much money is in my {account} account?",
        "Check my {account} balance.",
    ],
    "transfer": [
        "Transfer {amount} dollars from my {from_account} account to {to_account}.",
        "Move ${amount} from {from_account} to {to_account}.",
        "Please put {amount} USD from my {from_account} into my {to_account} account.",
    ],
    "send_payment": [
        "Send {amount} dollars to {recipient} for {note}.",
        "Pay {recipient} ${amount}, reference: {note}.",
        "I owe {recipient} {amount} USD for {note}, please send it.",
    ],
    "list_transactions": [
        "Show me the last {limit} transactions on my {account} account.",
        "List {limit} recent transactions from {account}.",
        "What were my {limit} latest {account} transactions?",
    ],
    "convert_currency": [
        "Convert {amount} {from_currency} to {to_currency}.",
        "How much is {amount} {from_currency} in {to_currency}?",
        "What do {amount} {from_currency} come to in {to_currency}?",
    ],
    "freeze_card": [
        "I lost the card for my {account} account, freeze it.",
        "Freeze my {account} card right now.",
        "Please block the card on the {account} account.",
    ],
    "set_budget": [
        "Set my monthly {category} budget to {monthly_limit} dollars.",
        "Limit my {category} spending to ${monthly_limit} a month.",
        "I want a {category} budget of {monthly_limit} USD per month.",
    ],
}

IRRELEVANT_QUERIES = [
    "What's the weather like in Lisbon tomorrow?",
    "Tell me a joke about penguins.",
    "Who wrote the novel Middlemarch?",
    "Translate 'good morning' into Italian.",
    "How many minutes should I boil an egg?",
    "Recommend a good science fiction film.",
]


def initial_state(rng: random.Random, split: str = "train") -> dict[str, Any]:
    return {
        "accounts": {a: {"balance": float(rng.randint(500, 5000)), "frozen": False} for a in ACCOUNTS},
        "budgets": {},
        "log": [],
    }


def _amount(rng: random.Random) -> float | int:
    return rng.randint(5, 400) if rng.random() < 0.7 else round(rng.uniform(5, 400), 2)


def sample_arguments(tool_name: str, rng: random.Random, split: str) -> dict[str, Any]:
    """Random arguments for ``tool_name``; string values come from the ``split``'s own pool."""
    if tool_name == "get_balance" or tool_name == "freeze_card":
        return {"account": rng.choice(ACCOUNTS)}
    if tool_name == "transfer":
        source, target = rng.sample(ACCOUNTS, 2)
        return {"from_account": source, "to_account": target, "amount": _amount(rng)}
    if tool_name == "send_payment":
        return {"recipient": rng.choice(_RECIPIENTS[split]), "amount": _amount(rng), "note": rng.choice(_NOTES[split])}
    if tool_name == "list_transactions":
        return {"account": rng.choice(ACCOUNTS), "limit": rng.randint(2, 20)}
    if tool_name == "convert_currency":
        source, target = rng.sample(CURRENCIES, 2)
        return {"amount": _amount(rng), "from_currency": source, "to_currency": target}
    if tool_name == "set_budget":
        return {"category": rng.choice(CATEGORIES), "monthly_limit": rng.randint(50, 2000)}
    raise KeyError(tool_name)


def _move_whole_balance(rng: random.Random, state: dict[str, Any], split: str) -> MultiStep:
    source, target = rng.sample(ACCOUNTS, 2)
    query = rng.choice([f"Move everything in my {source} account to {target}.",
                        f"Check my {source} balance and transfer all of it to {target}.",
                        f"Empty my {source} account into {target}."])
    return MultiStep(query, Call("get_balance", {"account": source}),
                     lambda result: Call("transfer", {"from_account": source, "to_account": target,
                                                      "amount": result["balance"]}),
                     derived=("amount",))


def _balance_in_currency(rng: random.Random, state: dict[str, Any], split: str) -> MultiStep:
    account, currency = rng.choice(ACCOUNTS), rng.choice([c for c in CURRENCIES if c != "USD"])
    query = rng.choice([f"What is my {account} balance worth in {currency}?",
                        f"Convert whatever is in my {account} account to {currency}.",
                        f"How much {currency} would my {account} balance buy?"])
    return MultiStep(query, Call("get_balance", {"account": account}),
                     lambda result: Call("convert_currency", {"amount": result["balance"],
                                                              "from_currency": result["currency"],
                                                              "to_currency": currency}),
                     derived=("amount", "from_currency"))


#: Requests whose second call needs the first call's result (see `envs.domains.multi_step`).
MULTI_STEP = [_move_whole_balance, _balance_in_currency]
