"""Units and weather: weather lookups in a static world of cities, alert subscriptions, unit conversion.

The world holds current weather, a 7-day forecast and air quality for every city of the split's pool (random,
fixed for the episode), and the user's weather alert subscriptions. Temperatures are stored in Celsius and
reported in the unit asked for. Unknown cities, conversions between different kinds of quantity, temperatures
below absolute zero and duplicate subscriptions are refused.
"""

from __future__ import annotations

import random
from typing import Any

from envs.domains.multi_step import MultiStep
from fcgym import Call, tool

NAME = "units_weather"
TEMPERATURE_UNITS = ["celsius", "fahrenheit"]
SCALES = ["celsius", "fahrenheit", "kelvin"]
ALERT_TYPES = ["rain", "snow", "storm", "heat", "frost"]
#: unit -> (kind of quantity, size in that kind's base unit: meters, kilograms, liters)
UNITS: dict[str, tuple[str, float]] = {
    "meters": ("length", 1.0), "kilometers": ("length", 1000.0), "centimeters": ("length", 0.01),
    "miles": ("length", 1609.344), "feet": ("length", 0.3048), "inches": ("length", 0.0254),
    "kilograms": ("mass", 1.0), "grams": ("mass", 0.001), "pounds": ("mass", 0.45359237),
    "ounces": ("mass", 0.028349523125),
    "liters": ("volume", 1.0), "milliliters": ("volume", 0.001), "gallons": ("volume", 3.785411784),
}
TIME = {"type": "string", "pattern": r"^([01]\d|2[0-3]):[0-5]\d$", "description": "Time as HH:MM (24-hour)."}
_CITIES = {
    "train": ["Lisbon", "Oslo", "Cairo", "Lima", "Seoul", "Toronto", "Nairobi", "Denver", "Hanoi", "Perth"],
    "test": ["Reykjavik", "Mumbai", "Santiago", "Zurich", "Osaka"],
}
_CONDITIONS = ["sunny", "cloudy", "showers", "windy", "foggy", "clear"]


def _city(state: dict[str, Any], city: str) -> dict[str, Any]:
    match = next((name for name in state["weather"] if name.lower() == city.lower()), None)
    if match is None:
        raise ValueError(f"no weather data for {city!r}")
    return state["weather"][match]


def _temperature(celsius: float, unit: str) -> float:
    return round(celsius if unit == "celsius" else celsius * 9 / 5 + 32, 1)


@tool("Current weather in a city.",
      city={"type": "string", "minLength": 1},
      unit={"type": "string", "enum": TEMPERATURE_UNITS, "default": "celsius", "description": "Temperature unit."})
def get_current_weather(state, city, unit="celsius"):
    weather = _city(state, city)
    return {"city": city, "temperature": _temperature(weather["temp_c"], unit), "unit": unit,
            "condition": weather["condition"], "humidity_percent": weather["humidity"], "wind_kph": weather["wind_kph"]}


@tool("Daily forecast for a city, starting tomorrow.",
      city={"type": "string", "minLength": 1},
      days={"type": "integer", "minimum": 1, "maximum": 7, "default": 3, "description": "How many days."},
      unit={"type": "string", "enum": TEMPERATURE_UNITS, "default": "celsius", "description": "Temperature unit."})
def get_forecast(state, city, days=3, unit="celsius"):
    return [{"day": d["day"], "high": _temperature(d["high_c"], unit), "low": _temperature(d["low_c"], unit),
             "condition": d["condition"], "unit": unit} for d in _city(state, city)["forecast"][:days]]


@tool("Air quality index (0-500, lower is cleaner) of a city.", city={"type": "string", "minLength": 1})
def get_air_quality(state, city):
    aqi = _city(state, city)["aqi"]
    category = "good" if aqi <= 50 else "moderate" if aqi <= 100 else "unhealthy"
    return {"city": city, "aqi": aqi, "category": category}


@tool("Rank several cities by their current temperature, warmest first.",
      cities={"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 2, "maxItems": 5,
              "uniqueItems": True},
      unit={"type": "string", "enum": TEMPERATURE_UNITS, "default": "celsius", "description": "Temperature unit."})
def compare_temperatures(state, cities, unit="celsius"):
    ranked = sorted(cities, key=lambda c: -_city(state, c)["temp_c"])
    return [{"city": c, "temperature": _temperature(_city(state, c)["temp_c"], unit), "unit": unit} for c in ranked]


@tool("Subscribe to a daily weather alert for a city.",
      city={"type": "string", "minLength": 1},
      alert_type={"type": "string", "enum": ALERT_TYPES},
      notify_at={**TIME, "default": "07:00", "description": "When to send the alert, HH:MM."})
def subscribe_weather_alert(state, city, alert_type, notify_at="07:00"):
    _city(state, city)
    if any(a["city"].lower() == city.lower() and a["alert_type"] == alert_type for a in state["weather_alerts"]):
        raise ValueError(f"already subscribed to {alert_type} alerts for {city}")
    state["weather_alerts"].append({"city": city, "alert_type": alert_type, "notify_at": notify_at})
    return {"status": "subscribed", "city": city, "alert_type": alert_type, "notify_at": notify_at}


@tool("Convert a length, mass or volume between units.",
      value={"type": "number"},
      from_unit={"type": "string", "enum": list(UNITS)},
      to_unit={"type": "string", "enum": list(UNITS)})
def convert_units(state, value, from_unit, to_unit):
    (kind_from, size_from), (kind_to, size_to) = UNITS[from_unit], UNITS[to_unit]
    if kind_from != kind_to:
        raise ValueError(f"cannot convert {kind_from} ({from_unit}) to {kind_to} ({to_unit})")
    return {"value": round(value * size_from / size_to, 4), "unit": to_unit}


@tool("Convert a temperature between Celsius, Fahrenheit and Kelvin.",
      value={"type": "number"},
      from_scale={"type": "string", "enum": SCALES},
      to_scale={"type": "string", "enum": SCALES})
def convert_temperature(state, value, from_scale, to_scale):
    kelvin = {"celsius": value + 273.15, "fahrenheit": (value - 32) * 5 / 9 + 273.15, "kelvin": value}[from_scale]
    if kelvin < 0:
        raise ValueError(f"{value} {from_scale} is below absolute zero")
    result = {"celsius": kelvin - 273.15, "fahrenheit": (kelvin - 273.15) * 9 / 5 + 32, "kelvin": kelvin}[to_scale]
    return {"value": round(result, 2), "scale": to_scale}


TOOLS = (get_current_weather, get_forecast, get_air_quality, compare_temperatures, subscribe_weather_alert,
         convert_units, convert_temperature)

TEMPLATES: dict[str, list[str]] = {
    "get_current_weather": [
        "What's the weather in {city} right now, in {unit}?",
        "Current conditions in {city}, temperature in {unit} please.",
        "How warm is it in {city} at the moment? Give me {unit}.",
    ],
    "get_forecast": [
        "Give me the {days}-day forecast for {city} in {unit}.",
        "What will the weather be in {city} over the next {days} days? Use {unit}.",
        "Forecast for {city}, {days} days, temperatures in {unit}.",
    ],
    "get_air_quality": [
        "How is the air quality in {city}?",
        "Is the air clean in {city} today?",
        "What's the AQI in {city}?",
    ],
    "compare_temperatures": [
        "Which is warmest right now: {cities}? Answer in {unit}.",
        "Rank {cities} by current temperature in {unit}.",
        "Compare the temperatures of {cities} in {unit}.",
    ],
    "subscribe_weather_alert": [
        "Alert me about {alert_type} in {city} every day at {notify_at}.",
        "Subscribe me to {alert_type} warnings for {city}, sent at {notify_at}.",
        "Send me a {alert_type} alert for {city} at {notify_at} daily.",
    ],
    "convert_units": [
        "Convert {value} {from_unit} to {to_unit}.",
        "How many {to_unit} are {value} {from_unit}?",
        "What is {value} {from_unit} in {to_unit}?",
    ],
    "convert_temperature": [
        "Convert {value} degrees {from_scale} to {to_scale}.",
        "What is {value} {from_scale} in {to_scale}?",
        "{value} degrees {from_scale} is how much in {to_scale}?",
    ],
}

IRRELEVANT_QUERIES = [
    "Book me a table for two at an Italian restaurant.",
    "Who wrote Pride and Prejudice?",
    "Send a birthday message to my sister.",
    "What's the plot of Hamlet in two sentences?",
    "Recommend a podcast about history.",
    "How do I reset my router?",
]


def initial_state(rng: random.Random, split: str = "train") -> dict[str, Any]:
    weather = {}
    for city in _CITIES[split]:
        base = rng.randint(-10, 35)
        weather[city] = {
            "temp_c": base, "condition": rng.choice(_CONDITIONS), "humidity": rng.randint(20, 95),
            "wind_kph": rng.randint(0, 60), "aqi": rng.randint(5, 180),
            "forecast": [{"day": d, "high_c": base + rng.randint(-3, 5), "low_c": base - rng.randint(3, 10),
                          "condition": rng.choice(_CONDITIONS)} for d in range(1, 8)],
        }
    return {"weather": weather, "weather_alerts": []}


def _number(rng: random.Random) -> float | int:
    return rng.randint(1, 500) if rng.random() < 0.7 else round(rng.uniform(0.5, 200), 1)


def sample_arguments(tool_name: str, rng: random.Random, split: str) -> dict[str, Any]:
    """Random arguments for ``tool_name``; string values come from the ``split``'s own pool."""
    if tool_name == "get_current_weather":
        return {"city": rng.choice(_CITIES[split]), "unit": rng.choice(TEMPERATURE_UNITS)}
    if tool_name == "get_forecast":
        return {"city": rng.choice(_CITIES[split]), "days": rng.randint(1, 7), "unit": rng.choice(TEMPERATURE_UNITS)}
    if tool_name == "get_air_quality":
        return {"city": rng.choice(_CITIES[split])}
    if tool_name == "compare_temperatures":
        return {"cities": rng.sample(_CITIES[split], rng.randint(2, 4)), "unit": rng.choice(TEMPERATURE_UNITS)}
    if tool_name == "subscribe_weather_alert":
        return {"city": rng.choice(_CITIES[split]), "alert_type": rng.choice(ALERT_TYPES),
                "notify_at": f"{rng.randint(5, 21):02d}:{rng.choice(['00', '30'])}"}
    if tool_name == "convert_units":
        kind = rng.choice(["length", "mass", "volume"])
        source, target = rng.sample([u for u, (k, _) in UNITS.items() if k == kind], 2)
        return {"value": _number(rng), "from_unit": source, "to_unit": target}
    if tool_name == "convert_temperature":
        source, target = rng.sample(SCALES, 2)
        low = {"celsius": -40, "fahrenheit": -40, "kelvin": 0}[source]
        value = rng.randint(low, 120) if rng.random() < 0.7 else round(rng.uniform(max(low, 0), 120), 1)
        return {"value": value, "from_scale": source, "to_scale": target}
    raise KeyError(tool_name)


def _in_kelvin(reading: dict[str, Any], key: str) -> Call:
    return Call("convert_temperature", {"value": reading[key], "from_scale": reading["unit"], "to_scale": "kelvin"})


def _temperature_in_kelvin(rng: random.Random, state: dict[str, Any], split: str) -> MultiStep:
    city = rng.choice(_CITIES[split])
    query = rng.choice([f"How warm is it in {city} right now, in kelvin?",
                        f"Get the current temperature in {city} and convert it to kelvin."])
    return MultiStep(query, Call("get_current_weather", {"city": city}),
                     lambda weather: _in_kelvin(weather, "temperature"), derived=("value", "from_scale"))


def _tomorrows_high_in_kelvin(rng: random.Random, state: dict[str, Any], split: str) -> MultiStep:
    city = rng.choice(_CITIES[split])
    query = rng.choice([f"Get a 1-day forecast for {city} and tell me tomorrow's high in kelvin.",
                        f"What will tomorrow's high in {city} be in kelvin? A 1 day forecast is enough."])
    return MultiStep(query, Call("get_forecast", {"city": city, "days": 1}),
                     lambda forecast: _in_kelvin(forecast[0], "high"), derived=("value", "from_scale"))


#: Requests whose second call needs the first call's result (see `envs.domains.multi_step`).
MULTI_STEP = [_temperature_in_kelvin, _tomorrows_high_in_kelvin]
