"""Built-in tool domains and the seeded task generator that turns any of them into `fcgym.Task`s.

Task kinds:

- ``single``: one target call; the tools on offer are the domain's tools.
- ``parallel``: two target calls to two different tools of the domain, asked for in one query (run in order).
- ``multiple``: one target call, but the tools on offer are the domain's plus those of 1-2 other domains
  (a choice among many tools); the initial state is the union of those domains' worlds.
- ``irrelevance``: no tool of the domain fits the query; the right answer is no call.
- ``multi_step``: two calls in order, the second needing a value only the first call's result holds (the cheapest
  flight's number, the balance to move); the FC model must read the tool's reply, so play it with
  ``max_turns`` >= 2. Each domain lists such requests as ``MULTI_STEP`` (see `envs.domains.multi_step`). Not in
  `DomainTasks`' default kinds, which single-turn play can answer.

Every generated task's canonical answer runs without a tool error on its initial state (the generator draws
again until it does), and its seed query states every target value (see `fcgym.validity`).
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from envs.domains import banking, calendar, files, multi_step, shopping, travel, units_weather
from fcgym import Task, Tool, execute
from fcgym.tasks import possible_answer

DOMAINS: dict[str, ModuleType] = {
    m.NAME: m for m in (banking, calendar, travel, files, units_weather, shopping)
}
TASK_KINDS = ("single", "parallel", "multiple", "irrelevance", "multi_step")
MAX_DRAWS = 100
"""How often the generator draws again when a canonical answer fails on its initial state."""

_names = [t.name for m in DOMAINS.values() for t in m.TOOLS]
assert len(_names) == len(set(_names)), "tool names must be unique across domains"
_keys = [k for m in DOMAINS.values() for k in m.initial_state(random.Random(0), "train")]
assert len(_keys) == len(set(_keys)), "state keys must be unique across domains"


def template_fields(template: str) -> frozenset[str]:
    """The argument names a template's ``{slots}`` use (``{span[start]}`` uses ``span``)."""
    fields = set()
    for _, field, _, _ in string.Formatter().parse(template):
        if field:
            fields.add(field.split("[", 1)[0].split(".", 1)[0])
    return frozenset(fields)


def _phrase(value: Any) -> Any:
    """Lists read as ``a, b and c`` in a query; objects stay objects (templates index them: ``{span[start]}``)."""
    if isinstance(value, list):
        items = [str(v) for v in value]
        return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"
    return value


def render(module: ModuleType, tool_name: str, arguments: dict[str, Any], rng: random.Random) -> str:
    """A query for one call: one of the tool's templates whose slots are exactly the call's arguments."""
    fits = [t for t in module.TEMPLATES[tool_name] if template_fields(t) == set(arguments)]
    if not fits:
        raise KeyError(f"{module.NAME}.{tool_name} has no template for the arguments {sorted(arguments)}")
    return rng.choice(fits).format(**{k: _phrase(v) for k, v in arguments.items()})


def _request(module: ModuleType, tool: Tool, rng: random.Random, split: str) -> tuple[str, dict]:
    arguments = module.sample_arguments(tool.name, rng, split)
    return render(module, tool.name, arguments, rng), possible_answer(tool, arguments)


def _draw(domain: str, kind: str, rng: random.Random,
          split: str) -> tuple[tuple[Tool, ...], str, tuple, dict, frozenset]:
    """``(tools, query, answers, state, derived)``; raises `multi_step.RequestDoesNotFit` when the world does not
    support a drawn multi-step request."""
    module = DOMAINS[domain]
    tools = tuple(module.TOOLS)
    state = module.initial_state(rng, split)
    derived: frozenset[tuple[int, str]] = frozenset()
    if kind == "single":
        query, answer = _request(module, rng.choice(tools), rng, split)
        answers = (answer,)
    elif kind == "parallel":
        first, second = rng.sample(tools, 2)
        query_1, answer_1 = _request(module, first, rng, split)
        query_2, answer_2 = _request(module, second, rng, split)
        query, answers = f"{query_1} Also, {query_2[0].lower()}{query_2[1:]}", (answer_1, answer_2)
    elif kind == "multiple":
        query, answer = _request(module, rng.choice(tools), rng, split)
        answers = (answer,)
        others = [d for d in DOMAINS if d != domain]
        offered = list(tools)
        for other in rng.sample(others, min(len(others), rng.randint(1, 2))):
            offered += DOMAINS[other].TOOLS
            state.update(DOMAINS[other].initial_state(rng, split))
        rng.shuffle(offered)
        tools = tuple(offered)
    elif kind == "irrelevance":
        query, answers = rng.choice(module.IRRELEVANT_QUERIES), ()
    elif kind == "multi_step":
        query, answers, derived = multi_step.draw(module, rng, state, split)
    else:
        raise ValueError(f"unknown task kind {kind!r}; choose from {TASK_KINDS}")
    return tools, query, answers, state, derived


def make_task(domain: str, kind: str, rng: random.Random, split: str = "train") -> Task:
    """Draw one task of ``kind`` from ``domain``; ``split`` ("train" or "test") keeps string values apart."""
    if domain not in DOMAINS:
        raise ValueError(f"unknown domain {domain!r}; available: {sorted(DOMAINS)}")
    if kind not in TASK_KINDS:
        raise ValueError(f"unknown task kind {kind!r}; choose from {TASK_KINDS}")
    for _ in range(MAX_DRAWS):
        try:
            tools, query, answers, state, derived = _draw(domain, kind, rng, split)
        except multi_step.RequestDoesNotFit:
            continue
        task = Task(id="", tools=tools, query=query, answers=answers, initial_state=state, domain=domain, kind=kind)
        if all(result.ok for result in execute(task.target_calls(), tools, task.fresh_state())):
            break
    else:
        raise RuntimeError(f"no {domain}/{kind} task whose answer runs on its world in {MAX_DRAWS} draws")
    return Task(
        id=f"{domain}/{kind}/{rng.getrandbits(32):08x}", tools=tools, query=query, answers=answers,
        initial_state=state, domain=domain, kind=kind, ordered=bool(derived), derived=derived,
    )


@dataclass(frozen=True)
class DomainTasks:
    """A task source over built-in domains: ``sample(rng)`` draws a domain, a kind and a task."""

    domains: tuple[str, ...] = tuple(DOMAINS)
    kinds: tuple[str, ...] = ("single", "single", "parallel", "multiple", "irrelevance")
    split: str = "train"

    def __post_init__(self) -> None:
        unknown = [d for d in self.domains if d not in DOMAINS]
        if unknown:
            raise ValueError(f"unknown domain(s) {unknown}; available: {sorted(DOMAINS)}")
        unknown = [k for k in self.kinds if k not in TASK_KINDS]
        if unknown or not self.kinds:
            raise ValueError(f"unknown or no task kind(s) {unknown}; choose from {TASK_KINDS}")

    def sample(self, rng: random.Random) -> Task:
        return make_task(rng.choice(self.domains), rng.choice(self.kinds), rng, self.split)
