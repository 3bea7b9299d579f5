"""Built-in tool domains and the seeded task generator that turns any of them into `fcgym.Task`s."""

from __future__ import annotations

import random
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from fcgym import Task, Tool
from envs.domains import banking

DOMAINS: dict[str, ModuleType] = {banking.NAME: banking}
TASK_KINDS = ("single", "parallel", "irrelevance")


def possible_answer(tool: Tool, arguments: dict[str, Any]) -> dict[str, dict[str, list[Any]]]:
    """The possible answer for one call: the stated values, and optional parameters that may be left out."""
    params = {name: [value] for name, value in arguments.items()}
    for name, prop in tool.parameters.get("properties", {}).items():
        if name not in params and "default" in prop:
            params[name] = ["", prop["default"]]
    return {tool.name: params}


def _request(module: ModuleType, tool: Tool, rng: random.Random, split: str) -> tuple[str, dict]:
    arguments = module.sample_arguments(tool.name, rng, split)
    return rng.choice(module.TEMPLATES[tool.name]).format(**arguments), possible_answer(tool, arguments)


def make_task(domain: str, kind: str, rng: random.Random, split: str = "train") -> Task:
    """Draw one task of ``kind`` from ``domain``; ``split`` ("train" or "test") keeps string values apart."""
    module = DOMAINS[domain]
    tools = tuple(module.TOOLS)
    if kind == "single":
        query, answer = _request(module, rng.choice(tools), rng, split)
        answers = (answer,)
    elif kind == "parallel":
        first, second = rng.sample(tools, 2)
        query_1, answer_1 = _request(module, first, rng, split)
        query_2, answer_2 = _request(module, second, rng, split)
        query, answers = f"{query_1} Also, {query_2[0].lower()}{query_2[1:]}", (answer_1, answer_2)
    elif kind == "irrelevance":
        query, answers = rng.choice(module.IRRELEVANT_QUERIES), ()
    else:
        raise ValueError(f"unknown task kind {kind!r}; choose from {TASK_KINDS}")
    return Task(
        id=f"{domain}/{kind}/{rng.getrandbits(32):08x}", tools=tools, query=query, answers=answers,
        initial_state=module.initial_state(rng), domain=domain, kind=kind,
    )


@dataclass(frozen=True)
class DomainTasks:
    """A task source over built-in domains: ``sample(rng)`` draws a domain, a kind and a task."""

    domains: tuple[str, ...] = tuple(DOMAINS)
    kinds: tuple[str, ...] = ("single", "single", "parallel", "irrelevance")
    split: str = "train"

    def __post_init__(self) -> None:
        unknown = [d for d in self.domains if d not in DOMAINS]
        if unknown:
            raise ValueError(f"unknown domain(s) {unknown}; available: {sorted(DOMAINS)}")

    def sample(self, rng: random.Random) -> Task:
        return make_task(rng.choice(self.domains), rng.choice(self.kinds), rng, self.split)
