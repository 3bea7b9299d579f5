"""ToolDuel: a query model tries to make a function-calling model fail.

A zero-sum two-player game over tool schemas and an executable sandbox (arXiv 2601.19122,
"adversarial data augmentation").

| Import             | ``from envs.tool_duel import env, parallel_env, raw_env``           |
|--------------------|---------------------------------------------------------------------|
| Registered id      | ``fcgym/ToolDuel-v0`` (``envs.make``)                               |
| Actions            | text (`fcgym.spaces.UnicodeText`)                                   |
| Agents             | ``query_0``, ``fc_0``                                               |
| Observation space  | ``Dict(messages=UnicodeText, tools=UnicodeText)``, both JSON text   |
| Action space       | ``UnicodeText(max_action_chars)``                                   |

## Episode

1. ``reset(seed)`` draws a `fcgym.Task` (tools, target calls, seed query, initial state) from ``tasks``.
2. ``query_0`` observes the tools and a user message stating the target calls and the seed query, and
   answers with a new user query. The validity gate (`fcgym.validity.check_query`) checks that it still
   asks for exactly the target calls. An invalid query ends the episode.
3. ``fc_0`` observes the tools and the query as chat messages and answers with tool calls (any form that
   `fcgym.parse_calls` reads) or with plain text (abstaining is right when no tool fits). Parsed calls run
   in the sandbox on the episode's state and their results are appended as ``tool`` messages; ``fc_0``
   keeps the turn until it answers without calls or ``max_turns`` answers are spent. Unreadable output is a
   ``parse_error``: the parser's message is shown to ``fc_0`` while turns remain, never silently repaired.
4. All calls made are checked against the task's possible answers (`fcgym.check`) with ``scoring="calls"``
   (the default); ``"state"`` compares the sandbox state after the FC model's calls with the state the target
   calls produce (`fcgym.checker.check_state`), and ``"both"`` requires both.

In the AEC env only the agent to move acts. In the parallel env every live agent sends an action at every
step, and the action of the agent that is not on the move is ignored (its observation has no messages;
``parallel_env.agent_to_move`` names the one that is).

## Observations

``messages`` is a JSON list of chat messages (``{"role", "content"}``), ``tools`` a JSON list of tool schemas
in OpenAI's format. `decode_observation` turns an observation back into Python lists.

## Rewards

| Outcome                  | ``fc_0``  | ``query_0``                    |
|--------------------------|-----------|--------------------------------|
| FC answer correct        | +1        | -1                             |
| FC answer wrong          | -1        | +1                             |
| query invalid            | 0         | ``invalid_penalty`` (-1.5)     |

Both agents receive their reward at the end of the episode; it is zero-sum except for invalid queries and the
optional shaping of valid queries' rewards (``difficulty_bonus``, ``diversity_penalty``, see `Shaping`; off by
default), whose terms are in ``info["shaping"]``.

## Info

At the end, both agents' info holds ``task_id``, ``query``, ``query_valid``, ``validity_reasons``, ``calls``,
``verdict`` (the `fcgym.Verdict`: ``valid``, ``error_type``, ``errors``, formatted when read; ``to_dict()``) and
``turns``.

## Arguments

``tasks`` (a source with ``sample(random.Random) -> Task``; default: every built-in domain, train split),
``max_turns`` (1), ``invalid_penalty`` (-1.5), ``max_action_chars`` (8192), ``sandbox`` (in-process),
``scoring`` ("calls", "state" or "both"), ``difficulty_bonus`` (0), ``diversity_penalty`` (0).

## Version history

* v0: first release.
"""

from __future__ import annotations

import functools
import json
import math
import random
from collections import deque
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii as _json_string
from typing import Any

from gymnasium.spaces import Dict
from pettingzoo import AECEnv, ParallelEnv
from pettingzoo.utils import wrappers

from envs.domains import DomainTasks
from fcgym import Call, ParseError, Task, Tool, check, execute, parse_calls
from fcgym.checker import Verdict, check_state
from fcgym.sandbox import Sandbox, ToolResult
from fcgym.spaces import UnicodeText
from fcgym.tasks import possible_answer
from fcgym.validity import check_query

QUERY, FC = "query_0", "fc_0"
SCORINGS = ("calls", "state", "both")
AGENTS = (QUERY, FC)
MAX_OBSERVATION_CHARS = 1_000_000

FC_SYSTEM_PROMPT = (
    "You are a function-calling assistant. Answer the user with tool calls as a JSON list of "
    '{"name": ..., "arguments": {...}} objects, or with plain text when no tool fits the request.'
)
QUERY_SYSTEM_PROMPT = (
    "You rewrite user requests for a function-calling assistant. Write one user request that still asks for "
    "exactly the target calls (state every argument value) but is as hard as possible to answer correctly."
)


def fc_messages(query: str) -> list[dict[str, str]]:
    """The chat ``fc_0`` observes first when ``query`` passes the gate (the tools come beside it)."""
    return [{"role": "system", "content": FC_SYSTEM_PROMPT}, {"role": "user", "content": query}]


def query_messages(task: Task) -> list[dict[str, str]]:
    """The chat ``query_0`` observes for ``task`` (the tools come beside it)."""
    return [{"role": "system", "content": QUERY_SYSTEM_PROMPT}, {"role": "user", "content": query_prompt(task)}]


def query_prompt(task: Task) -> str:
    """The user message ``query_0`` sees: the target calls (without omittable arguments) and the seed query."""
    targets = ", ".join(['{"name": ' + _json_string(call.name) + ', "arguments": ' + _object_json(call.arguments) + "}"
                         for call in task.stated_calls(copy=False)])
    return f"Target calls: [{targets}]\nSeed query: {task.query}"


def task_from_query_prompt(messages: list[dict], tools: list[dict]) -> Task:
    """Rebuild the task a ``query_0`` observation describes (tools without implementations).

    Query agents use it to check their own rewrites with `fcgym.validity.check_query`.
    """
    text = messages[-1]["content"]
    targets_line, _, seed_query = text.partition("\nSeed query: ")
    targets = json.loads(targets_line.removeprefix("Target calls: "))
    schemas = tuple(Tool(t["function"]["name"], t["function"].get("description", ""), t["function"]["parameters"])
                    for t in tools)
    by_name = {tool.name: tool for tool in schemas}
    answers = tuple(possible_answer(by_name[c["name"]], c["arguments"]) if c["name"] in by_name
                    else {c["name"]: {k: [v] for k, v in c["arguments"].items()}} for c in targets)
    return Task(id="from-prompt", tools=schemas, query=seed_query, answers=answers)


def decode_observation(observation: dict[str, str]) -> tuple[list[dict], list[dict]]:
    """``(messages, tools)`` from a ToolDuel observation."""
    return json.loads(observation["messages"]), json.loads(observation["tools"])


def messages_json(messages: list[dict[str, Any]]) -> str:
    """``json.dumps(messages)``, several times faster for chat messages whose keys and values are strings."""
    return "[" + ", ".join(map(_object_json, messages)) + "]"


def _object_json(mapping: dict[str, Any]) -> str:
    """``json.dumps(mapping)``, faster for plain JSON data with string keys (anything else: json.dumps)."""
    try:
        return _plain_json(mapping)
    except _NotPlain:
        return json.dumps(mapping)


class _NotPlain(Exception):
    """A value `_plain_json` leaves to json.dumps."""


def _plain_json(value: Any) -> str:
    kind = type(value)
    if kind is str:
        return _json_string(value)
    if kind is int:
        return int.__repr__(value)
    if kind is dict:
        parts = []
        for key, item in value.items():
            if type(key) is not str:
                raise _NotPlain
            parts.append(_json_string(key) + ": " + _plain_json(item))
        return "{" + ", ".join(parts) + "}"
    if kind is list:
        return "[" + ", ".join([_plain_json(item) for item in value]) + "]"
    if kind is float and math.isfinite(value):
        return float.__repr__(value)
    if value is None or kind is bool:
        return "null" if value is None else "true" if value else "false"
    raise _NotPlain


class Transcript:
    """A chat transcript, from its system prompt and first user message, and its JSON text (`messages_json`).

    ``entries`` are chat messages or tools' results (`ToolResult`, read as their ``tool`` messages); append to it.
    Each entry is encoded once, when first observed; tool results become messages only when read: the last turn of
    an episode is never observed."""

    def __init__(self, system_prompt: str, user_message: str):
        self.entries: list[dict[str, Any] | ToolResult] = [{"role": "system", "content": system_prompt},
                                                            {"role": "user", "content": user_message}]
        self._encoded = [_system_object_json(system_prompt), _object_json(self.entries[1])]

    @property
    def messages(self) -> list[dict[str, Any]]:
        return [_as_message(entry) for entry in self.entries]

    def json(self) -> str:
        encoded = self._encoded
        for entry in self.entries[len(encoded):]:
            encoded.append(_object_json(_as_message(entry)))
        return "[" + ", ".join(encoded) + "]"


def _chat_json(system_prompt: str, user_message: str) -> str:
    """`messages_json` of a chat of a system prompt and a user message (the prompt's JSON is kept per prompt)."""
    user = _object_json({"role": "user", "content": user_message})
    return "[" + _system_object_json(system_prompt) + ", " + user + "]"


def _as_message(entry: dict[str, Any] | ToolResult) -> dict[str, Any]:
    return entry.message() if isinstance(entry, ToolResult) else entry


@functools.lru_cache(maxsize=64)
def _system_object_json(prompt: str) -> str:
    return _object_json({"role": "system", "content": prompt})


@functools.lru_cache(maxsize=1024)
def tools_json(tools: tuple[Tool, ...]) -> str:
    """The tools' schemas as JSON text (``json.dumps`` of the list), from each tool's JSON built once per tool.

    Kept per tuple too: a domain's tasks share their tools tuples (tools hash by identity, so this is cheap)."""
    return "[" + ", ".join(map(_tool_json, tools)) + "]"


@functools.lru_cache(maxsize=4096)
def _tool_json(tool: Tool) -> str:
    return json.dumps(tool.schema())


class Shaping:
    """Optional query-reward shaping, remembered across the episodes of one env.

    * difficulty: ``difficulty_bonus * (1 - |2p - 1|)``, where ``p`` is the FC model's recent success rate on the
      task's target tools: largest where the FC model succeeds half the time (the edge of its ability);
    * diversity: ``-diversity_penalty * s``, where ``s`` is the largest character-trigram Jaccard similarity between
      the query and the last ``history`` valid queries: repeating one trick stops paying.
    """

    def __init__(self, difficulty_bonus: float, diversity_penalty: float, history: int = 64):
        self.difficulty_bonus, self.diversity_penalty = difficulty_bonus, diversity_penalty
        self.outcomes: dict[tuple[str, ...], deque[bool]] = {}
        self.recent: deque[frozenset[str]] = deque(maxlen=history)
        self.history = history

    def query_bonus(self, task: Task, query: str, fc_correct: bool) -> dict[str, float]:
        """The shaping terms of a valid query, then remember its outcome and trigrams."""
        tools = tuple(sorted(call.name for call in task.target_calls()))
        outcomes = self.outcomes.setdefault(tools, deque(maxlen=self.history))
        success = sum(outcomes) / len(outcomes) if outcomes else 0.5
        trigrams = frozenset(query[i:i + 3].lower() for i in range(max(1, len(query) - 2)))
        similarity = max((len(trigrams & seen) / len(trigrams | seen) for seen in self.recent), default=0.0)
        outcomes.append(fc_correct)
        self.recent.append(trigrams)
        return {"difficulty": self.difficulty_bonus * (1 - abs(2 * success - 1)),
                "diversity": -self.diversity_penalty * similarity}


@dataclass(frozen=True)
class Rules:
    """The settings every episode of one env plays by (see the module docstring's arguments; the env's are the
    defaults)."""

    max_turns: int
    invalid_penalty: float
    sandbox: Sandbox | None
    scoring: str
    shaping: Shaping | None

    def __post_init__(self):
        if self.max_turns < 1:
            raise ValueError("max_turns must be at least 1")
        if self.scoring not in SCORINGS:
            raise ValueError(f"scoring must be one of {SCORINGS}, got {self.scoring!r}")


class Duel:
    """One ToolDuel episode: its state and the rules' moves, shared by the AEC and parallel envs."""

    def __init__(self, task: Task, rules: Rules):
        self.task, self.rules = task, rules
        self.tools_json = tools_json(task.tools)
        self.state = task.fresh_state()
        self.fc_transcript: Transcript | None = None  # begun by the query, once it passes the gate
        self.to_move: str | None = QUERY
        self.calls: list = []
        self.turns = 0
        self.rewards = {QUERY: 0.0, FC: 0.0}
        self.info: dict[str, Any] = {"task_id": task.id}
        # the JSON chat of the agent to move, once observed (the query model's, two messages, is always observed)
        self._messages: str | None = _chat_json(QUERY_SYSTEM_PROMPT, query_prompt(task))[:MAX_OBSERVATION_CHARS]

    def observations(self) -> dict[str, dict[str, str]]:
        """What each agent sees now: the agent to move its chat (built once between moves: both APIs ask for it
        repeatedly), the other no messages."""
        moving, tools = self.to_move, self.tools_json
        if moving == FC and self._messages is None:
            self._messages = self.fc_transcript.json()[:MAX_OBSERVATION_CHARS]
        return {QUERY: {"messages": self._messages if moving == QUERY else "[]", "tools": tools},
                FC: {"messages": self._messages if moving == FC else "[]", "tools": tools}}

    def play(self, action: str) -> None:
        """Apply the action of the agent to move (``to_move``)."""
        self._messages = None
        if self.to_move == QUERY:
            self._play_query(action)
        else:
            self._play_fc(action)

    def _play_query(self, query: str) -> None:
        validity = check_query(query, self.task)
        info = self.info
        info["query"], info["query_valid"], info["validity_reasons"] = query, validity.valid, list(validity.reasons)
        if not validity.valid:
            self._finish(None)
            return
        self.fc_transcript = Transcript(FC_SYSTEM_PROMPT, query)
        self.to_move = FC

    def _play_fc(self, text: str) -> None:
        self.turns += 1
        entries = self.fc_transcript.entries
        entries.append({"role": "assistant", "content": text})
        try:
            calls = parse_calls(text)
        except ParseError as error:
            if self.turns >= self.rules.max_turns:
                self._finish(Verdict.failed("parse_error", str(error)))
            else:
                entries.append({"role": "user", "content": f"Your reply could not be parsed: {error}"})
            return
        if calls:
            self.calls.extend(calls)
            entries.extend(execute(calls, self.task.tools, self.state, self.rules.sandbox))
            if self.turns < self.rules.max_turns:
                return  # the results go back to fc_0
        self._finish(self._score())

    def _score(self) -> Verdict:
        """The call check, the state check, or both (``scoring``)."""
        scoring = self.rules.scoring
        verdict = check(self.calls, self.task) if scoring != "state" else Verdict.correct()
        if scoring != "calls" and verdict.valid:
            verdict = check_state(self.task, self.state, self.rules.sandbox)
        return verdict

    def _finish(self, verdict: Verdict | None) -> None:
        self.to_move = None
        info = self.info
        info["calls"], info["turns"] = list(map(Call.to_dict, self.calls)), self.turns
        if verdict is None:
            self.rewards = {QUERY: self.rules.invalid_penalty, FC: 0.0}
            return
        fc_reward = 1.0 if verdict.valid else -1.0
        self.rewards = {QUERY: -fc_reward, FC: fc_reward}
        info["shaping"], info["verdict"] = {}, verdict
        if self.rules.shaping:
            info["shaping"] = bonus = self.rules.shaping.query_bonus(self.task, info["query"], verdict.valid)
            self.rewards[QUERY] += sum(bonus.values())


class _ToolDuelBase:
    """Arguments, spaces and seeding shared by both APIs."""

    metadata = {"name": "tool_duel_v0", "render_modes": ["ansi"], "is_parallelizable": True}

    def __init__(self, tasks=None, max_turns: int = 1, invalid_penalty: float = -1.5,
                 max_action_chars: int = 8192, sandbox: Sandbox | None = None, render_mode: str | None = None,
                 scoring: str = "calls", difficulty_bonus: float = 0.0, diversity_penalty: float = 0.0):
        shaping = Shaping(difficulty_bonus, diversity_penalty) if difficulty_bonus or diversity_penalty else None
        self.rules = Rules(max_turns, invalid_penalty, sandbox, scoring, shaping)
        self.tasks = tasks if tasks is not None else DomainTasks()
        self.render_mode = render_mode
        self.possible_agents = list(AGENTS)
        self._observation_space = Dict({"messages": UnicodeText(MAX_OBSERVATION_CHARS),
                                        "tools": UnicodeText(MAX_OBSERVATION_CHARS)})
        self._action_space = UnicodeText(max_action_chars)
        self._rng = random.Random()
        self.duel: Duel | None = None

    def observation_space(self, agent: str) -> Dict:
        return self._observation_space

    def action_space(self, agent: str) -> UnicodeText:
        return self._action_space

    def _new_duel(self, seed: int | None) -> Duel:
        if seed is not None:
            self._rng = random.Random(seed)
            for index, agent in enumerate(AGENTS):
                self._action_space.seed(seed + index)
        self.duel = Duel(self.tasks.sample(self._rng), self.rules)
        return self.duel

    def render(self) -> str | None:
        if self.render_mode != "ansi" or self.duel is None:
            return None
        duel = self.duel
        lines = [f"task {duel.task.id}: {duel.task.query}"]
        if duel.fc_transcript is not None:
            lines += [f"  {m['role']}: {m['content']}" for m in duel.fc_transcript.messages[1:]]
        return "\n".join(lines)

    def close(self) -> None:
        pass


class raw_env(_ToolDuelBase, AECEnv):
    """ToolDuel as a PettingZoo AEC env (see the module docstring)."""

    def reset(self, seed: int | None = None, options: dict | None = None) -> None:
        duel = self._new_duel(seed)
        self.agents = list(AGENTS)
        self.rewards = {agent: 0.0 for agent in self.agents}
        self._cumulative_rewards = {agent: 0.0 for agent in self.agents}
        self.terminations = {agent: False for agent in self.agents}
        self.truncations = {agent: False for agent in self.agents}
        self.infos = {agent: {"task_id": duel.task.id} for agent in self.agents}
        self.agent_selection = duel.to_move

    def observe(self, agent: str) -> dict[str, str]:
        return self.duel.observations()[agent]

    def step(self, action: str) -> None:
        agent = self.agent_selection
        if self.terminations[agent] or self.truncations[agent]:
            self._was_dead_step(action)
            return
        self._cumulative_rewards[agent] = 0.0
        self.duel.play(action)
        if self.duel.to_move is None:
            self.rewards = dict(self.duel.rewards)
            self.terminations = {a: True for a in self.agents}
            self.infos = {a: dict(self.duel.info) for a in self.agents}
            self._accumulate_rewards()
            self.agent_selection = self.agents[0]
        else:
            self.rewards = {a: 0.0 for a in self.agents}
            self.agent_selection = self.duel.to_move


def env(**kwargs) -> AECEnv:
    """The AEC env with PettingZoo's standard wrappers (order enforcing, output checks)."""
    return wrappers.OrderEnforcingWrapper(raw_env(**kwargs))


class parallel_env(_ToolDuelBase, ParallelEnv):
    """ToolDuel as a PettingZoo parallel env (see the module docstring)."""

    @property
    def agent_to_move(self) -> str | None:
        """The agent whose action the next `step` uses (None once the episode is over)."""
        return self.duel.to_move if self.duel else None

    def reset(self, seed: int | None = None, options: dict | None = None):
        duel = self._new_duel(seed)
        self.agents = [QUERY, FC]
        return duel.observations(), {QUERY: {"task_id": duel.task.id}, FC: {"task_id": duel.task.id}}

    def step(self, actions: dict[str, str]):
        duel = self.duel
        if not self.agents:  # the episode is over
            return {}, {}, {}, {}, {}
        moving = duel.to_move
        if moving in actions:
            duel.play(actions[moving])
        done = duel.to_move is None
        if done:
            self.agents = []
        observations = duel.observations()  # both agents live until both are done
        infos = {QUERY: duel.info, FC: dict(duel.info)} if done else {QUERY: {}, FC: {}}  # the duel is over with it
        return observations, dict(duel.rewards), {QUERY: done, FC: done}, {QUERY: False, FC: False}, infos
