"""Conformance checks to run on your own tools, agents and environments, like ``pettingzoo.test``.

* `tool_test`: schemas compile, serialise and round-trip through the parser; good calls run and bad ones give
  typed errors that leave the state untouched.
* `agent_test`: an agent answers with text, batches consistently, and replays its answers after ``reset(seed)``.
* `episode_seed_test`: a PettingZoo parallel env replays *whole* episodes under the same seed (PettingZoo's own
  ``parallel_seed_test`` stops after the first step, so randomness that starts later goes unseen).

Each raises ``AssertionError`` with the first thing that is wrong. None of them imports a model library.
"""

from __future__ import annotations

import copy
import json
from typing import Any, Callable

from fcgym.calls import parse_calls
from fcgym.sandbox import Sandbox, execute
from fcgym.tools import Call, Tool


def tool_test(tools: tuple[Tool, ...] | list[Tool], good_arguments: dict[str, list[dict[str, Any]]],
              state: dict[str, Any], sandbox: Sandbox | None = None) -> None:
    """Check every tool; ``good_arguments`` maps tool names to argument sets that must succeed on ``state``."""
    names = [tool.name for tool in tools]
    assert len(set(names)) == len(names), f"tool names repeat: {names}"
    for tool in tools:
        schema = json.loads(json.dumps(tool.schema()))
        assert schema["function"]["name"] == tool.name and tool.description, f"{tool.name}: incomplete schema"
        bogus = execute([Call(tool.name, {"__not_a_parameter__": 1})], tuple(tools), copy.deepcopy(state), sandbox)
        assert bogus[0].error_type == "ToolArgumentError", f"{tool.name}: an unknown parameter was accepted"
        for arguments in good_arguments.get(tool.name, []):
            call = Call(tool.name, arguments)
            assert parse_calls(json.dumps([call.to_dict()])) == [call], f"{tool.name}: the call does not round-trip"
            before = copy.deepcopy(state)
            world = copy.deepcopy(state)
            (result,) = execute([call], tuple(tools), world, sandbox)
            assert result.ok, f"{tool.name}({arguments}) failed: {result.error}"
            json.loads(result.output)
            assert state == before, f"{tool.name}: the caller's state was changed through a shared reference"


def agent_test(agent: Any, messages: list[dict], tools: list[dict], seed: int = 0) -> None:
    """Check that ``agent`` plays by the Agent protocol (see `agents.base`)."""
    reply = agent.act(messages, tools)
    assert isinstance(reply, str), f"act must return str, got {type(reply).__name__}"
    if hasattr(agent, "act_batch"):
        replies = agent.act_batch([(messages, tools)] * 2)
        assert isinstance(replies, list) and len(replies) == 2, "act_batch must return one reply per prompt"
        assert all(isinstance(r, str) for r in replies), "act_batch must return strings"
    if hasattr(agent, "reset"):
        agent.reset(seed)
        first = agent.act(messages, tools)
        agent.reset(seed)
        assert agent.act(messages, tools) == first, "the same reset(seed) must give the same reply"


def _play(env: Any, seed: int, policies: dict[str, Any], max_steps: int) -> list[Any]:
    observations, infos = env.reset(seed=seed)
    trajectory: list[Any] = [observations, infos]
    for agent in env.possible_agents:
        env.action_space(agent).seed(seed)
    for _ in range(max_steps):
        if not env.agents:
            break
        actions = {}
        for agent in env.agents:
            policy = policies.get(agent)
            if policy is None:
                actions[agent] = env.action_space(agent).sample()
            else:
                messages = json.loads(observations[agent]["messages"])
                tools = json.loads(observations[agent]["tools"])
                actions[agent] = policy.act(messages, tools) if messages else ""  # no messages: not to move
        step = env.step(actions)
        observations = step[0]
        trajectory.append((actions, *step))
    return trajectory


def episode_seed_test(env_fn: Callable[[], Any], policies: dict[str, Any] | None = None,
                      seeds: tuple[int, ...] = (0, 1, 2), max_steps: int = 100) -> None:
    """Play each seed in two fresh envs and require identical whole episodes.

    ``policies`` maps agent names to agents (re-seeded with the episode seed when they have ``reset``) that are
    asked only when their observation has messages; other agents act with their action space's seeded ``sample()``.
    """
    policies = policies or {}
    for seed in seeds:
        trajectories = []
        for _ in range(2):
            for policy in policies.values():
                if hasattr(policy, "reset"):
                    policy.reset(seed)
            trajectories.append(_play(env_fn(), seed, policies, max_steps))
        first, second = trajectories
        for index, (a, b) in enumerate(zip(first, second)):
            assert a == b, f"seed {seed}: episodes differ at step {index - 1}: {a!r} != {b!r}"
        assert len(first) == len(second), f"seed {seed}: episodes differ in length"
