"""Calendar: events on dates and times, attendees, reminders and free slots.

The world is one calendar in June 2025: every event title of the split's pool is booked once, on a random day.
Events are found by title. Two events on the same day may not overlap; a request that would make them
overlap is refused. Dates are ``YYYY-MM-DD`` strings, times ``HH:MM`` (24-hour), durations in minutes.
"""

from __future__ import annotations

import datetime
import random
from typing import Any

from envs.domains.multi_step import MultiStep
from fcgym import Call, tool

NAME = "calendar"
CHANNELS = ["email", "sms", "popup"]
DATE = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$", "description": "Date as YYYY-MM-DD."}
TIME = {"type": "string", "pattern": r"^([01]\d|2[0-3]):[0-5]\d$", "description": "Time as HH:MM (24-hour)."}
_EVENTS = {  # titles booked in the world
    "train": ["Budget review", "Team standup", "Dentist appointment", "Project kickoff", "Quarterly planning",
              "Yoga session", "Code review", "Parent meeting", "Book club", "Car service"],
    "test": ["Design sprint", "Board meeting", "Tax consultation", "Piano lesson", "Hiring panel"],
}
_NEW_EVENTS = {  # titles for new events
    "train": ["Product demo", "Coffee chat", "Marketing sync", "Doctor visit", "Gym class", "Offsite planning",
              "Sales call", "Sprint retro", "Lunch with investors", "Haircut"],
    "test": ["Vendor call", "Strategy workshop", "Team lunch", "Security training", "Wine tasting"],
}
_PEOPLE = {
    "train": ["Alice", "Bruno", "Chen", "Dana", "Emeka", "Farah", "Goran", "Hana", "Ivan", "Jonas", "Keiko", "Lena"],
    "test": ["Wendy", "Xavier", "Yara", "Zoltan", "Amara", "Bastian", "Celine"],
}
_PLACES = {
    "train": ["Room 4", "the main office", "Cafe Luna", "the gym", "Conference Hall A"],
    "test": ["Room 12", "the library", "Studio B"],
}


def _day(date: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(date)
    except ValueError:
        raise ValueError(f"{date} is not a calendar date") from None


def _minutes(time: str) -> int:
    hours, minutes = time.split(":")
    return int(hours) * 60 + int(minutes)


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _event(state: dict[str, Any], title: str) -> dict[str, Any]:
    if title not in state["events"]:
        raise ValueError(f"no event called {title!r}")
    return state["events"][title]


def _check_free(state: dict[str, Any], date: str, start: str, duration: int, ignore: str = "") -> None:
    _day(date)
    begin, end = _minutes(start), _minutes(start) + duration
    if end > 24 * 60:
        raise ValueError("the event would run past midnight")
    for title, event in state["events"].items():
        other = _minutes(event["start_time"])
        if title != ignore and event["date"] == date and begin < other + event["duration_minutes"] and other < end:
            raise ValueError(f"it overlaps {title!r} ({event['start_time']} on {date})")


@tool("Create a calendar event. Fails if it overlaps another event that day.",
      title={"type": "string", "minLength": 1},
      date=DATE,
      start_time=TIME,
      duration_minutes={"type": "integer", "minimum": 5, "maximum": 720, "default": 60,
                        "description": "Length in minutes."},
      attendees={"type": "array", "items": {"type": "string", "minLength": 1}, "uniqueItems": True, "default": [],
                 "description": "Names of the people to invite."},
      location={"type": "string", "default": "", "description": "Where it takes place."})
def create_event(state, title, date, start_time, duration_minutes=60, attendees=(), location=""):
    if title in state["events"]:
        raise ValueError(f"there is already an event called {title!r}")
    _check_free(state, date, start_time, duration_minutes)
    state["events"][title] = {"date": date, "start_time": start_time, "duration_minutes": duration_minutes,
                              "attendees": list(attendees), "location": location}
    return {"status": "created", "title": title, "date": date, "start_time": start_time,
            "end_time": _clock(_minutes(start_time) + duration_minutes)}


@tool("List the events on one day, earliest first.", date=DATE)
def list_events(state, date):
    _day(date)
    events = [{"title": t, **e} for t, e in state["events"].items() if e["date"] == date]
    return sorted(events, key=lambda e: e["start_time"])


@tool("Cancel (delete) an event by its title.", title={"type": "string", "minLength": 1})
def cancel_event(state, title):
    _event(state, title)
    del state["events"][title]
    state["reminders"] = [r for r in state["reminders"] if r["title"] != title]
    return {"status": "cancelled", "title": title}


@tool("Move an event to a new date and start time; its length stays the same.",
      title={"type": "string", "minLength": 1}, new_date=DATE, new_start_time=TIME)
def reschedule_event(state, title, new_date, new_start_time):
    event = _event(state, title)
    _check_free(state, new_date, new_start_time, event["duration_minutes"], ignore=title)
    event.update(date=new_date, start_time=new_start_time)
    return {"status": "rescheduled", "title": title, "date": new_date, "start_time": new_start_time}


@tool("Set a reminder for an event, some minutes before it starts.",
      title={"type": "string", "minLength": 1},
      minutes_before={"type": "integer", "minimum": 1, "maximum": 10080, "description": "Minutes before the start."},
      channel={"type": "string", "enum": CHANNELS, "description": "How to deliver the reminder."})
def add_reminder(state, title, minutes_before, channel):
    _event(state, title)
    state["reminders"].append({"title": title, "minutes_before": minutes_before, "channel": channel})
    return {"status": "set", "title": title, "minutes_before": minutes_before, "channel": channel}


@tool("Find free start times for a meeting of a given length on a day, inside a time window.",
      date=DATE,
      duration_minutes={"type": "integer", "minimum": 5, "maximum": 720, "description": "Length in minutes."},
      window={"type": "object", "description": "The part of the day to search.",
              "properties": {"start": TIME, "end": TIME}, "required": ["start", "end"], "additionalProperties": False})
def find_free_slots(state, date, duration_minutes, window):
    _day(date)
    begin, end = _minutes(window["start"]), _minutes(window["end"])
    if end <= begin:
        raise ValueError("the window must end after it starts")
    busy = [(_minutes(e["start_time"]), _minutes(e["start_time"]) + e["duration_minutes"])
            for e in state["events"].values() if e["date"] == date]
    slots = [_clock(s) for s in range(begin, end - duration_minutes + 1, 30)
             if all(s + duration_minutes <= first or last <= s for first, last in busy)]
    return {"date": date, "free_starts": slots[:8]}


@tool("Invite more people to an existing event.",
      title={"type": "string", "minLength": 1},
      attendees={"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1, "uniqueItems": True,
                 "description": "Names of the people to invite."})
def invite_attendees(state, title, attendees):
    event = _event(state, title)
    new = [name for name in attendees if name not in event["attendees"]]
    if not new:
        raise ValueError(f"everyone listed is already invited to {title!r}")
    event["attendees"] += new
    return {"status": "invited", "title": title, "attendees": event["attendees"]}


TOOLS = (create_event, list_events, cancel_event, reschedule_event, add_reminder, find_free_slots, invite_attendees)

TEMPLATES: dict[str, list[str]] = {
    "create_event": [
        "Add '{title}' to my calendar on {date} at {start_time} for {duration_minutes} minutes.",
        "Schedule {title} on {date}, {start_time}, lasting {duration_minutes} minutes.",
        "Book {title} on {date} at {start_time} ({duration_minutes} min) with {attendees}.",
        "Schedule {title} with {attendees} on {date} at {start_time} for {duration_minutes} minutes.",
        "Put {title} at {location} on {date} at {start_time}, {duration_minutes} minutes.",
        "Create '{title}' on {date} {start_time}, {duration_minutes} min, at {location}, inviting {attendees}.",
    ],
    "list_events": [
        "What's on my calendar on {date}?",
        "List my events for {date}.",
        "Show my schedule for {date}.",
    ],
    "cancel_event": [
        "Cancel the {title}.",
        "Delete '{title}' from my calendar.",
        "Please call off {title}.",
    ],
    "reschedule_event": [
        "Move {title} to {new_date} at {new_start_time}.",
        "Reschedule '{title}' to {new_start_time} on {new_date}.",
        "Can you push {title} to {new_date}, starting {new_start_time}?",
    ],
    "add_reminder": [
        "Remind me {minutes_before} minutes before {title} by {channel}.",
        "Set a {channel} reminder {minutes_before} minutes ahead of '{title}'.",
        "I want a {channel} alert {minutes_before} minutes before the {title}.",
    ],
    "find_free_slots": [
        "Find a free {duration_minutes}-minute slot on {date} between {window[start]} and {window[end]}.",
        "When am I free for {duration_minutes} minutes on {date}, from {window[start]} to {window[end]}?",
        "Look for {duration_minutes} open minutes on {date} between {window[start]} and {window[end]}.",
    ],
    "invite_attendees": [
        "Invite {attendees} to {title}.",
        "Add {attendees} to the '{title}' event.",
        "Please send {title} invites to {attendees}.",
    ],
}

IRRELEVANT_QUERIES = [
    "Write a haiku about autumn leaves.",
    "How tall is Mount Everest?",
    "What's a good recipe for pancakes?",
    "Explain how photosynthesis works.",
    "Suggest a name for my new puppy.",
    "Which planet has the most moons?",
]


def _date(rng: random.Random) -> str:
    return f"2025-06-{rng.randint(1, 30):02d}"


def _time(rng: random.Random, first: int = 7, last: int = 19) -> str:
    return f"{rng.randint(first, last):02d}:{rng.choice(['00', '15', '30', '45'])}"


def initial_state(rng: random.Random, split: str = "train") -> dict[str, Any]:
    events = {}
    for title in _EVENTS[split]:
        events[title] = {"date": _date(rng), "start_time": _time(rng, 8, 17),
                         "duration_minutes": rng.choice([30, 45, 60, 90]),
                         "attendees": rng.sample(_PEOPLE[split], rng.randint(0, 2)),
                         "location": rng.choice(_PLACES[split] + [""])}
    return {"events": events, "reminders": []}


def sample_arguments(tool_name: str, rng: random.Random, split: str) -> dict[str, Any]:
    """Random arguments for ``tool_name``; string values come from the ``split``'s own pool."""
    if tool_name == "create_event":
        arguments = {"title": rng.choice(_NEW_EVENTS[split]), "date": _date(rng), "start_time": _time(rng),
                     "duration_minutes": rng.choice([15, 30, 45, 60, 90, 120])}
        if rng.random() < 0.4:
            arguments["attendees"] = rng.sample(_PEOPLE[split], rng.randint(1, 3))
        if rng.random() < 0.4:
            arguments["location"] = rng.choice(_PLACES[split])
        return arguments
    if tool_name == "list_events":
        return {"date": _date(rng)}
    if tool_name == "cancel_event":
        return {"title": rng.choice(_EVENTS[split])}
    if tool_name == "reschedule_event":
        return {"title": rng.choice(_EVENTS[split]), "new_date": _date(rng), "new_start_time": _time(rng)}
    if tool_name == "add_reminder":
        return {"title": rng.choice(_EVENTS[split]), "minutes_before": rng.choice([5, 10, 15, 30, 45, 60, 120, 1440]),
                "channel": rng.choice(CHANNELS)}
    if tool_name == "find_free_slots":
        start = rng.randint(7, 13)
        return {"date": _date(rng), "duration_minutes": rng.choice([30, 45, 60, 90]),
                "window": {"start": f"{start:02d}:00", "end": f"{start + rng.randint(3, 6):02d}:00"}}
    if tool_name == "invite_attendees":
        return {"title": rng.choice(_EVENTS[split]), "attendees": rng.sample(_PEOPLE[split], rng.randint(1, 3))}
    raise KeyError(tool_name)


def _book_first_free_slot(rng: random.Random, state: dict[str, Any], split: str) -> MultiStep:
    busy = state["events"][rng.choice(sorted(state["events"]))]  # a window that starts busy: the search is needed
    start, minutes, title = int(busy["start_time"][:2]), rng.choice([30, 45, 60, 90]), rng.choice(_NEW_EVENTS[split])
    date, window = busy["date"], {"start": f"{start:02d}:00", "end": f"{start + rng.randint(3, 6):02d}:00"}
    search = {"date": date, "duration_minutes": minutes, "window": window}
    query = rng.choice([
        f"Put \"{title}\" ({minutes} minutes) in the first free slot on {date} between {window['start']} and "
        f"{window['end']}.",
        f"Find when I am free for {minutes} minutes on {date} from {window['start']} to {window['end']} and book "
        f"\"{title}\" at the earliest time.",
    ])

    def earliest(free: dict[str, Any]) -> Call:
        if not free["free_starts"] or free["free_starts"][0] == window["start"]:
            raise LookupError(f"no free {minutes}-minute slot after the window's start")
        return Call("create_event", {"title": title, "date": date, "start_time": free["free_starts"][0],
                                     "duration_minutes": minutes})

    return MultiStep(query, Call("find_free_slots", search), earliest, derived=("start_time",))


def _move_first_event(rng: random.Random, state: dict[str, Any], split: str) -> MultiStep:
    date = state["events"][rng.choice(sorted(state["events"]))]["date"]
    new_date, new_time = _date(rng), _time(rng, 8, 17)
    query = rng.choice([f"Move my first event on {date} to {new_date} at {new_time}.",
                        f"Whatever comes first in my calendar on {date}, reschedule it to {new_date}, {new_time}."])
    return MultiStep(query, Call("list_events", {"date": date}),
                     lambda events: Call("reschedule_event", {"title": events[0]["title"], "new_date": new_date,
                                                              "new_start_time": new_time}),
                     derived=("title",))


#: Requests whose second call needs the first call's result (see `envs.domains.multi_step`).
MULTI_STEP = [_book_first_free_slot, _move_first_event]
