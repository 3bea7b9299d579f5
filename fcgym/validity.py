"""The validity gate: does a rewritten query still ask for exactly the task's target calls?

Rule checks (no model), in order:

1. every target value that may not be left out, and does not come from an earlier call's result (``Task.derived``),
   is *stated* in the query: literally (case-insensitive, as a whole token: 1,250 is not 250), or in an indirect
   form the gate can derive exactly (`derived_text`): spelled-out whole numbers ("two hundred and fifty"), thousands
   ("1.5 thousand", "2k"), hours for minutes ("an hour and a half" is 90 minutes), weeks for days ("two weeks" is
   14 days), dates with month names ("June 5th, 2025" is 2025-06-05) and 12-hour clock times ("3:30 pm" is 15:30,
   "noon" is 12:00). Relative dates ("tomorrow") are not derivable: a task carries no reference date, so they count
   as not stated;
2. no other value of the target tool's enum parameters is mentioned in a single-call request (it would make
   the request ambiguous);
3. no target tool's action is negated ("don't transfer ...", "do not cancel ...", "I'd like you not to book ...");
   the action is the first word of the tool's name, in any inflection;
4. an irrelevance query (no target calls, ``any_call`` false) mentions no tool's enum values;
5. no target call is asked for twice: a call counts as asked again when the query states every one of its
   free-text values (strings that are no enum value: names, titles, paths, ids) more than once, and more often
   than the task's own query does ("Book CX251 for Zoltan. On top of that, book CX251 for Zoltan." asks for two
   bookings, or is ambiguous; a distractor that says one value again, "...for coffee. The coffee machine is
   broken.", is fine);
6. no target tool is named as not wanted ("(I don't mean create_event.)", "no read_file, only this", "this is not
   a send_payment request"): a negation within the four words before the tool's exact name, where the name is
   no plain word (one-word names read as their verb: rule 3). Naming a tool as wanted ("use create_event, not
   update_event") is fine.

A `judge` (any callable ``(query, task) -> bool``) can veto what the rules accept; `agent_judge` makes one out of
any object shaped like the Agent protocol (``act(messages, tools) -> str``) by asking it a yes/no question.
"""

from __future__ import annotations

import datetime
import functools
import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Protocol

from fcgym.tasks import Task
from fcgym.tools import Call, Tool

MAX_QUERY_CHARS = 2_000
Judge = Callable[[str, Task], bool]


@dataclass(frozen=True)
class Validity:
    """The gate's answer, with the reasons a query was rejected."""

    valid: bool
    reasons: tuple[str, ...] = ()


def surface_forms(value: Any) -> list[str]:
    """The ways a literal value can be written in a query (lower-case)."""
    if isinstance(value, bool):
        return []
    if isinstance(value, (int, float)):
        return list(_number_forms(value))
    return [str(value).lower()]


@functools.lru_cache(maxsize=1 << 14, typed=True)
def _number_forms(value: int | float) -> tuple[str, ...]:
    forms = {str(value), f"{value:g}", f"{value:.2f}", f"{value:,.2f}"}
    if float(value).is_integer():
        forms |= {f"{int(value)}", f"{int(value):,}"}
    return tuple(sorted(forms))


def _mentions(text: str, value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return all(_mentions(text, v) for v in value)
    if isinstance(value, dict):
        return all(_mentions(text, v) for v in value.values())
    return _mentions_forms(text, surface_forms(value))


def _mentions_forms(text: str, forms: list[str] | tuple[str, ...]) -> bool:
    """Whether ``text`` states one of a value's surface forms (a value without any, like a bool, always counts)."""
    if not forms:
        return True
    for form in forms:
        if form in text and _stated(text, form):
            return True
    return False


def _token_occurrences(text: str, form: str) -> Iterator[int]:
    """Where ``form`` occurs in ``text`` as a whole token: not inside a word or a longer number (1,250 is not 250)."""
    start = text.find(form)
    while start != -1:
        end = start + len(form)
        before, after = text[max(0, start - 2):start], text[end:end + 2]
        glued_before = (before[-1:].isalnum() or before[-1:] in ("_", ".")
                        or (before[-1:] == "," and before[:1].isdigit()))
        glued_after = after[:1].isalnum() or after[:1] == "_" or (after[:1] in (".", ",") and after[1:2].isdigit())
        if not glued_before and not glued_after:
            yield start
        start = text.find(form, start + 1)


def _stated(text: str, form: str) -> bool:
    """``form`` occurs in ``text`` as a whole token."""
    return next(_token_occurrences(text, form), None) is not None


def _times_stated(text: str, form: str) -> int:
    return sum(1 for _ in _token_occurrences(text, form))


def leaves(value: Any) -> list[Any]:
    """The scalar values inside nested lists and dicts."""
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in leaves(v)]
    if isinstance(value, (list, tuple)):
        return [leaf for v in value for leaf in leaves(v)]
    return [value]


# ---------------------------------------------------------------------------------------------------------------
# Indirect forms the gate can derive exactly: each rewrites a phrase of the (lower-case) text into the literal form.

_SMALL = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen".split())}
_TENS = {w: 10 * i for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split(), start=2)}
_NUMBER_WORD = "|".join(sorted([*_SMALL, *_TENS, "hundred", "thousand"], key=len, reverse=True))
_NUMBER_RUN = re.compile(rf"\b(?:{_NUMBER_WORD})(?:(?:\s+and\s+|\s+|-)(?:{_NUMBER_WORD}))*\b")
#: After these words and before a function word or punctuation, a lone "one" is a pronoun ("the one in savings",
#: "this one."), not the number 1 ("the one-day forecast", "the next one week" are numbers).
PRONOUN_ONE_AFTER = frozenset({"this", "that", "the", "which", "each", "every", "any", "no", "another", "only",
                               "some", "other", "last", "first", "next", "same", "right", "wrong"})
PRONOUN_ONE_BEFORE = frozenset({"", "of", "that", "which", "who", "i", "you", "we", "is", "was", "and", "or", "in",
                                 "on", "at", "for", "with", "from", "to", "please", "instead", "too", "again"})
_MONTHS = {m: i for i, m in enumerate("january february march april may june july august september october "
                                      "november december".split(), start=1)}
_MONTHS.update({m[:3]: i for m, i in list(_MONTHS.items())})
_MONTHS["sept"] = 9
_MONTH = "|".join(sorted(_MONTHS, key=len, reverse=True))
_ORDINAL = r"(?:st|nd|rd|th)?"
_DAY_MONTH_YEAR = re.compile(rf"\b(?:the\s+)?(\d{{1,2}}){_ORDINAL}(?:\s+of)?\s+({_MONTH})\.?,?\s+(\d{{4}})\b")
_MONTH_DAY_YEAR = re.compile(rf"\b({_MONTH})\.?\s+(?:the\s+)?(\d{{1,2}}){_ORDINAL},?\s+(\d{{4}})\b")
_THOUSANDS = re.compile(r"(?<![\w.,])(\d+(?:\.\d+)?)\s*(?:thousand\b|k\b)")
_HOURS = re.compile(r"\b(?:half\s+an\s+hour|(an?|\d+(?:\.\d+)?)(\s+and\s+a\s+half)?[\s-]hours?(\s+and\s+a\s+half)?)\b")
_WEEKS = re.compile(r"\b(an?|\d+)[\s-]weeks?\b")
_CLOCK = re.compile(r"(?<![\w:.])(\d{1,2})(?::([0-5]\d))?\s*([ap])\.?m\b")
_NOON = re.compile(r"\b(noon|midday|midnight)\b")


def _below_hundred(words: list[str]) -> int | None:
    if len(words) == 1:
        return _SMALL.get(words[0], _TENS.get(words[0]))
    if len(words) == 2 and words[0] in _TENS and 1 <= _SMALL.get(words[1], 0) <= 9:
        return _TENS[words[0]] + _SMALL[words[1]]
    return None


def _below_thousand(words: list[str], max_hundreds: int = 99) -> int | None:
    """``[N hundred [and]] [M]`` with N in 1..max_hundreds ("twelve hundred and fifty" is 1250) and M in 1..99."""
    if "hundred" not in words:
        return _below_hundred(words)
    at = words.index("hundred")
    hundreds = _below_hundred(words[:at])
    rest = words[at + 1:]
    if rest[:1] == ["and"]:
        rest = rest[1:]
        if not rest:
            return None
    if hundreds is None or not 1 <= hundreds <= max_hundreds:
        return None
    if not rest:
        return hundreds * 100
    tail = _below_hundred(rest)
    return None if not tail else hundreds * 100 + tail


def number_from_words(words: list[str]) -> int | None:
    """The whole number that English number words spell (``["two", "hundred", "and", "fifty"]`` -> 250), or None
    where the words are not exactly one well-formed number ("two five" is not 25)."""
    if "thousand" not in words:
        return _below_thousand(words)
    at = words.index("thousand")
    thousands = _below_thousand(words[:at], max_hundreds=9)
    rest = words[at + 1:]
    if rest[:1] == ["and"]:
        rest = rest[1:]
        if not rest:
            return None
    if not thousands:
        return None
    if not rest:
        return thousands * 1000
    tail = _below_thousand(rest, max_hundreds=9)
    return None if not tail else thousands * 1000 + tail


def _spelled_numbers_to_digits(text: str) -> str:
    def run(match: re.Match) -> str:
        tokens = [(m.group(0), m.start(), m.end()) for m in re.finditer(r"[a-z]+", match.group(0))]
        out, cursor, i = [], 0, 0
        while i < len(tokens):
            for j in range(len(tokens), i, -1):  # the longest well-formed number starting at token i
                value = number_from_words([t[0] for t in tokens[i:j]])
                if value is not None:
                    break
            else:
                i += 1
                continue
            previous = re.findall(r"[a-z]+", text[:match.start() + tokens[i][1]])[-1:]
            following = re.match(r"-?\s*([a-z]*)", text[match.start() + tokens[i][2]:]).group(0).strip()
            if (j - i == 1 and tokens[i][0] == "one" and previous and previous[0] in PRONOUN_ONE_AFTER
                    and following in PRONOUN_ONE_BEFORE):
                i += 1
                continue
            out += [match.group(0)[cursor:tokens[i][1]], str(value)]
            cursor, i = tokens[j - 1][2], j
        return "".join(out) + match.group(0)[cursor:]

    return _NUMBER_RUN.sub(run, text)


def _iso_date(year: str, month: str, day: str) -> str | None:
    try:
        return datetime.date(int(year), _MONTHS[month], int(day)).isoformat()
    except ValueError:
        return None


def _number_text(value: float) -> str:
    return f"{value:.6f}".rstrip("0").rstrip(".")


def _hours_to_minutes(match: re.Match) -> str:
    count, half = match.group(1), match.group(2) or match.group(3)
    hours = 0.5 if count is None else 1.0 if count in ("a", "an") else float(count)
    minutes = hours * 60 + (30 if half else 0)
    return f"{_number_text(minutes)} minutes" if float(minutes).is_integer() else match.group(0)


def _clock_to_24h(match: re.Match) -> str:
    hour, minute, half = int(match.group(1)), match.group(2) or "00", match.group(3)
    if not 1 <= hour <= 12:
        return match.group(0)
    hour = hour % 12 + (12 if half == "p" else 0)
    return f"{hour:02d}:{minute}"


def derived_text(text: str) -> str:
    """``text`` (lower-case) with every indirect form the gate understands rewritten into its literal form:
    ``"two hundred and fifty"`` -> ``"250"``, ``"1.5 thousand"`` -> ``"1500"``, ``"2 hours"`` -> ``"120 minutes"``,
    ``"a week"`` -> ``"7 days"``, ``"june 5th, 2025"`` -> ``"2025-06-05"``, ``"3:30 pm"`` -> ``"15:30"``,
    ``"noon"`` -> ``"12:00"``."""
    text = _DAY_MONTH_YEAR.sub(lambda m: _iso_date(m.group(3), m.group(2), m.group(1)) or m.group(0), text)
    text = _MONTH_DAY_YEAR.sub(lambda m: _iso_date(m.group(3), m.group(1), m.group(2)) or m.group(0), text)
    text = _spelled_numbers_to_digits(text)
    text = _THOUSANDS.sub(lambda m: _number_text(float(m.group(1)) * 1000), text)
    text = _HOURS.sub(_hours_to_minutes, text)
    text = _WEEKS.sub(lambda m: f"{7 * (1 if m.group(1) in ('a', 'an') else int(m.group(1)))} days", text)
    text = _CLOCK.sub(_clock_to_24h, text)
    return _NOON.sub(lambda m: "00:00" if m.group(1) == "midnight" else "12:00", text)


#: The kinds of indirect forms `derived_text` reads, with the patterns that find them.
INDIRECT_FORMS: dict[str, tuple[re.Pattern, ...]] = {
    "written_date": (_DAY_MONTH_YEAR, _MONTH_DAY_YEAR),
    "spelled_number": (_NUMBER_RUN,),
    "scaled_quantity": (_THOUSANDS, _HOURS, _WEEKS),
    "clock_time": (_CLOCK, _NOON),
}


def indirect_spans(text: str) -> list[tuple[int, int]]:
    """Where ``text`` holds a phrase that `derived_text` reads as a value ("two hundred", "June 5th, 2025",
    "3 pm", "an hour"): spans that a rewrite must keep intact."""
    lower = text.lower()
    return sorted(m.span() for patterns in INDIRECT_FORMS.values() for pattern in patterns
                  for m in pattern.finditer(lower))


def indirect_forms(text: str) -> set[tuple[str, str]]:
    """``(kind, phrase)`` for every indirect form (`INDIRECT_FORMS`) in ``text``, phrases in lower case."""
    lower = text.lower()
    return {(kind, match.group(0)) for kind, patterns in INDIRECT_FORMS.items()
            for pattern in patterns for match in pattern.finditer(lower)}


# ---------------------------------------------------------------------------------------------------------------

_NEGATION = re.compile(
    r"\b(?:don'?t|do\s+not|never|not\s+to|no\s+need\s+to)\s+"
    r"(?:(?:please|ever|even|you|want|need|wish|ask|try|to|go\s+and)\s+){0,3}([a-z]+)")
_NEGATION_HINT = re.compile("don|not|never|need")  # every phrase _NEGATION matches contains one of them


def _negated_actions(text: str, targets: list[Call]) -> list[str]:
    """The target tools whose action (the first word of the name) the query negates."""
    if not _NEGATION_HINT.search(text):
        return []
    negated = [m.group(1) for m in _NEGATION.finditer(text.replace("\u2019", "'"))]
    found = []
    for call in targets:
        verb = call.name.lower().split("_")[0]
        if len(verb) < 3:
            continue
        stems = {verb, verb[:-1]} if verb.endswith("e") else {verb}
        pattern = re.compile(rf"(?:{'|'.join(sorted(stems))})(?:s|es|e?d|ing|[a-z]?ing|[a-z]?ed)?")
        if any(pattern.fullmatch(word) for word in negated):
            found.append(call.name)
    return found


_DISOWNING = re.compile(r"\b(?:not|no|never|without|isn't|except|instead of|rather than|"
                        r"(?:don't|do not) (?:mean|want|need|use|call|run))\b")
_DISOWNING_WINDOW_WORDS = 4


def _disowned_tools(text: str, targets: list[Call]) -> list[str]:
    """The target tools the query names as not wanted: a negation (`_DISOWNING`) within the
    `_DISOWNING_WINDOW_WORDS` words before the tool's exact name."""
    found = []
    for name in dict.fromkeys(call.name for call in targets):
        form = name.lower()
        if form.isalpha() or form not in text:
            continue  # a one-word name reads as its verb (rule 3's business); mostly the query does not name it
        for start in _token_occurrences(text, form):
            before = " ".join(text[:start].replace("\u2019", "'").split()[-_DISOWNING_WINDOW_WORDS:])
            if _DISOWNING.search(before):
                found.append(name)
                break
    return found


def _repeated_requests(text: str, task: Task, targets: list[Call]) -> list[str]:
    """The target calls the query asks for again: every free-text value of the call (a string that is not an
    enum value: a name, title, path or id) is stated more than once, and more often than in the task's own query."""
    repeated = []
    for index, call in enumerate(targets):
        strings = {leaf.lower() for param, value in call.arguments.items() if (index, param) not in task.derived
                   for leaf in leaves(value) if isinstance(leaf, str) and leaf}
        if not any(text.count(form) > 1 for form in strings):
            continue  # the common case: no value even appears twice
        tool = task.tool(call.name)
        free = strings - {lowered for _, lowered, _ in _enum_options(tool)} if tool else strings
        seed = task.query.lower()
        if free and all(_times_stated(text, form) > max(1, _times_stated(seed, form)) for form in free):
            repeated.append(call.name)
    return repeated


@functools.lru_cache(maxsize=4096)
def _enum_options(tool: Tool) -> tuple[tuple[Any, str, tuple[str, ...]], ...]:
    """Every enum value of ``tool``'s parameters, with its lower-case text and `surface_forms` (once per tool)."""
    return tuple((option, str(option).lower(), tuple(surface_forms(option)))
                 for prop in tool.parameters.get("properties", {}).values() for option in prop.get("enum", []))


def check_query(query: str, task: Task, judge: Judge | None = None) -> Validity:
    """Rule checks, then the optional judge."""
    if not isinstance(query, str) or not query.strip():
        return Validity(False, ("the query is empty",))
    if len(query) > MAX_QUERY_CHARS:
        return Validity(False, (f"the query is longer than {MAX_QUERY_CHARS} characters",))
    text = query.lower()
    derived: list[str] = []  # computed at most once, only when a value is not stated literally

    def mentioned(option: Any) -> bool:
        if type(option) is str:  # the common case, without building its surface forms
            form = option.lower()
            if form in text and _stated(text, form):
                return True
        elif _mentions(text, option):
            return True
        if not derived:
            derived.append(derived_text(text))
        return derived[0] != text and _mentions(derived[0], option)

    reasons = []
    targets = task.target_calls(copy=False)
    for index, (answer, call) in enumerate(zip(task.answers, targets)):
        accepted_values = answer[call.name]
        for param, value in call.arguments.items():
            accepted = accepted_values.get(param, [value])
            if "" in accepted or (index, param) in task.derived:
                continue  # a parameter that may be left out, or comes from an earlier result, need not be stated
            for option in accepted:
                if mentioned(option):
                    break
            else:
                reasons.append(f"{call.name}.{param}={value!r} is not stated")
    if len(targets) <= 1 and not task.any_call:  # another call's enum value may rightly appear in a parallel request
        target_values: set[str] | None = None  # computed once an enum value is mentioned
        called = {call.name for call in targets}
        for tool in task.tools:
            if targets and tool.name not in called:
                continue
            for option, lowered, forms in _enum_options(tool):
                if _mentions_forms(text, forms):
                    if target_values is None:
                        target_values = {str(leaf).lower() for call in targets for leaf in leaves(call.arguments)}
                    if lowered not in target_values:
                        reasons.append(f"{option!r} is mentioned but is not a value of the target calls")
    for name in _negated_actions(text, targets):
        reasons.append(f"the query says not to do {name}")
    for name in _repeated_requests(text, task, targets):
        reasons.append(f"the query asks for {name} more than once")
    for name in _disowned_tools(text, targets):
        reasons.append(f"the query says it does not mean {name}")
    if not reasons and judge is not None and not judge(query, task):
        reasons.append("the judge rejected the query")
    return Validity(not reasons, tuple(dict.fromkeys(reasons)))


# ---------------------------------------------------------------------------------------------------------------

class _Actor(Protocol):
    def act(self, messages: list[dict], tools: list[dict]) -> str: ...


JUDGE_SYSTEM_PROMPT = (
    "You check rewritten user requests for a function-calling assistant. Given the target tool calls and a user "
    "request, answer 'yes' if the request asks for exactly those calls with exactly those argument values (however "
    "it is worded, whatever small talk surrounds it), and 'no' if it asks for anything else, leaves a value out, "
    "changes a value or says not to do it. Answer with one word: yes or no."
)


def judge_prompt(query: str, task: Task) -> list[dict]:
    """The chat messages `agent_judge` sends: the target calls and the query, and a yes/no question."""
    targets = [call.to_dict() for call in task.target_calls()]
    wanted = json.dumps(targets) if targets else "[] (none: no tool fits, the assistant should call nothing)"
    return [
        {"role": "system", "content": JUDGE_SYSTEM_PROMPT},
        {"role": "user", "content": f"Target calls: {wanted}\nUser request: {query}\n"
                                    "Does the request ask for exactly the target calls? Answer yes or no."},
    ]


def read_yes_no(reply: Any) -> bool | None:
    """``True`` for a reply that starts with yes, ``False`` for no, ``None`` for anything else."""
    if not isinstance(reply, str):
        return None
    match = re.match(r"\W*(yes|no)\b", reply.strip().lower())
    return None if match is None else match.group(1) == "yes"


def agent_judge(agent: _Actor) -> Judge:
    """A judge for `check_query` out of any agent (an object with ``act(messages, tools) -> str``).

    The agent is asked `judge_prompt` with no tools on offer; a reply starting with "yes" accepts the query,
    "no" or anything unreadable rejects it.
    """
    def judge(query: str, task: Task) -> bool:
        return read_yes_no(agent.act(judge_prompt(query, task), [])) is True

    judge.agent = agent  # type: ignore[attr-defined]
    return judge
