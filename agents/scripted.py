"""Rule-based players: an adversary that composes answer-preserving perturbations, and a keyword FC agent.

Perturbation operators take ``(query, rng)`` and return a rewritten query that asks for the same calls.
`ScriptedAdversary` applies one to three of them and keeps the result only if the validity gate accepts it.
"""

from __future__ import annotations

import json
import random
import re
from typing import Callable

from envs.tool_duel import task_from_query_prompt
from fcgym import Task
from fcgym.validity import check_query

Operator = Callable[[str, random.Random], str]

_DISTRACTORS = [
    "I just got back from a long walk with my dog.", "My sister keeps asking about her holiday photos.",
    "The coffee machine at work is broken again.", "I'm typing this on my phone on the train.",
    "Sorry for the late message, it has been a busy week.",
]
_IRRELEVANT_NUMBERS = [
    "I have 3 cats.", "My flat is on floor 7.", "It's been 12 days since my last day off.",
    "I'm at gate 42 right now.", "My phone battery is at 15 percent.",
]
_VERB_SYNONYMS = {
    "transfer": "shift", "move": "shuffle", "send": "wire", "pay": "settle up with", "check": "peek at",
    "convert": "change", "freeze": "lock", "block": "disable", "set": "make", "list": "give me",
    "show": "display", "limit": "cap", "put": "place",
}


def distractor(query: str, rng: random.Random) -> str:
    """Prepend a sentence that has nothing to do with the request."""
    return f"{rng.choice(_DISTRACTORS)} {query}"


def irrelevant_number(query: str, rng: random.Random) -> str:
    """Append a sentence with a number that is not an argument."""
    return f"{query} {rng.choice(_IRRELEVANT_NUMBERS)}"


def verb_synonym(query: str, rng: random.Random) -> str:
    """Replace the request's verbs with less common synonyms."""
    def swap(match: re.Match) -> str:
        word = match.group(0)
        synonym = _VERB_SYNONYMS[word.lower()]
        return synonym.capitalize() if word[0].isupper() else synonym

    return re.sub(rf"\b({'|'.join(_VERB_SYNONYMS)})\b", swap, query, flags=re.IGNORECASE)


def indirect_request(query: str, rng: random.Random) -> str:
    """Turn the request into a polite, indirect question."""
    lead = rng.choice(["Would you mind helping me out:", "If it's not too much trouble,", "Hey, one thing -"])
    return f"{lead} {query[0].lower()}{query[1:]}"


def typo(query: str, rng: random.Random) -> str:
    """Swap two letters inside one longer word (never inside a value: the gate checks that)."""
    words = query.split(" ")
    candidates = [i for i, w in enumerate(words) if len(w) >= 6 and w.isalpha() and w.islower()]
    if not candidates:
        return query
    index = rng.choice(candidates)
    word = words[index]
    position = rng.randrange(1, len(word) - 2)
    words[index] = word[:position] + word[position + 1] + word[position] + word[position + 2:]
    return " ".join(words)


OPERATORS: dict[str, Operator] = {
    op.__name__: op for op in (distractor, irrelevant_number, verb_synonym, indirect_request, typo)
}


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
        """A valid perturbed query for ``task`` and the names of the operators applied."""
        chosen = self.rng.sample(self.operators, self.rng.randint(1, min(self.max_operators, len(self.operators))))
        query, applied = task.query, []
        for name in chosen:
            candidate = OPERATORS[name](query, self.rng)
            if candidate != query and check_query(candidate, task).valid:
                query, applied = candidate, applied + [name]
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
