"""The Agent protocol: chat messages and tool schemas in, text out.

Any object with a matching ``act`` method is an agent; nothing needs to subclass anything::

    class EchoAgent:
        def act(self, messages: list[dict], tools: list[dict]) -> str:
            return messages[-1]["content"]

Optional methods that fcgym uses when present:

* ``reset(seed: int | None)``: re-seed any sampling, called at every episode reset by envs and trainers;
* ``act_batch(prompts: list[tuple[list[dict], list[dict]]]) -> list[str]``: answer many prompts at once.

`TrainableAgent` adds what PPO needs: the sampled token ids with their log-probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

Messages = list[dict]
Tools = list[dict]
Prompt = tuple[Messages, Tools]


@runtime_checkable
class Agent(Protocol):
    """Anything that answers a chat (with the tools on offer) with text."""

    def act(self, messages: Messages, tools: Tools) -> str: ...


@dataclass
class Sample:
    """One sampled reply with what PPO needs to learn from it (ids are kept, never re-tokenised)."""

    text: str
    prompt_ids: list[int]
    response_ids: list[int]
    logprobs: list[float]


@runtime_checkable
class TrainableAgent(Agent, Protocol):
    """An agent whose replies can be trained on: ``sample`` returns token ids and log-probabilities."""

    def sample(self, prompts: list[Prompt]) -> list[Sample]: ...


def act_batch(agent: Agent, prompts: list[Prompt]) -> list[str]:
    """Answer ``prompts`` with ``agent.act_batch`` when it has one, else one by one."""
    if hasattr(agent, "act_batch"):
        return agent.act_batch(prompts)
    return [agent.act(messages, tools) for messages, tools in prompts]


def reset_agent(agent: Agent, seed: int | None) -> None:
    """Call ``agent.reset(seed)`` if the agent has it."""
    if hasattr(agent, "reset"):
        agent.reset(seed)
