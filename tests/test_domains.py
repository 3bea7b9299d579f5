"""envs.domains: every domain's tools on their state, and the seeded task generator."""

from __future__ import annotations

import copy
import json
import random

import pytest

from envs.domains import (
    DOMAINS,
    TASK_KINDS,
    DomainTasks,
    banking,
    calendar,
    make_task,
    possible_answer,
    template_fields,
)
from envs.domains.__main__ import table
from fcgym import Call, check, execute
from fcgym.validity import check_query

ALL_TOOLS = tuple(t for module in DOMAINS.values() for t in module.TOOLS)


@pytest.fixture
def state():
    return {
        "accounts": {"checking": {"balance": 1000.0, "frozen": False}, "savings": {"balance": 500.0, "frozen": False},
                     "travel": {"balance": 0.0, "frozen": False}},
        "budgets": {},
        "log": [],
    }


def run(state, name, **arguments):
    (result,) = execute([Call(name, arguments)], ALL_TOOLS, state)
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
    "transfer_zero": ("transfer", {"from_account": "checking", "to_account": "savings", "amount": 0},
                      "ToolArgumentError"),
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




# ------------------------------------------------------------------------- the other domains' worlds


def calendar_state():
    return {"events": {
        "Budget review": {"date": "2025-06-10", "start_time": "09:00", "duration_minutes": 60, "attendees": ["Alice"],
                          "location": "Room 4"},
        "Book club": {"date": "2025-06-10", "start_time": "18:00", "duration_minutes": 90, "attendees": [],
                      "location": ""},
    }, "reminders": [{"title": "Book club", "minutes_before": 30, "channel": "sms"}]}


def travel_state():
    return {
        "flights": {
            "LH204": {"origin": "Berlin", "destination": "Paris", "date": "2025-07-01", "departure": "08:05",
                      "seats_left": 2, "base_price": 100, "status": "on time"},
            "BA118": {"origin": "Berlin", "destination": "Paris", "date": "2025-07-01", "departure": "12:20",
                      "seats_left": 10, "base_price": 90, "status": "cancelled"},
        },
        "hotels": {"Harbor Inn": {"city": "Dublin", "rooms_left": 1, "price_per_night": 100},
                   "City Lodge": {"city": "Oslo", "rooms_left": 0, "price_per_night": 80}},
        "bookings": {
            "BK1001": {"status": "active", "type": "flight", "flight_number": "LH204", "cabin": "economy",
                       "passengers": ["Alice"], "bags": 0},
            "BK1002": {"status": "cancelled", "type": "flight", "flight_number": "LH204", "cabin": "business",
                       "passengers": ["Bruno"], "bags": 0},
        },
    }


def files_state():
    return {"files": {"/docs/report.txt": "quarterly budget", "/notes/todo.md": "buy milk"},
            "dirs": ["/", "/docs", "/notes"]}


def _forecast(high):
    return [{"day": d, "high_c": high + d, "low_c": high - 5, "condition": "sunny"} for d in range(1, 8)]


def weather_state():
    return {"weather": {
        "Oslo": {"temp_c": 10, "condition": "cloudy", "humidity": 80, "wind_kph": 20, "aqi": 30,
                 "forecast": _forecast(12)},
        "Cairo": {"temp_c": 30, "condition": "clear", "humidity": 20, "wind_kph": 5, "aqi": 120,
                  "forecast": _forecast(33)},
    }, "weather_alerts": [{"city": "Oslo", "alert_type": "snow", "notify_at": "07:00"}]}


def shopping_state():
    return {
        "products": {"yoga mat": {"category": "sports", "price": 20.0, "stock": 3, "rating": 4.5},
                     "tennis racket": {"category": "sports", "price": 80.0, "stock": 0, "rating": 4.8},
                     "cookbook": {"category": "books", "price": 15.5, "stock": 10, "rating": 3.9}},
        "cart": {"cookbook": 2},
        "orders": {"ORD-1001": {"status": "processing", "items": {"cookbook": 1}, "total_usd": 15.5},
                   "ORD-1002": {"status": "shipped", "items": {"yoga mat": 1}, "total_usd": 20.0}},
    }


def read_only(state, name, **arguments):
    before = copy.deepcopy(state)
    output = ok(state, name, **arguments)
    assert state == before, f"{name} must not change the state"
    return output


# ---------------------------------------------------------------------------------------- calendar


def test_calendar_create_event():
    state = calendar_state()
    assert ok(state, "create_event", title="Gym class", date="2025-06-10", start_time="10:00", duration_minutes=45,
              attendees=["Bruno", "Chen"], location="the gym") == {
        "status": "created", "title": "Gym class", "date": "2025-06-10", "start_time": "10:00", "end_time": "10:45"}
    ok(state, "create_event", title="Haircut", date="2025-06-10", start_time="08:00")  # ends 09:00: no overlap
    assert state["events"]["Gym class"] == {"date": "2025-06-10", "start_time": "10:00", "duration_minutes": 45,
                                            "attendees": ["Bruno", "Chen"], "location": "the gym"}
    assert state["events"]["Haircut"] == {"date": "2025-06-10", "start_time": "08:00", "duration_minutes": 60,
                                          "attendees": [], "location": ""}


def test_calendar_list_cancel_reschedule():
    state = calendar_state()
    assert [e["title"] for e in read_only(state, "list_events", date="2025-06-10")] == ["Budget review", "Book club"]
    assert read_only(state, "list_events", date="2025-06-11") == []
    assert ok(state, "reschedule_event", title="Book club", new_date="2025-06-11", new_start_time="19:30") == {
        "status": "rescheduled", "title": "Book club", "date": "2025-06-11", "start_time": "19:30"}
    assert state["events"]["Book club"]["duration_minutes"] == 90
    ok(state, "reschedule_event", title="Budget review", new_date="2025-06-10", new_start_time="09:30")  # itself
    assert ok(state, "cancel_event", title="Book club") == {"status": "cancelled", "title": "Book club"}
    assert list(state["events"]) == ["Budget review"] and state["reminders"] == []


def test_calendar_reminders_slots_and_invites():
    state = calendar_state()
    ok(state, "add_reminder", title="Budget review", minutes_before=15, channel="popup")
    assert state["reminders"][-1] == {"title": "Budget review", "minutes_before": 15, "channel": "popup"}
    assert read_only(state, "find_free_slots", date="2025-06-10", duration_minutes=60,
                     window={"start": "08:00", "end": "12:00"}) == {
        "date": "2025-06-10", "free_starts": ["08:00", "10:00", "10:30", "11:00"]}
    assert ok(state, "invite_attendees", title="Budget review", attendees=["Alice", "Dana"])["attendees"] == [
        "Alice", "Dana"]


# ------------------------------------------------------------------------------------------ travel


def test_travel_search_and_status():
    state = travel_state()
    assert read_only(state, "search_flights", origin="berlin", destination="Paris", date="2025-07-01",
                     cabin="business") == [
        {"flight_number": "LH204", "departure": "08:05", "seats_left": 2, "price_usd": 320.0}]
    assert read_only(state, "search_flights", origin="Paris", destination="Berlin", date="2025-07-01") == []
    assert read_only(state, "get_flight_status", flight_number="BA118")["status"] == "cancelled"
    assert [b["booking_id"] for b in read_only(state, "list_bookings")] == ["BK1001"]
    assert [b["booking_id"] for b in read_only(state, "list_bookings", status="cancelled")] == ["BK1002"]


def test_travel_book_cancel_and_bags():
    state = travel_state()
    assert ok(state, "book_flight", flight_number="LH204", passengers=["Bruno", "Chen"], cabin="premium") == {
        "status": "booked", "booking_id": "BK5002", "total_usd": 320.0}
    assert state["flights"]["LH204"]["seats_left"] == 0
    assert state["bookings"]["BK5002"]["passengers"] == ["Bruno", "Chen"]
    assert ok(state, "book_hotel", hotel="Harbor Inn", check_in="2025-07-02", nights=3,
              guests={"adults": 2, "children": 1})["total_usd"] == 420.0
    assert state["hotels"]["Harbor Inn"]["rooms_left"] == 0
    assert state["bookings"]["BK5003"]["room"] == "double"
    ok(state, "cancel_booking", booking_id="BK1001")
    assert state["bookings"]["BK1001"]["status"] == "cancelled" and state["flights"]["LH204"]["seats_left"] == 1
    ok(state, "cancel_booking", booking_id="BK5003")
    assert state["hotels"]["Harbor Inn"]["rooms_left"] == 1
    assert ok(state, "add_baggage", booking_id="BK5002", bags=2, weight_kg=23) == {
        "status": "added", "booking_id": "BK5002", "bags": 2, "fee_usd": 90}


# ------------------------------------------------------------------------------------------- files


def test_files_read_write():
    state = files_state()
    assert read_only(state, "read_file", path="/notes/todo.md") == {"path": "/notes/todo.md", "content": "buy milk"}
    ok(state, "write_file", path="/notes/todo.md", content="call mom", mode="append")
    ok(state, "write_file", path="/docs/plan.txt", content="draft")
    assert state["files"]["/notes/todo.md"] == "buy milk\ncall mom" and state["files"]["/docs/plan.txt"] == "draft"
    ok(state, "write_file", path="/notes/todo.md", content="done", mode="overwrite")
    assert state["files"]["/notes/todo.md"] == "done"


def test_files_move_copy_delete_mkdir():
    state = files_state()
    ok(state, "move_file", source="/notes/todo.md", destination="/docs/todo.md")
    ok(state, "copy_file", source="/docs/report.txt", destination="/notes/report.txt")
    ok(state, "create_directory", path="/docs/old")
    ok(state, "delete_file", path="/docs/report.txt")
    assert state["files"] == {"/docs/todo.md": "buy milk", "/notes/report.txt": "quarterly budget"}
    assert state["dirs"] == ["/", "/docs", "/docs/old", "/notes"]


def test_files_search_and_list():
    state = files_state()
    assert read_only(state, "search_files", query="Budget") == ["/docs/report.txt"]
    assert read_only(state, "search_files", query="todo") == ["/notes/todo.md"]  # by name
    assert read_only(state, "search_files", query="budget", folder="/notes") == []
    assert read_only(state, "search_files", query="u", extensions=["md"]) == ["/notes/todo.md"]
    assert read_only(state, "list_directory", path="/") == [
        {"name": "docs", "type": "folder", "size": 0}, {"name": "notes", "type": "folder", "size": 0}]
    ok(state, "write_file", path="/docs/a.txt", content="a much longer text than the report has")
    assert [e["name"] for e in read_only(state, "list_directory", path="/docs", sort_by="size")] == [
        "report.txt", "a.txt"]
    assert [e["name"] for e in read_only(state, "list_directory", path="/docs")] == ["a.txt", "report.txt"]


# ----------------------------------------------------------------------------------- units_weather


def test_weather_lookups():
    state = weather_state()
    assert read_only(state, "get_current_weather", city="oslo", unit="fahrenheit") == {
        "city": "oslo", "temperature": 50.0, "unit": "fahrenheit", "condition": "cloudy", "humidity_percent": 80,
        "wind_kph": 20}
    assert read_only(state, "get_current_weather", city="Oslo")["temperature"] == 10
    forecast = read_only(state, "get_forecast", city="Cairo", days=2)
    assert [(d["day"], d["high"], d["low"], d["unit"]) for d in forecast] == [(1, 34, 28, "celsius"),
                                                                               (2, 35, 28, "celsius")]
    assert len(read_only(state, "get_forecast", city="Cairo")) == 3
    assert read_only(state, "get_air_quality", city="Cairo") == {"city": "Cairo", "aqi": 120, "category": "unhealthy"}
    assert [c["city"] for c in read_only(state, "compare_temperatures", cities=["Oslo", "Cairo"])] == ["Cairo", "Oslo"]


def test_weather_alerts_and_conversions():
    state = weather_state()
    ok(state, "subscribe_weather_alert", city="Oslo", alert_type="frost", notify_at="06:30")
    ok(state, "subscribe_weather_alert", city="Cairo", alert_type="heat")
    assert state["weather_alerts"][1:] == [{"city": "Oslo", "alert_type": "frost", "notify_at": "06:30"},
                                           {"city": "Cairo", "alert_type": "heat", "notify_at": "07:00"}]
    assert read_only(state, "convert_units", value=1, from_unit="miles", to_unit="kilometers") == {
        "value": 1.6093, "unit": "kilometers"}
    assert read_only(state, "convert_units", value=2.5, from_unit="gallons", to_unit="liters")["value"] == 9.4635
    assert read_only(state, "convert_temperature", value=100, from_scale="celsius", to_scale="fahrenheit") == {
        "value": 212.0, "scale": "fahrenheit"}
    assert read_only(state, "convert_temperature", value=0, from_scale="kelvin", to_scale="celsius")["value"] == -273.15


# ---------------------------------------------------------------------------------------- shopping


def test_shopping_search_and_view():
    state = shopping_state()
    assert [p["product"] for p in read_only(state, "search_products", category="sports", max_price=100)] == [
        "yoga mat", "tennis racket"]
    assert [p["product"] for p in read_only(state, "search_products", category="sports", max_price=100,
                                            sort_by="rating")] == ["tennis racket", "yoga mat"]
    assert read_only(state, "search_products", category="sports", max_price=19.99) == []
    assert read_only(state, "view_cart") == {"items": [{"product": "cookbook", "quantity": 2, "price": 15.5}],
                                             "total_usd": 31.0}
    assert read_only(state, "get_order_status", order_id="ord-1002") == {
        "order_id": "ORD-1002", "status": "shipped", "total_usd": 20.0}


def test_shopping_cart_checkout_cancel():
    state = shopping_state()
    assert ok(state, "add_to_cart", product="Yoga Mat", quantity=2)["cart_total_usd"] == 71.0
    ok(state, "add_to_cart", product="yoga mat")
    assert state["cart"] == {"cookbook": 2, "yoga mat": 3}
    ok(state, "remove_from_cart", product="cookbook")
    address = {"street": "12 Baker Street", "city": "Leeds", "postal_code": "10115"}
    assert ok(state, "checkout", shipping_address=address, payment_method="paypal") == {
        "status": "ordered", "order_id": "ORD-5003", "total_usd": 60.0}
    assert state["cart"] == {} and state["products"]["yoga mat"]["stock"] == 0
    assert state["orders"]["ORD-5003"]["address"] == address
    result = run(state, "checkout", shipping_address=address, payment_method="card")
    assert result.error_type == "ToolExecutionError" and "empty" in result.error
    ok(state, "cancel_order", order_id="ORD-1001", reason="duplicate")
    assert state["orders"]["ORD-1001"]["status"] == "cancelled"


# ------------------------------------------------------------------------------ every domain's tools


def test_every_domain_is_complete():
    names = [t.name for t in ALL_TOOLS]
    assert len(names) == len(set(names)) >= 40
    assert len(DOMAINS) >= 6
    for module in DOMAINS.values():
        assert module.__doc__ and module.NAME in DOMAINS
        assert set(module.TEMPLATES) == {t.name for t in module.TOOLS}
        assert 5 <= len(module.IRRELEVANT_QUERIES) <= 8
        for tool in module.TOOLS:
            params = set(tool.parameters["properties"])
            for template in module.TEMPLATES[tool.name]:
                assert template_fields(template) <= params, (tool.name, template)
    keys = [k for module in DOMAINS.values() for k in module.initial_state(random.Random(0), "train")]
    assert len(keys) == len(set(keys))  # a "multiple" task merges worlds


def test_schemas_use_enums_objects_arrays_defaults_dates_and_times():
    properties = [p for t in ALL_TOOLS for p in t.parameters["properties"].values()]
    assert any("enum" in p for p in properties)
    assert any(p.get("type") == "object" for p in properties)
    assert any(p.get("type") == "array" for p in properties)
    assert any("default" in p for p in properties)
    patterns = {p.get("pattern") for p in properties}
    assert calendar.DATE["pattern"] in patterns and calendar.TIME["pattern"] in patterns


BAD_DOMAIN_CALLS = {
    # calendar
    "event_overlaps": (calendar_state, "create_event", {"title": "Gym", "date": "2025-06-10", "start_time": "09:30"},
                       "ToolExecutionError"),
    "event_duplicate_title": (calendar_state, "create_event",
                              {"title": "Book club", "date": "2025-06-12", "start_time": "09:30"},
                              "ToolExecutionError"),
    "event_no_such_date": (calendar_state, "create_event",
                           {"title": "Gym", "date": "2025-02-30", "start_time": "09:30"}, "ToolExecutionError"),
    "event_past_midnight": (calendar_state, "create_event",
                            {"title": "Gym", "date": "2025-06-12", "start_time": "23:30", "duration_minutes": 60},
                            "ToolExecutionError"),
    "event_bad_time": (calendar_state, "create_event", {"title": "Gym", "date": "2025-06-12", "start_time": "25:00"},
                       "ToolArgumentError"),
    "event_zero_minutes": (calendar_state, "create_event",
                           {"title": "Gym", "date": "2025-06-12", "start_time": "10:00", "duration_minutes": 0},
                           "ToolArgumentError"),
    "event_attendees_string": (calendar_state, "create_event",
                               {"title": "Gym", "date": "2025-06-12", "start_time": "10:00", "attendees": "Alice"},
                               "ToolArgumentError"),
    "list_events_bad_date": (calendar_state, "list_events", {"date": "June 10"}, "ToolArgumentError"),
    "cancel_missing_event": (calendar_state, "cancel_event", {"title": "Gala"}, "ToolExecutionError"),
    "reschedule_overlap": (calendar_state, "reschedule_event",
                           {"title": "Book club", "new_date": "2025-06-10", "new_start_time": "08:30"},
                           "ToolExecutionError"),
    "reminder_bad_channel": (calendar_state, "add_reminder",
                             {"title": "Book club", "minutes_before": 5, "channel": "pigeon"}, "ToolArgumentError"),
    "reminder_missing_event": (calendar_state, "add_reminder",
                               {"title": "Gala", "minutes_before": 5, "channel": "sms"}, "ToolExecutionError"),
    "slots_window_reversed": (calendar_state, "find_free_slots",
                              {"date": "2025-06-10", "duration_minutes": 30,
                               "window": {"start": "12:00", "end": "09:00"}}, "ToolExecutionError"),
    "slots_window_incomplete": (calendar_state, "find_free_slots",
                                {"date": "2025-06-10", "duration_minutes": 30, "window": {"start": "12:00"}},
                                "ToolArgumentError"),
    "invite_nobody": (calendar_state, "invite_attendees", {"title": "Book club", "attendees": []}, "ToolArgumentError"),
    "invite_already_invited": (calendar_state, "invite_attendees", {"title": "Budget review", "attendees": ["Alice"]},
                               "ToolExecutionError"),
    # travel
    "flight_full": (travel_state, "book_flight", {"flight_number": "LH204", "passengers": ["A", "B", "C"]},
                    "ToolExecutionError"),
    "flight_cancelled": (travel_state, "book_flight", {"flight_number": "BA118", "passengers": ["A"]},
                         "ToolExecutionError"),
    "flight_unknown": (travel_state, "book_flight", {"flight_number": "XX999", "passengers": ["A"]},
                       "ToolExecutionError"),
    "flight_number_malformed": (travel_state, "get_flight_status", {"flight_number": "LH-204"}, "ToolArgumentError"),
    "flight_no_passengers": (travel_state, "book_flight", {"flight_number": "LH204", "passengers": []},
                             "ToolArgumentError"),
    "flight_unknown_cabin": (travel_state, "book_flight", {"flight_number": "LH204", "passengers": ["A"],
                                                           "cabin": "first"}, "ToolArgumentError"),
    "search_bad_date": (travel_state, "search_flights", {"origin": "Berlin", "destination": "Paris",
                                                         "date": "2025-7-1"}, "ToolArgumentError"),
    "hotel_full": (travel_state, "book_hotel", {"hotel": "City Lodge", "check_in": "2025-07-02",
                                                "guests": {"adults": 1, "children": 0}}, "ToolExecutionError"),
    "hotel_guests_incomplete": (travel_state, "book_hotel", {"hotel": "Harbor Inn", "check_in": "2025-07-02",
                                                             "guests": {"adults": 1}}, "ToolArgumentError"),
    "hotel_zero_nights": (travel_state, "book_hotel", {"hotel": "Harbor Inn", "check_in": "2025-07-02", "nights": 0,
                                                       "guests": {"adults": 1, "children": 0}}, "ToolArgumentError"),
    "cancel_cancelled_booking": (travel_state, "cancel_booking", {"booking_id": "BK1002"}, "ToolExecutionError"),
    "cancel_unknown_booking": (travel_state, "cancel_booking", {"booking_id": "BK4242"}, "ToolExecutionError"),
    "bags_too_heavy": (travel_state, "add_baggage", {"booking_id": "BK1001", "bags": 1, "weight_kg": 40},
                       "ToolArgumentError"),
    "bags_too_many": (travel_state, "add_baggage", {"booking_id": "BK1001", "bags": 4, "weight_kg": 20},
                      "ToolArgumentError"),
    "bags_cancelled_booking": (travel_state, "add_baggage", {"booking_id": "BK1002", "bags": 1, "weight_kg": 20},
                               "ToolExecutionError"),
    "bookings_unknown_status": (travel_state, "list_bookings", {"status": "all"}, "ToolArgumentError"),
    # files
    "read_missing": (files_state, "read_file", {"path": "/docs/nope.txt"}, "ToolExecutionError"),
    "read_relative_path": (files_state, "read_file", {"path": "docs/report.txt"}, "ToolArgumentError"),
    "write_missing_folder": (files_state, "write_file", {"path": "/tmp/a.txt", "content": "x"}, "ToolExecutionError"),
    "write_onto_folder": (files_state, "write_file", {"path": "/docs", "content": "x"}, "ToolExecutionError"),
    "write_unknown_mode": (files_state, "write_file", {"path": "/docs/a.txt", "content": "x", "mode": "insert"},
                           "ToolArgumentError"),
    "move_missing": (files_state, "move_file", {"source": "/docs/nope.txt", "destination": "/docs/b.txt"},
                     "ToolExecutionError"),
    "move_onto_existing": (files_state, "move_file", {"source": "/docs/report.txt", "destination": "/notes/todo.md"},
                           "ToolExecutionError"),
    "copy_into_missing_folder": (files_state, "copy_file", {"source": "/docs/report.txt", "destination": "/x/r.txt"},
                                 "ToolExecutionError"),
    "delete_missing": (files_state, "delete_file", {"path": "/notes/nope.md"}, "ToolExecutionError"),
    "delete_missing_argument": (files_state, "delete_file", {}, "ToolArgumentError"),
    "search_unknown_extension": (files_state, "search_files", {"query": "x", "extensions": ["exe"]},
                                 "ToolArgumentError"),
    "search_missing_folder": (files_state, "search_files", {"query": "x", "folder": "/music"}, "ToolExecutionError"),
    "list_missing_folder": (files_state, "list_directory", {"path": "/music"}, "ToolExecutionError"),
    "list_unknown_sort": (files_state, "list_directory", {"path": "/", "sort_by": "date"}, "ToolArgumentError"),
    "mkdir_existing": (files_state, "create_directory", {"path": "/docs"}, "ToolExecutionError"),
    "mkdir_missing_parent": (files_state, "create_directory", {"path": "/a/b"}, "ToolExecutionError"),
    # units_weather
    "weather_unknown_city": (weather_state, "get_current_weather", {"city": "Atlantis"}, "ToolExecutionError"),
    "weather_unknown_unit": (weather_state, "get_current_weather", {"city": "Oslo", "unit": "rankine"},
                             "ToolArgumentError"),
    "air_quality_empty_city": (weather_state, "get_air_quality", {"city": ""}, "ToolArgumentError"),
    "air_quality_unknown_city": (weather_state, "get_air_quality", {"city": "Atlantis"}, "ToolExecutionError"),
    "forecast_too_long": (weather_state, "get_forecast", {"city": "Oslo", "days": 8}, "ToolArgumentError"),
    "compare_one_city": (weather_state, "compare_temperatures", {"cities": ["Oslo"]}, "ToolArgumentError"),
    "compare_unknown_city": (weather_state, "compare_temperatures", {"cities": ["Oslo", "Atlantis"]},
                             "ToolExecutionError"),
    "alert_duplicate": (weather_state, "subscribe_weather_alert", {"city": "oslo", "alert_type": "snow"},
                        "ToolExecutionError"),
    "alert_bad_time": (weather_state, "subscribe_weather_alert", {"city": "Oslo", "alert_type": "rain",
                                                                  "notify_at": "7am"}, "ToolArgumentError"),
    "convert_length_to_mass": (weather_state, "convert_units", {"value": 3, "from_unit": "meters",
                                                               "to_unit": "kilograms"}, "ToolExecutionError"),
    "convert_value_string": (weather_state, "convert_units", {"value": "3", "from_unit": "meters",
                                                             "to_unit": "feet"}, "ToolArgumentError"),
    "convert_unknown_unit": (weather_state, "convert_units", {"value": 3, "from_unit": "m", "to_unit": "feet"},
                             "ToolArgumentError"),
    "below_absolute_zero": (weather_state, "convert_temperature", {"value": -500, "from_scale": "celsius",
                                                                   "to_scale": "kelvin"}, "ToolExecutionError"),
    # shopping
    "cart_over_stock": (shopping_state, "add_to_cart", {"product": "yoga mat", "quantity": 4}, "ToolExecutionError"),
    "cart_out_of_stock": (shopping_state, "add_to_cart", {"product": "tennis racket"}, "ToolExecutionError"),
    "cart_unknown_product": (shopping_state, "add_to_cart", {"product": "unicorn"}, "ToolExecutionError"),
    "cart_zero_quantity": (shopping_state, "add_to_cart", {"product": "yoga mat", "quantity": 0}, "ToolArgumentError"),
    "remove_not_in_cart": (shopping_state, "remove_from_cart", {"product": "yoga mat"}, "ToolExecutionError"),
    "view_cart_extra_param": (shopping_state, "view_cart", {"user": "me"}, "ToolArgumentError"),
    "checkout_no_postal_code": (shopping_state, "checkout", {"shipping_address": {"street": "1 A St", "city": "Leeds"},
                                                             "payment_method": "card"}, "ToolArgumentError"),
    "checkout_unknown_payment": (shopping_state, "checkout", {
        "shipping_address": {"street": "1 A St", "city": "Leeds", "postal_code": "10115"}, "payment_method": "cash"},
        "ToolArgumentError"),
    "search_unknown_category": (shopping_state, "search_products", {"category": "cars", "max_price": 10},
                                "ToolArgumentError"),
    "cancel_shipped_order": (shopping_state, "cancel_order", {"order_id": "ORD-1002", "reason": "delayed"},
                             "ToolExecutionError"),
    "cancel_unknown_order": (shopping_state, "cancel_order", {"order_id": "ORD-4242", "reason": "delayed"},
                             "ToolExecutionError"),
    "cancel_unknown_reason": (shopping_state, "cancel_order", {"order_id": "ORD-1001", "reason": "bored"},
                              "ToolArgumentError"),
    "order_id_malformed": (shopping_state, "get_order_status", {"order_id": "1001"}, "ToolArgumentError"),
}


@pytest.mark.parametrize("make_state, name, arguments, error_type", BAD_DOMAIN_CALLS.values(),
                         ids=BAD_DOMAIN_CALLS.keys())
def test_bad_domain_calls_give_typed_errors_and_keep_state(make_state, name, arguments, error_type):
    state = make_state()
    before = copy.deepcopy(state)
    result = run(state, name, **arguments)
    assert not result.ok and result.error_type == error_type, result
    assert state == before


def test_every_tool_has_a_bad_call():
    covered = {name for _, name, _, _ in BAD_DOMAIN_CALLS.values()} | {name for name, _, _ in BAD_CALLS.values()}
    assert covered == {t.name for t in ALL_TOOLS}


# ------------------------------------------------------------------------------------ task generation

EXPECTED_CALLS = {"single": 1, "parallel": 2, "multiple": 1, "irrelevance": 0, "multi_step": 2}


def _fingerprint(task):
    return (task.id, task.query, task.answers, task.initial_state, task.kind, [t.name for t in task.tools])


@pytest.mark.parametrize("domain", DOMAINS)
@pytest.mark.parametrize("kind", TASK_KINDS)
def test_generation_is_deterministic(domain, kind):
    first = [make_task(domain, kind, random.Random(seed)) for seed in range(20)]
    again = [make_task(domain, kind, random.Random(seed)) for seed in range(20)]
    assert [_fingerprint(t) for t in first] == [_fingerprint(t) for t in again]
    assert len({t.id for t in first}) == 20


def test_domain_tasks_source_is_deterministic():
    source = DomainTasks()
    rng_a, rng_b = random.Random(3), random.Random(3)
    assert [_fingerprint(source.sample(rng_a)) for _ in range(10)] == [_fingerprint(source.sample(rng_b))
                                                                       for _ in range(10)]


def test_domain_tasks_default_mix():
    kinds = DomainTasks().kinds
    assert set(kinds) == set(TASK_KINDS) - {"multi_step"}  # multi-step tasks need max_turns >= 2
    assert kinds.count("irrelevance") / len(kinds) == pytest.approx(0.2)


def _tasks(domain, kind, split, count):
    rng = random.Random(f"{domain}/{kind}/{split}")
    return [make_task(domain, kind, rng, split) for _ in range(count)]


@pytest.mark.parametrize("domain", DOMAINS)
@pytest.mark.parametrize("kind", TASK_KINDS)
def test_generated_tasks_are_sound(domain, kind):
    """Well-formed; the canonical answer passes the checker and runs without tool errors; the seed query is valid."""
    module = DOMAINS[domain]
    for task in _tasks(domain, kind, "train", 200) + _tasks(domain, kind, "test", 50):
        assert task.domain == domain and task.kind == kind and task.query
        assert len(task.answers) == EXPECTED_CALLS[kind]
        calls = task.target_calls()
        for call in calls:
            assert call.name in module.TEMPLATES
            task.tool(call.name).validate(call.arguments)
        verdict = check(calls, task)
        assert verdict.valid, (task.query, verdict)
        validity = check_query(task.query, task)
        assert validity.valid, (task.query, validity.reasons)
        results = execute(calls, task.tools, task.fresh_state())  # parallel calls run in order
        assert all(r.ok for r in results), (task.query, results)


@pytest.mark.parametrize("domain", DOMAINS)
def test_multiple_offers_other_domains_tools(domain):
    own = {t.name for t in DOMAINS[domain].TOOLS}
    for task in _tasks(domain, "multiple", "train", 30):
        names = {t.name for t in task.tools}
        others = [d for d, m in DOMAINS.items() if d != domain and {t.name for t in m.TOOLS} <= names]
        assert own <= names and 1 <= len(others) <= 2
        assert names == own.union(*({t.name for t in DOMAINS[d].TOOLS} for d in others))
        for other in others:  # the other domains' worlds are there too
            assert set(DOMAINS[other].initial_state(random.Random(0))) <= set(task.initial_state)


def test_optional_parameters_are_sometimes_left_out():
    tasks = _tasks("calendar", "single", "train", 300)
    creates = [t.answers[0]["create_event"] for t in tasks if "create_event" in t.answers[0]]
    assert any(a["location"] == ["", ""] for a in creates) and any(a["location"] != ["", ""] for a in creates)
    for answer in creates:
        if answer["attendees"] == ["", []]:
            continue
        assert len(answer["attendees"]) == 1 and answer["attendees"][0]


def _strings(value, schema):
    """The free-text strings of an argument (names, cities, paths): no enum values, dates or times."""
    if "enum" in schema:
        return set()
    if isinstance(value, list):
        return set().union(*(_strings(v, schema.get("items", {})) for v in value))
    if isinstance(value, dict):
        return set().union(*(_strings(v, schema["properties"][k]) for k, v in value.items()))
    if isinstance(value, str) and value != "/" and schema.get("pattern") not in (calendar.DATE["pattern"],
                                                                                 calendar.TIME["pattern"]):
        return {value.lower()}
    return set()


@pytest.mark.parametrize("domain", DOMAINS)
def test_train_and_test_strings_are_disjoint(domain):
    seen = {"train": set(), "test": set()}
    for split in seen:
        for kind in ("single", "parallel"):
            for task in _tasks(domain, kind, split, 200):
                for call in task.target_calls():
                    seen[split] |= _strings(call.arguments, task.tool(call.name).parameters)
    assert seen["train"] and seen["test"]
    assert not seen["train"] & seen["test"], seen["train"] & seen["test"]


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
        make_task("astrology", "single", random.Random(0))
    with pytest.raises(ValueError):
        DomainTasks(domains=("nope",))
    with pytest.raises(ValueError, match="task kind"):
        DomainTasks(kinds=("chitchat",))
    assert "banking" in DOMAINS


def test_table_lists_every_domain():
    text = table()
    lines = text.splitlines()
    assert lines[0] == "| domain | tools | tool names | task kinds |"
    for name, module in DOMAINS.items():
        row = next(line for line in lines if line.startswith(f"| {name} |"))
        assert f"| {len(module.TOOLS)} |" in row and all(t.name in row for t in module.TOOLS)
        assert all(kind in row for kind in TASK_KINDS)
    assert f"**{len(ALL_TOOLS)}**" in text
