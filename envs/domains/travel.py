"""Travel: flights, hotels and the bookings that tie a traveller to them.

The world holds every flight, hotel and existing booking of the split's pools, with random routes, dates,
free seats and rooms. Booking a full flight or hotel, a cancelled flight, or changing a cancelled booking is
refused. Dates are ``YYYY-MM-DD`` strings; prices are in USD; baggage weight in kilograms.
"""

from __future__ import annotations

import datetime
import random
from typing import Any

from envs.domains.multi_step import MultiStep
from fcgym import Call, tool

NAME = "travel"
CABINS = ["economy", "premium", "business"]
ROOMS = ["single", "double", "suite"]
BOOKING_STATUSES = ["active", "cancelled"]
DATE = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$", "description": "Date as YYYY-MM-DD."}
_FLIGHTS = {
    "train": ["LH204", "BA118", "AF1680", "KL1002", "IB3170", "AZ610", "OS112", "SK1467", "LX318", "TP1351"],
    "test": ["QF31", "SQ22", "NZ2", "EK7", "CX251"],
}
_CITIES = {
    "train": ["Berlin", "Paris", "Madrid", "Rome", "Vienna", "Oslo", "Lisbon", "Dublin", "Prague", "Warsaw"],
    "test": ["Sydney", "Tokyo", "Auckland", "Dubai", "Singapore"],
}
_HOTELS = {
    "train": ["Hotel Adler", "Grand Palace", "Harbor Inn", "Sea Breeze Resort", "City Lodge", "Maple House"],
    "test": ["Blue Lagoon Hotel", "Sakura Inn", "Desert Rose"],
}
_BOOKINGS = {"train": [f"BK{n}" for n in range(1001, 1013)], "test": [f"BK{n}" for n in range(9001, 9007)]}
_TRAVELLERS = {
    "train": ["Alice", "Bruno", "Chen", "Dana", "Emeka", "Farah", "Goran", "Hana", "Ivan", "Jonas", "Keiko", "Lena"],
    "test": ["Wendy", "Xavier", "Yara", "Zoltan", "Amara", "Bastian", "Celine"],
}
_CABIN_FACTOR = {"economy": 1.0, "premium": 1.6, "business": 3.2}
_ROOM_FACTOR = {"single": 1.0, "double": 1.4, "suite": 2.5}


def _day(date: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(date)
    except ValueError:
        raise ValueError(f"{date} is not a calendar date") from None


def _flight(state: dict[str, Any], number: str) -> dict[str, Any]:
    if number.upper() not in state["flights"]:
        raise ValueError(f"no flight {number}")
    return state["flights"][number.upper()]


def _booking(state: dict[str, Any], booking_id: str) -> dict[str, Any]:
    booking = state["bookings"].get(booking_id.upper())
    if booking is None:
        raise ValueError(f"no booking {booking_id}")
    if booking["status"] == "cancelled":
        raise ValueError(f"booking {booking_id} is cancelled")
    return booking


def _new_booking(state: dict[str, Any], booking: dict[str, Any]) -> str:
    booking_id = f"BK{5000 + len(state['bookings'])}"
    state["bookings"][booking_id] = {"status": "active", **booking}
    return booking_id


@tool("Search flights between two cities on a date; prices are per passenger in the cabin asked for.",
      origin={"type": "string", "minLength": 1, "description": "Departure city."},
      destination={"type": "string", "minLength": 1, "description": "Arrival city."},
      date=DATE,
      cabin={"type": "string", "enum": CABINS, "default": "economy"})
def search_flights(state, origin, destination, date, cabin="economy"):
    _day(date)
    return [{"flight_number": number, "departure": f["departure"], "seats_left": f["seats_left"],
             "price_usd": round(f["base_price"] * _CABIN_FACTOR[cabin], 2)}
            for number, f in state["flights"].items()
            if f["origin"].lower() == origin.lower() and f["destination"].lower() == destination.lower()
            and f["date"] == date and f["status"] != "cancelled"]


@tool("Book seats on a flight for one or more passengers.",
      flight_number={"type": "string", "pattern": r"^[A-Za-z]{2}\d{1,4}$", "description": "E.g. LH204."},
      passengers={"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1, "maxItems": 6,
                  "uniqueItems": True, "description": "Passenger names."},
      cabin={"type": "string", "enum": CABINS, "default": "economy"})
def book_flight(state, flight_number, passengers, cabin="economy"):
    flight = _flight(state, flight_number)
    if flight["status"] == "cancelled":
        raise ValueError(f"flight {flight_number} is cancelled")
    if flight["seats_left"] < len(passengers):
        raise ValueError(f"flight {flight_number} has only {flight['seats_left']} seat(s) left")
    flight["seats_left"] -= len(passengers)
    price = round(flight["base_price"] * _CABIN_FACTOR[cabin] * len(passengers), 2)
    booking_id = _new_booking(state, {"type": "flight", "flight_number": flight_number.upper(),
                                      "passengers": list(passengers), "cabin": cabin, "bags": 0})
    return {"status": "booked", "booking_id": booking_id, "total_usd": price}


@tool("Book a hotel room for some nights.",
      hotel={"type": "string", "minLength": 1, "description": "Hotel name."},
      check_in=DATE,
      nights={"type": "integer", "minimum": 1, "maximum": 30, "default": 1},
      room={"type": "string", "enum": ROOMS, "default": "double"},
      guests={"type": "object", "description": "Who stays.",
              "properties": {"adults": {"type": "integer", "minimum": 1, "maximum": 4},
                             "children": {"type": "integer", "minimum": 0, "maximum": 4}},
              "required": ["adults", "children"], "additionalProperties": False})
def book_hotel(state, hotel, check_in, guests, nights=1, room="double"):
    _day(check_in)
    match = next((name for name in state["hotels"] if name.lower() == hotel.lower()), None)
    if match is None:
        raise ValueError(f"no hotel called {hotel!r}")
    if state["hotels"][match]["rooms_left"] == 0:
        raise ValueError(f"{match} is fully booked")
    state["hotels"][match]["rooms_left"] -= 1
    price = round(state["hotels"][match]["price_per_night"] * _ROOM_FACTOR[room] * nights, 2)
    booking_id = _new_booking(state, {"type": "hotel", "hotel": match, "check_in": check_in, "nights": nights,
                                      "room": room, "guests": dict(guests)})
    return {"status": "booked", "booking_id": booking_id, "total_usd": price}


@tool("Cancel a booking; a flight booking gives its seats back.",
      booking_id={"type": "string", "pattern": r"^[A-Za-z]{2}\d+$", "description": "E.g. BK1001."})
def cancel_booking(state, booking_id):
    booking = _booking(state, booking_id)
    booking["status"] = "cancelled"
    if booking["type"] == "flight":
        state["flights"][booking["flight_number"]]["seats_left"] += len(booking["passengers"])
    elif booking["type"] == "hotel":
        state["hotels"][booking["hotel"]]["rooms_left"] += 1
    return {"status": "cancelled", "booking_id": booking_id.upper()}


@tool("List the user's bookings with a given status.",
      status={"type": "string", "enum": BOOKING_STATUSES, "default": "active"})
def list_bookings(state, status="active"):
    return [{"booking_id": i, **b} for i, b in state["bookings"].items() if b["status"] == status]


@tool("Get the status, date and departure time of a flight.",
      flight_number={"type": "string", "pattern": r"^[A-Za-z]{2}\d{1,4}$", "description": "E.g. LH204."})
def get_flight_status(state, flight_number):
    flight = _flight(state, flight_number)
    return {"flight_number": flight_number.upper(), "status": flight["status"], "date": flight["date"],
            "departure": flight["departure"], "origin": flight["origin"], "destination": flight["destination"]}


@tool("Add checked bags to a flight booking.",
      booking_id={"type": "string", "pattern": r"^[A-Za-z]{2}\d+$", "description": "E.g. BK1001."},
      bags={"type": "integer", "minimum": 1, "maximum": 3, "description": "Number of bags to add."},
      weight_kg={"type": "number", "exclusiveMinimum": 0, "maximum": 32, "description": "Weight per bag, in kg."})
def add_baggage(state, booking_id, bags, weight_kg):
    booking = _booking(state, booking_id)
    if booking["type"] != "flight":
        raise ValueError(f"booking {booking_id} is not a flight")
    if booking["bags"] + bags > 3 * len(booking["passengers"]):
        raise ValueError("at most 3 bags per passenger")
    booking["bags"] += bags
    return {"status": "added", "booking_id": booking_id.upper(), "bags": booking["bags"], "fee_usd": 45 * bags}


TOOLS = (search_flights, book_flight, book_hotel, cancel_booking, list_bookings, get_flight_status, add_baggage)

TEMPLATES: dict[str, list[str]] = {
    "search_flights": [
        "Find {cabin} flights from {origin} to {destination} on {date}.",
        "Are there {cabin} seats from {origin} to {destination} on {date}?",
        "Search {origin} to {destination} flights for {date}, {cabin} class.",
    ],
    "book_flight": [
        "Book flight {flight_number} in {cabin} for {passengers}.",
        "Reserve {cabin} seats on {flight_number} for {passengers}.",
        "Get {passengers} on flight {flight_number}, {cabin} cabin.",
    ],
    "book_hotel": [
        "Book a {room} room at {hotel} from {check_in} for {nights} nights, {guests[adults]} adults and "
        "{guests[children]} kids.",
        "Reserve {hotel}, {room} room, {nights} nights from {check_in}: {guests[adults]} adults, "
        "{guests[children]} children.",
    ],
    "cancel_booking": [
        "Cancel booking {booking_id}.",
        "Please cancel my reservation {booking_id}.",
        "I no longer need booking {booking_id}, cancel it.",
    ],
    "list_bookings": [
        "Show my {status} bookings.",
        "List all {status} reservations.",
        "Which of my bookings are {status}?",
    ],
    "get_flight_status": [
        "What's the status of flight {flight_number}?",
        "Is {flight_number} on time?",
        "When does flight {flight_number} leave?",
    ],
    "add_baggage": [
        "Add {bags} checked bags of {weight_kg} kg each to booking {booking_id}.",
        "Put {bags} bags, {weight_kg} kg apiece, on {booking_id}.",
        "For reservation {booking_id}, I need {bags} extra bags weighing {weight_kg} kg each.",
    ],
}

IRRELEVANT_QUERIES = [
    "What's the square root of 144?",
    "Write a limerick about a cat.",
    "How do I remove a red wine stain?",
    "Who painted the Mona Lisa?",
    "Give me three tips for better sleep.",
    "What does the word 'ephemeral' mean?",
]


def _date(rng: random.Random) -> str:
    return f"2025-{rng.choice(['07', '08'])}-{rng.randint(1, 31):02d}"


def initial_state(rng: random.Random, split: str = "train") -> dict[str, Any]:
    flights = {}
    for number in _FLIGHTS[split]:
        origin, destination = rng.sample(_CITIES[split], 2)
        flights[number] = {"origin": origin, "destination": destination, "date": _date(rng),
                           "departure": f"{rng.randint(6, 22):02d}:{rng.choice(['05', '20', '35', '50'])}",
                           "seats_left": rng.choice([0, 1, 3, 6, 9, 12, 20]), "base_price": rng.randint(60, 600),
                           "status": rng.choice(["on time"] * 6 + ["delayed", "cancelled"])}
    hotels = {name: {"city": rng.choice(_CITIES[split]), "rooms_left": rng.choice([0, 1, 2, 5, 8]),
                     "price_per_night": rng.randint(50, 400)} for name in _HOTELS[split]}
    bookings = {}
    for booking_id in _BOOKINGS[split]:
        bookings[booking_id] = {"status": rng.choice(["active"] * 5 + ["cancelled"]), "type": "flight",
                                "flight_number": rng.choice(_FLIGHTS[split]), "cabin": rng.choice(CABINS),
                                "passengers": rng.sample(_TRAVELLERS[split], rng.randint(1, 3)), "bags": 0}
    return {"flights": flights, "hotels": hotels, "bookings": bookings}


def sample_arguments(tool_name: str, rng: random.Random, split: str) -> dict[str, Any]:
    """Random arguments for ``tool_name``; string values come from the ``split``'s own pool."""
    if tool_name == "search_flights":
        origin, destination = rng.sample(_CITIES[split], 2)
        return {"origin": origin, "destination": destination, "date": _date(rng), "cabin": rng.choice(CABINS)}
    if tool_name == "book_flight":
        return {"flight_number": rng.choice(_FLIGHTS[split]),
                "passengers": rng.sample(_TRAVELLERS[split], rng.randint(1, 3)), "cabin": rng.choice(CABINS)}
    if tool_name == "book_hotel":
        return {"hotel": rng.choice(_HOTELS[split]), "check_in": _date(rng), "nights": rng.randint(2, 14),
                "room": rng.choice(ROOMS), "guests": {"adults": rng.randint(1, 4), "children": rng.randint(0, 3)}}
    if tool_name == "cancel_booking":
        return {"booking_id": rng.choice(_BOOKINGS[split])}
    if tool_name == "list_bookings":
        return {"status": rng.choice(BOOKING_STATUSES)}
    if tool_name == "get_flight_status":
        return {"flight_number": rng.choice(_FLIGHTS[split])}
    if tool_name == "add_baggage":
        return {"booking_id": rng.choice(_BOOKINGS[split]), "bags": rng.randint(1, 3),
                "weight_kg": rng.choice([8, 10, 15, 20, 23, 23, 32, 12.5, 18.5])}
    raise KeyError(tool_name)


def _same_route_search(rng: random.Random, state: dict[str, Any], split: str) -> MultiStep:
    number, cabin = rng.choice(sorted(state["flights"])), rng.choice(CABINS)
    query = rng.choice([f"Find {cabin} flights on the same route and day as flight {number}.",
                        f"Flight {number} does not suit me: search {cabin} flights for its route on its date.",
                        f"Which {cabin} flights fly where {number} flies, on the same day?"])
    return MultiStep(query, Call("get_flight_status", {"flight_number": number}),
                     lambda status: Call("search_flights", {"origin": status["origin"],
                                                            "destination": status["destination"],
                                                            "date": status["date"], "cabin": cabin}),
                     derived=("origin", "destination", "date"))


def _book_cheapest(rng: random.Random, state: dict[str, Any], split: str) -> MultiStep:
    flight = state["flights"][rng.choice(sorted(state["flights"]))]
    passengers, cabin = rng.sample(_TRAVELLERS[split], rng.randint(1, 2)), rng.choice(CABINS)
    who = " and ".join(passengers)
    route = f"from {flight['origin']} to {flight['destination']} on {flight['date']}"
    query = rng.choice([f"Book the cheapest {cabin} flight {route} for {who}.",
                        f"Search {cabin} flights {route} and put {who} on the cheapest one."])

    def cheapest(results: list[dict[str, Any]]) -> Call:
        prices = sorted(results, key=lambda r: r["price_usd"])
        if not prices or (len(prices) > 1 and prices[0]["price_usd"] == prices[1]["price_usd"]):
            raise LookupError("no single cheapest flight")
        return Call("book_flight", {"flight_number": prices[0]["flight_number"], "passengers": passengers,
                                    "cabin": cabin})

    search = {"origin": flight["origin"], "destination": flight["destination"], "date": flight["date"], "cabin": cabin}
    return MultiStep(query, Call("search_flights", search), cheapest, derived=("flight_number",))


#: Requests whose second call needs the first call's result (see `envs.domains.multi_step`).
MULTI_STEP = [_same_route_search, _book_cheapest]
