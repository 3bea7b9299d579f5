"""Rule-based players: an adversary that composes answer-preserving perturbations, and a keyword FC agent.

Perturbation operators are functions ``(query, task, rng) -> str``: they rewrite a query so that it still asks
for exactly the task's target calls (the task tells them which spans are argument values, which must not be
touched, and which values may be restated indirectly). An operator that does not apply returns the query
unchanged. `OPERATORS` names them all:

================== ======================================================================================
paraphrase         template-free rewording: polite wrappers ("I'd like you to ..."), clause fronting
verb_synonym       a less common synonym for the request's verb ("shift" for transfer)
indirect_request   a polite, indirect lead-in ("If it's not too much trouble, ...")
distractor         an unrelated sentence before or after the request
irrelevant_number  an unrelated sentence with a number that is not an argument
spelled_out_number a numeric value in words ("two hundred and fifty")
scaled_unit        a value in a larger unit ("1.5 thousand", 120 minutes as "2 hours", 14 nights as "two weeks")
written_date       a YYYY-MM-DD date with the month's name ("June 5th, 2025")
twelve_hour_clock  an HH:MM time on the 12-hour clock ("3:30 pm", "noon")
reorder_requests   the clauses of a parallel request in the other order
typo               two letters swapped inside one longer word that is not a value
mixed_language     a Spanish, French or German greeting and thanks around the request
long_context       a long preamble of unrelated chat before the request
near_miss_tool     names a similar but wrong tool as not wanted ("I don't mean send_payment")
================== ======================================================================================

Indirect values use only forms that `fcgym.validity.derived_text` reads back exactly; relative dates
("tomorrow") are left out on purpose: a task has no reference date, so neither the gate nor the FC model could
tell which day is meant. `ScriptedAdversary` applies one to three operators and keeps each result only if the
validity gate accepts it. ``python -m agents.scripted`` prints every operator's application and validity rates.
`detected_operators` tells which operators' traces a rewrite by any adversary shows (a learned one included).
"""

from __future__ import annotations

import argparse
import datetime
import json
import random
import re
from typing import Any, Callable

from envs.tool_duel import task_from_query_prompt
from fcgym import Task
from fcgym.validity import (
    MAX_QUERY_CHARS,
    PRONOUN_ONE_AFTER,
    PRONOUN_ONE_BEFORE,
    check_query,
    indirect_forms,
    indirect_spans,
    leaves,
)

Operator = Callable[[str, Task, random.Random], str]
Span = tuple[int, int]

_DISTRACTORS = [
    "I just got back from a long walk with my dog.", "My sister keeps asking about her holiday photos.",
    "The coffee machine at work is broken again.", "I'm typing this on my phone on the train.",
    "Sorry for the late message, it has been a busy week.", "My neighbour is painting his fence again.",
    "I still can't believe how good that concert was.", "The kids are finally asleep.",
]
_IRRELEVANT_NUMBERS = [
    "I have 3 cats.", "My flat is on floor 7.", "It's been 12 days since my last day off.",
    "I'm at gate 42 right now.", "My phone battery is at 15 percent.", "I've had 4 coffees today.",
    "Our team has 9 people now.", "I walked 8000 steps this morning.",
]
_VERB_SYNONYMS = {  # word -> synonym; a pattern after "|" is a lookahead that must NOT follow (e.g. "check out")
    "transfer": "shift", "move": "shift", "send": "dispatch", "pay|by|with": "reimburse", "check|out": "peek at",
    "convert": "change", "freeze": "lock", "block": "disable", "set": "make", "list": "give me",
    "show": "display", "limit": "cap", "put": "place", "book": "reserve", "cancel": "scrap", "delete": "erase",
    "remove": "drop", "find": "look up", "search": "scan", "create": "set up", "copy": "duplicate",
    "duplicate": "clone", "write": "jot", "save": "store", "compare": "contrast", "open": "pull up",
    "schedule": "pencil in", "remind": "nudge",
}
_IMPERATIVES = {
    "transfer", "move", "put", "send", "pay", "list", "show", "convert", "freeze", "set", "limit", "check", "add",
    "schedule", "book", "create", "cancel", "delete", "reschedule", "remind", "find", "look", "search", "invite",
    "reserve", "get", "write", "save", "rename", "copy", "make", "duplicate", "remove", "alert", "subscribe",
    "compare", "rank", "give", "open", "place", "take", "forecast", "shift", "dispatch", "reimburse", "peek",
    "change", "lock", "disable", "display", "cap", "scrap", "erase", "drop", "scan", "clone", "jot", "store",
    "contrast", "pull", "pencil", "nudge", "push", "relocate", "tell",
}
_QUESTION_WORDS = {"what", "what's", "how", "which", "when", "where", "who", "is", "are", "has", "any", "can", "do"}
_LANGUAGES = {  # (greetings, thanks, "please") per language; no numbers, no enum values, no negations
    "es": (["Hola, una pregunta rápida:", "Buenas, necesito ayuda con algo:", "Hola, ¿me ayudas?"],
           ["Muchas gracias.", "Gracias de antemano.", "¡Mil gracias!"], "por favor"),
    "fr": (["Bonjour, petite question :", "Salut, j'ai besoin d'aide :", "Bonsoir, vous pouvez m'aider ?"],
           ["Merci beaucoup.", "Merci d'avance.", "Merci, bonne journée !"], "s'il vous plaît"),
    "de": (["Hallo, kurze Frage:", "Guten Tag, ich brauche Hilfe:", "Hallo, kannst du mir helfen?"],
           ["Vielen Dank.", "Danke im Voraus.", "Danke dir!"], "bitte"),
}
_CHAT = [
    "Hi there, hope your day is going well.", "I had the strangest dream last night about a lighthouse.",
    "My brother just moved to a new city and keeps sending me pictures of his balcony.",
    "We finally repainted the hallway, it looks so much brighter now.",
    "I've been trying to learn the guitar, but my fingers hurt after a few minutes.",
    "The bakery around the corner has started making sourdough again.",
    "Our cat has decided that the laundry basket is her new bed.",
    "I watched a documentary about octopuses and now I can't stop thinking about them.",
    "My manager wants everyone to write shorter emails, which I fully support.",
    "It rained all morning, so I stayed in and read a novel.",
    "I keep forgetting to water the plants on the windowsill.",
    "My friend recommended a podcast about the history of maps.",
    "We are planning a small party for my grandmother later this summer.",
    "The neighbours' dog barks every time the mail arrives.",
    "I tried a new recipe with lentils and it turned out surprisingly well.",
    "The traffic this morning was unbelievable.",
    "I'm thinking about taking a pottery class in the autumn.",
    "My laptop has been making a funny noise lately.",
    "Anyway, I always ramble, sorry about that.",
    "My cousin says hello, by the way.",
]
_PREAMBLE_ENDS = ["Anyway, here's what I actually need:", "So, on to my request:", "Right, the actual question:"]
_NUMBER_WORDS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
                 "sixteen seventeen eighteen nineteen").split()
_TENS_WORDS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
_MONTH_NAMES = ("January February March April May June July August September October November December").split()


# ---------------------------------------------------------------------------------------------------------------
# What operators must not touch: the target values as they occur in the query.

def _target_leaves(task: Task) -> list[tuple[str, Any]]:
    """``(parameter name, scalar value)`` for every value of every target call (nested ones under their parent)."""
    return [(param, leaf) for call in task.target_calls() for param, value in call.arguments.items()
            for leaf in leaves(value) if not isinstance(leaf, bool)]


def _token_spans(text: str, form: str) -> list[Span]:
    """Where ``form`` occurs in ``text`` (case-insensitive) as a whole token, as `fcgym.validity` reads tokens; a
    number is not a token inside a date, a time, an id or a longer number ("ORD-1001", "10:00", "12.5")."""
    spans, lower, form = [], text.lower(), form.lower()
    start = lower.find(form)
    while start != -1 and form:
        end = start + len(form)
        before, after = lower[start - 1:start] if start else "", lower[end:end + 2]
        glued_before = before.isalnum() or before in ("_", ".", ",", ":", "-", "/")
        glued_after = (after[:1].isalnum() or after[:1] == "_"
                       or (after[:1] in (".", ",", ":", "-", "/") and after[1:2].isdigit()))
        if not glued_before and not glued_after:
            spans.append((start, end))
        start = lower.find(form, start + 1)
    return spans


def _protected(query: str, task: Task) -> list[Span]:
    """Spans no operator may edit: every occurrence of a target value, values already stated indirectly
    ("two hundred", "3 pm"), and quoted text."""
    spans = [span for _, value in _target_leaves(task) for span in _token_spans(query, str(value))]
    spans += indirect_spans(query)
    spans += [m.span() for m in re.finditer(r"\"[^\"]*\"|(?<!\w)'[^']+'(?!\w)", query)]
    return spans


def _free(span: Span, protected: list[Span]) -> bool:
    return all(span[1] <= a or b <= span[0] for a, b in protected)


def _lower_first(text: str) -> str:
    """Lower-case the first letter unless the first word is "I" or a name (a capital inside the word or a value)."""
    first = text.split(" ", 1)[0]
    if first in ("I", "I'd", "I'm", "I've", "I'll") or not first[:1].isupper() or not first[1:].islower():
        return text
    return text[0].lower() + text[1:]


def _upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def _sentences(query: str) -> list[str]:
    return re.split(r"(?<=[.?!])\s+(?=\S)", query)


def _replace(query: str, span: Span, new: str) -> str:
    return query[:span[0]] + new + query[span[1]:]


# ---------------------------------------------------------------------------------------------------------------
# The operators.

def paraphrase(query: str, task: Task, rng: random.Random) -> str:
    """Reword the request without a template: wrap an imperative ("Could you transfer ...?", "I'd like you to
    ..."), lead a question in ("Quick question: ..."), or front its final prepositional phrase ("On 2025-06-05,
    list my events."). Preserves the answer: only the request's frame changes; every value stays verbatim and
    a fronted phrase is moved whole, so what each value belongs to does not change."""
    sentences = _sentences(query)
    index = next((i for i, s in enumerate(sentences)
                  if re.sub(r"\W", "", s.split(" ", 1)[0].lower()) in _IMPERATIVES | _QUESTION_WORDS | {"please"}),
                 None)
    if index is None:
        return query
    sentence = sentences[index]
    body, end = sentence[:-1], sentence[-1]
    if end not in ".?!":
        body, end = sentence, "."
    offset = len(" ".join(sentences[:index])) + (1 if index else 0)
    protected = [(a - offset, b - offset) for a, b in _protected(query, task)]
    first = re.sub(r"\W", "", body.split(" ", 1)[0].lower())
    options = []
    if end in ".!" and first in _IMPERATIVES | {"please"}:
        core = body.split(" ", 1)[1] if first == "please" and " " in body else body
        core = _lower_first(core) if _free((0, 1), protected) else core
        options += [f"I'd like you to {core}.", f"Could you {core}?", f"Can you please {core}?",
                    f"I need you to {core}.", f"Would you {core}?", f"What I need is for you to {core}."]
        fronted = re.fullmatch(r"(?P<head>.+)\s(?P<tail>(?:on|for|in|by|at|via)\s[^,;:\"'()]+)", body)
        if fronted and len(fronted["tail"].split()) <= 6 and all(  # no value is cut in two
                b <= fronted.start("tail") or a >= fronted.start("tail") for a, b in protected):
            head = _lower_first(fronted["head"]) if _free((0, 1), protected) else fronted["head"]
            options.append(f"{_upper_first(fronted['tail'])}, {head}{end}")
    elif end == "?" and first in _QUESTION_WORDS:
        core = _lower_first(body) if _free((0, 1), protected) else body
        options += [f"Quick question: {core}?", f"I was wondering: {core}?", f"Something I need to know: {core}?"]
    if not options:
        return query
    sentences[index] = rng.choice(options)
    return " ".join(sentences)


def verb_synonym(query: str, task: Task, rng: random.Random) -> str:
    """Replace the request's verbs with less common synonyms ("transfer" -> "shift", "book" -> "reserve").
    Preserves the answer: a synonym names the same action; words inside values and quotes are left alone, and
    phrasal uses that would change meaning ("check out", "pay by card") are skipped."""
    protected = _protected(query, task)
    pieces, cursor = [], 0
    for key, synonym in _VERB_SYNONYMS.items():
        word, _, banned = key.partition("|")
        not_followed = rf"(?!\s+(?:{banned})\b)" if banned else ""
        for match in re.finditer(rf"(?<![\w'-])({word}){not_followed}(?![\w'-])", query, flags=re.IGNORECASE):
            if _free(match.span(), protected):
                written = synonym.capitalize() if match.group(0)[0].isupper() else synonym
                pieces.append((match.start(), match.end(), written))
    out = []
    for start, end, synonym in sorted(pieces):
        if start >= cursor:
            out += [query[cursor:start], synonym]
            cursor = end
    return "".join(out) + query[cursor:]


def indirect_request(query: str, task: Task, rng: random.Random) -> str:
    """Turn the request into a polite, indirect one ("If it's not too much trouble, ..."). Preserves the answer:
    only a lead-in is added."""
    lead = rng.choice(["Would you mind helping me out:", "If it's not too much trouble,", "Hey, quick thing -",
                       "When you get a chance,"])
    return f"{lead} {_lower_first(query)}"


def distractor(query: str, task: Task, rng: random.Random) -> str:
    """Put a sentence that has nothing to do with the request before or after it. Preserves the answer: the
    sentence states no value and no request."""
    sentence = rng.choice(_DISTRACTORS)
    return f"{sentence} {query}" if rng.random() < 0.6 else f"{query} {sentence}"


def irrelevant_number(query: str, task: Task, rng: random.Random) -> str:
    """Add a sentence with a number that is not an argument ("I'm at gate 42 right now."). Preserves the
    answer: the target values all stay stated; the extra number belongs to no request."""
    sentence = rng.choice(_IRRELEVANT_NUMBERS)
    return f"{query} {sentence}" if rng.random() < 0.6 else f"{sentence} {query}"


def _spell(number: int, rng: random.Random) -> str:
    """``number`` (0 <= number < 1,000,000) in English words, in one of the forms `fcgym.validity` reads."""
    def below_hundred(n: int) -> str:
        if n < 20:
            return _NUMBER_WORDS[n]
        tens, units = divmod(n, 10)
        return _TENS_WORDS[tens - 2] + (("-" if hyphen else " ") + _NUMBER_WORDS[units] if units else "")

    def below_thousand(n: int) -> str:
        hundreds, rest = divmod(n, 100)
        if not hundreds:
            return below_hundred(rest)
        return f"{_NUMBER_WORDS[hundreds]} hundred" + (f"{joint}{below_hundred(rest)}" if rest else "")

    hyphen, joint = rng.random() < 0.5, rng.choice([" and ", " "])
    thousands, rest = divmod(number, 1000)
    in_hundreds = 1100 <= number < 10_000 and number % 1000 and number % 100 == 0
    if in_hundreds or (1100 <= number < 2000 and rng.random() < 0.3):
        hundreds, rest = divmod(number, 100)  # "twelve hundred and fifty"
        return f"{below_hundred(hundreds)} hundred" + (f"{joint}{below_hundred(rest)}" if rest else "")
    if not thousands:
        return below_thousand(number)
    return f"{below_thousand(thousands)} thousand" + (f"{joint}{below_thousand(rest)}" if rest else "")


def _numbers(task: Task) -> list[tuple[str, int | float]]:
    return [(param, value) for param, value in _target_leaves(task)
            if isinstance(value, (int, float)) and value >= 0]


def _free_number_spans(query: str, task: Task, value: int | float) -> list[Span]:
    """Where a numeric target value is written as a number of its own, outside every other value and quote."""
    others = [span for _, leaf in _target_leaves(task) if not isinstance(leaf, (int, float))
              for span in _token_spans(query, str(leaf))]
    others += [m.span() for m in re.finditer(r"\"[^\"]*\"|(?<!\w)'[^']+'(?!\w)", query)]
    return [span for span in _token_spans(query, str(value)) if _free(span, others)]


def spelled_out_number(query: str, task: Task, rng: random.Random) -> str:
    """Write one whole-number value in words ("250" -> "two hundred and fifty", "$30" -> "thirty dollars").
    Preserves the answer: the words name exactly the same number (the gate parses them back), and only a
    standalone occurrence of that value is rewritten, never digits inside a name, an id, a date or a time."""
    candidates = [(value, span) for _, value in _numbers(task)
                  if float(value).is_integer() and value < 1_000_000
                  for span in _free_number_spans(query, task, value)]
    if not candidates:
        return query
    candidates = [(value, (start, end)) for value, (start, end) in candidates
                  if value != 1
                  or re.findall(r"[a-z]+", query[:start].lower())[-1:] not in ([w] for w in PRONOUN_ONE_AFTER)
                  or re.match(r"-?\s*[a-z]*", query[end:].lower()).group(0).strip() not in PRONOUN_ONE_BEFORE]
    if not candidates:
        return query  # "the 1." spelled out would read as the pronoun "the one"
    value, (start, end) = rng.choice(candidates)
    words = _spell(int(value), rng)
    if start and query[start - 1] == "$":
        unit = "dollar" if value == 1 else "dollars"
        return query[:start - 1] + f"{words} {unit}" + query[end:]
    return query[:start] + words + query[end:]


def _hours(minutes: int, rng: random.Random) -> str | None:
    if minutes == 30:
        return "half an hour"
    if minutes % 30 or minutes < 60:
        return None
    hours = minutes / 60
    options = {60: ["an hour", "1 hour"], 90: ["an hour and a half", "1.5 hours"]}.get(minutes)
    if options is None:
        options = [f"{hours:g} hours"]
        if hours.is_integer() and hours < 20:
            options.append(f"{_NUMBER_WORDS[int(hours)]} hours")
    return rng.choice(options)


def scaled_unit(query: str, task: Task, rng: random.Random) -> str:
    """State a value in a larger unit that its parameter implies: a round amount of 1,000 or more in thousands
    ("1500" -> "1.5 thousand", "2000" -> "2k"), a number of minutes in hours ("120 minutes" -> "2 hours", "30
    minutes" -> "half an hour"; only for parameters whose name says minutes), or days and nights in weeks ("14
    nights" -> "two weeks", "7-day" -> "1-week"); only where the query writes the unit next to the number. Preserves
    the answer: the scaled quantity is exactly the value (the gate converts it back); units that a tool takes as an
    argument (kilometers in convert_units) are never changed."""
    candidates = []
    for param, value in _numbers(task):
        if value >= 1000 and float(value * 10 / 1000).is_integer():
            amount = f"{value / 1000:g}"
            for span in _free_number_spans(query, task, value):
                candidates.append((span, rng.choice([f"{amount} thousand", f"{amount}k"])))
        if "minutes" in param and float(value).is_integer() and (text := _hours(int(value), rng)):
            for start, end in _free_number_spans(query, task, value):
                unit = re.match(r"\s*(?:minutes|mins?)\b|-minute\b", query[end:])
                if unit and (not unit.group(0).startswith("-") or re.fullmatch(r"[\d.]+ hours?", text)):
                    hyphenated = text.replace(" hours", "-hour").replace(" hour", "-hour")
                    new = hyphenated if unit.group(0).startswith("-") else text
                    candidates.append(((start, end + unit.end()), new))
        if param in ("days", "nights") and isinstance(value, int) and value % 7 == 0 and value // 7 < 10:
            weeks = value // 7
            forms = ["a week", "one week"] if weeks == 1 else [f"{weeks} weeks", f"{_NUMBER_WORDS[weeks]} weeks"]
            text = rng.choice(forms)
            for start, end in _free_number_spans(query, task, value):
                unit = re.match(r"\s*(?:days|nights)\b|-day\b", query[end:])
                if unit:
                    new = text if not unit.group(0).startswith("-") else f"{weeks}-week"
                    candidates.append(((start, end + unit.end()), new))
    if not candidates:
        return query
    span, new = rng.choice(candidates)
    return _replace(query, span, new)


def _target_strings(task: Task, pattern: str) -> list[str]:
    return sorted({value for _, value in _target_leaves(task)
                   if isinstance(value, str) and re.fullmatch(pattern, value)})


def written_date(query: str, task: Task, rng: random.Random) -> str:
    """Write a YYYY-MM-DD date value with the month's name ("2025-06-05" -> "June 5th, 2025", "Thursday, 5 June
    2025", "the 5th of June, 2025"). Preserves the answer: the same calendar day, year included (relative dates
    such as "tomorrow" are not used: a task has no reference date). Every occurrence of that date is rewritten."""
    dates = [d for d in _target_strings(task, r"\d{4}-\d{2}-\d{2}") if _token_spans(query, d)]
    if not dates:
        return query
    date = rng.choice(dates)
    try:
        day = datetime.date.fromisoformat(date)
    except ValueError:
        return query
    month = _MONTH_NAMES[day.month - 1]
    ordinal = f"{day.day}{'th' if 10 <= day.day % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(day.day % 10, 'th')}"
    weekday = day.strftime("%A")
    written = rng.choice([f"{month} {day.day}, {day.year}", f"{month} {ordinal}, {day.year}",
                          f"{day.day} {month} {day.year}", f"the {ordinal} of {month}, {day.year}",
                          f"{weekday}, {month} {day.day}, {day.year}", f"{month[:3]} {day.day} {day.year}"])
    for start, end in reversed(_token_spans(query, date)):
        query = query[:start] + written + query[end:]
    return query


def twelve_hour_clock(query: str, task: Task, rng: random.Random) -> str:
    """Write an HH:MM time value on the 12-hour clock ("15:30" -> "3:30 pm", "09:00" -> "9 a.m.", "12:00" ->
    "noon"). Preserves the answer: the same time of day, with am/pm always given. Every occurrence of that time is
    rewritten."""
    times = [t for t in _target_strings(task, r"\d{2}:\d{2}") if _token_spans(query, t)]
    if not times:
        return query
    time = rng.choice(times)
    hour, minute = int(time[:2]), time[3:]
    if hour > 23 or int(minute) > 59:
        return query
    clock, half = hour % 12 or 12, "pm" if hour >= 12 else "am"
    suffix = rng.choice([f" {half}", f" {half[0]}.m.", half])
    options = [f"{clock}:{minute}{suffix}"] + ([f"{clock}{suffix}"] if minute == "00" else [])
    options += {"12:00": ["noon", "midday"], "00:00": ["midnight"]}.get(time, [])
    written = rng.choice(options)
    for start, end in reversed(_token_spans(query, time)):
        query = query[:start] + written + query[end:]
    return query


def reorder_requests(query: str, task: Task, rng: random.Random) -> str:
    """Ask for the calls of a parallel request in the other order ("A. Also, b." -> "B. Plus, a."). Preserves the
    answer: the checker matches the calls of an unordered task in any order; ordered tasks are left alone."""
    if len(task.target_calls()) < 2 or task.ordered:
        return query
    sentences = _sentences(query)
    joints = [i for i, s in enumerate(sentences) if i and re.match(r"(?:Also|Plus|And also|On top of that),\s", s)]
    if len(joints) != 1:
        return query
    second_at = joints[0]
    first = sentences[second_at - 1]
    second = re.sub(r"^(?:Also|Plus|And also|On top of that),\s+", "", sentences[second_at])
    joint = rng.choice(["Also,", "Plus,", "And also,", "On top of that,"])
    sentences[second_at - 1:second_at + 1] = [_upper_first(second), f"{joint} {_lower_first(first)}"]
    return " ".join(sentences)


def typo(query: str, task: Task, rng: random.Random) -> str:
    """Swap two letters inside one longer lower-case word. Preserves the answer: words inside values and quotes
    are never touched, so every value stays verbatim; a misspelt ordinary word changes no argument."""
    protected = _protected(query, task)
    words = [m for m in re.finditer(r"(?<![\w'-])[a-z]{6,}(?![\w'-])", query) if _free(m.span(), protected)]
    if not words:
        return query
    match = rng.choice(words)
    word = match.group(0)
    position = rng.randrange(1, len(word) - 2)
    swapped = word[:position] + word[position + 1] + word[position] + word[position + 2:]
    return _replace(query, match.span(), swapped)


def mixed_language(query: str, task: Task, rng: random.Random) -> str:
    """Greet, thank or say please in Spanish, French or German around the (English) request. Preserves the
    answer: the request and its values are untouched; the phrases hold no numbers and no request."""
    greetings, thanks, please = _LANGUAGES[rng.choice(sorted(_LANGUAGES))]
    style = rng.randrange(3)
    if style == 0:
        return f"{rng.choice(greetings)} {_lower_first(query)} {rng.choice(thanks)}"
    if style == 1:
        return f"{rng.choice(greetings)} {_lower_first(query)}"
    if query[-1:] in ".!" and not query.endswith(('."', ".'")):
        return f"{query[:-1]}, {please}{query[-1]} {rng.choice(thanks)}"
    return f"{query} {rng.choice(thanks)}"


def long_context(query: str, task: Task, rng: random.Random) -> str:
    """Put a long preamble of unrelated chat (about 600 to 1,200 characters) before the request. Preserves the
    answer: the preamble states no value and no request; the query stays within the gate's length limit."""
    budget = min(rng.randint(600, 1200), MAX_QUERY_CHARS - len(query) - 60)
    if budget < 200:
        return query
    pool, preamble = rng.sample(_CHAT, len(_CHAT)), []
    for sentence in pool:
        if sum(len(s) + 1 for s in preamble) + len(sentence) > budget:
            break
        preamble.append(sentence)
    return f"{' '.join(preamble)} {rng.choice(_PREAMBLE_ENDS)} {_lower_first(query)}"


def near_miss_tool(query: str, task: Task, rng: random.Random) -> str:
    """Name a similar but wrong tool on offer as not wanted ("Not get_balance - ...", "(I don't mean
    list_transactions.)"). The tool is the one whose name shares the most words with a target tool's. Preserves
    the answer: the request is unchanged, and the named tool is one the task does not call; the name is written
    exactly (with its underscores), so none of its words reads as a value."""
    targets = [call.name for call in task.target_calls()]
    others = [tool.name for tool in task.tools if tool.name not in targets]
    if not others:
        return query
    def overlap(name: str) -> int:
        words = set(name.split("_"))
        return max((len(words & set(t.split("_"))) for t in targets), default=0)
    best = max(overlap(name) for name in others)
    other = rng.choice([name for name in others if overlap(name) == best])
    return rng.choice([
        f"Not {other} - {_lower_first(query)}",
        f"{query} (I don't mean {other}.)",
        f"Just to be clear, this is not a {other} request: {_lower_first(query)}",
        f"{query} To be clear: no {other}, only this.",
    ])


OPERATORS: dict[str, Operator] = {
    op.__name__: op for op in (
        paraphrase, verb_synonym, indirect_request, distractor, irrelevant_number, spelled_out_number, scaled_unit,
        written_date, twelve_hour_clock, reorder_requests, typo, mixed_language, long_context, near_miss_tool)
}


def operator_rates(tasks: list[Task], seed: int = 0) -> dict[str, dict[str, float]]:
    """For every operator, applied once to each task's seed query: how often it changed the query (``applied``)
    and how often the changed query passed the validity gate (``valid``, among the changed ones)."""
    rates = {}
    for name, operator in OPERATORS.items():
        rng = random.Random(f"{seed}/{name}")
        changed = valid = 0
        for task in tasks:
            query = operator(task.query, task, rng)
            if query != task.query:
                changed += 1
                valid += check_query(query, task).valid
        rates[name] = {"applied": changed / max(1, len(tasks)), "valid": valid / changed if changed else float("nan"),
                       "changed": changed}
    return rates


#: The operator that writes each kind of indirect form (`fcgym.validity.INDIRECT_FORMS`).
_OPERATOR_OF_FORM = {"written_date": "written_date", "spelled_number": "spelled_out_number",
                     "scaled_quantity": "scaled_unit", "clock_time": "twelve_hour_clock"}
#: A preamble this much longer than the seed query marks long_context (its preambles run 600-1,200 characters).
LONG_CONTEXT_EXTRA_CHARS = 400


def detected_operators(query: str, task: Task) -> list[str]:
    """The operators (in `OPERATORS` order) whose traces ``query``, a rewrite of ``task``'s seed query by any
    adversary, shows: indirect forms (phrases) the seed query lacks, a preamble, a tool not called named, or the phrases
    of the distractor, irrelevant-number and mixed-language pools. Paraphrases, synonyms, typos and reordering
    leave no trace that tells them apart, so they are never reported."""
    seed = task.query
    found = {_OPERATOR_OF_FORM[kind] for kind, _ in indirect_forms(query) - indirect_forms(seed)}

    def added(phrases) -> bool:
        return any(phrase in query and phrase not in seed for phrase in phrases)

    if added(_DISTRACTORS):
        found.add("distractor")
    if added(_IRRELEVANT_NUMBERS):
        found.add("irrelevant_number")
    if added(phrase for greetings, thanks, please in _LANGUAGES.values() for phrase in (*greetings, *thanks, please)):
        found.add("mixed_language")
    if len(query) >= len(seed) + LONG_CONTEXT_EXTRA_CHARS or added(_PREAMBLE_ENDS):
        found.add("long_context")
    targets = {call.name for call in task.target_calls(copy=False)}
    if added(tool.name for tool in task.tools if tool.name not in targets):
        found.add("near_miss_tool")
    return [name for name in OPERATORS if name in found]


class ScriptedAdversary:
    """Plays ``query_0``: composes 1 to ``max_operators`` perturbation operators over the seed query."""

    def __init__(self, operators: tuple[str, ...] = tuple(OPERATORS), max_operators: int = 3, seed: int | None = None):
        unknown = set(operators) - set(OPERATORS)
        if unknown:
            raise ValueError(f"unknown operators {sorted(unknown)}; available: {sorted(OPERATORS)}")
        self.operators, self.max_operators = tuple(operators), max_operators
        self.rng = random.Random(seed)

    def reset(self, seed: int | None) -> None:
        self.rng = random.Random(seed)

    def rewrite(self, task: Task) -> tuple[str, list[str]]:
        """A valid perturbed query for ``task`` and the names of the operators applied.

        Draws how many operators to apply (1 to ``max_operators``), then tries operators in random order,
        skipping those that do not apply to this query, until that many changed it.
        """
        wanted = self.rng.randint(1, min(self.max_operators, len(self.operators)))
        query, applied = task.query, []
        for name in self.rng.sample(self.operators, len(self.operators)):
            candidate = OPERATORS[name](query, task, self.rng)
            if candidate != query and check_query(candidate, task).valid:
                query, applied = candidate, applied + [name]
                if len(applied) == wanted:
                    break
        return query, applied

    def act(self, messages: list[dict], tools: list[dict]) -> str:
        return self.rewrite(task_from_query_prompt(messages, tools))[0]


class KeywordFC:
    """Plays ``fc_0`` by keyword matching: picks tools whose name words appear in a clause, fills enum,
    number and name arguments from the text. A transparent, deliberately brittle baseline."""

    def reset(self, seed: int | None) -> None:
        pass

    def act(self, messages: list[dict], tools: list[dict]) -> str:
        query = next(m["content"] for m in reversed(messages) if m["role"] == "user")
        calls = []
        for clause in re.split(r"(?<=[.?!])\s+Also,\s+", query):
            call = self._call_for(clause, [t["function"] for t in tools])
            if call:
                calls.append(call)
        return json.dumps(calls) if calls else "None of my tools can help with that."

    @staticmethod
    def _call_for(clause: str, functions: list[dict]) -> dict | None:
        words = set(re.findall(r"[a-z]+", clause.lower()))
        def score(function: dict) -> int:
            enums = {str(v).lower() for p in function["parameters"]["properties"].values() for v in p.get("enum", [])}
            return 2 * len(set(function["name"].split("_")) & words) + len(enums & words)
        best = max(functions, key=score)
        if score(best) < 2:
            return None
        numbers = [float(n.replace(",", "")) for n in re.findall(r"(?<![\w.])\d[\d,]*(?:\.\d+)?", clause)]
        names = re.findall(r"(?<!^)(?<![.?!] )\b[A-Z][a-z]+\b", clause)
        mentioned = sorted((clause.lower().find(str(v).lower()), str(v))
                           for p in best["parameters"]["properties"].values() for v in p.get("enum", [])
                           if str(v).lower() in clause.lower())
        arguments = {}
        for param, prop in best["parameters"]["properties"].items():
            if "enum" in prop:
                options = [v for _, v in mentioned if v in prop["enum"]]
                if options:
                    arguments[param] = options[0]
                    mentioned = [m for m in mentioned if m[1] != options[0]]
            elif prop.get("type") in ("number", "integer") and numbers:
                value = numbers.pop(0)
                arguments[param] = int(value) if value.is_integer() else value
            elif prop.get("type") == "string" and "name" in prop.get("description", "").lower() and names:
                arguments[param] = names.pop(0)
            elif prop.get("type") == "string" and "default" in prop:
                found = re.search(r"\b(?:for|reference:)\s+([a-z][a-z ]+?)(?:[.,]|$)", clause)
                if found:
                    arguments[param] = found.group(1)
        return {"name": best["name"], "arguments": arguments}


def main(argv: list[str] | None = None) -> None:
    """Print every operator's application and validity rates over generated tasks of every domain and kind."""
    from envs.domains import DOMAINS, TASK_KINDS, make_task

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--tasks", type=int, default=20, help="tasks per domain and kind")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split", default="train")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    tasks = [make_task(d, k, rng, args.split) for d in DOMAINS for k in TASK_KINDS for _ in range(args.tasks)]
    print(f"{'operator':<20}{'applied':>9}{'valid':>9}   ({len(tasks)} tasks)")
    for name, rate in operator_rates(tasks, args.seed).items():
        print(f"{name:<20}{rate['applied']:>9.1%}{rate['valid']:>9.1%}")


if __name__ == "__main__":
    main()
