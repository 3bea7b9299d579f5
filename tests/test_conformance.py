"""fcgym.test on the project's own domains, agents and env; and it catches what it should."""

import random

import pytest

from agents.factory import build_agent
from agents.scripted import KeywordFC, ScriptedAdversary
from envs.domains import DOMAINS, make_task
from envs.tool_duel import FC, QUERY, parallel_env
from fcgym import tool
from fcgym.test import agent_test, episode_seed_test, tool_test


@pytest.mark.parametrize("name", sorted(DOMAINS))
def test_every_domain_passes_tool_test(name):
    rng = random.Random(0)
    for _ in range(20):
        task = make_task(name, "single", rng)
        (call,) = task.target_calls()
        tool_test(DOMAINS[name].TOOLS, {call.name: [call.arguments]}, task.initial_state)


def test_tool_test_catches_a_tool_that_mutates_the_callers_state():
    shared = {"items": []}

    @tool("Adds an item.", item={"type": "string"})
    def add(state, item):
        shared["items"].append(item)  # changes the world behind the sandbox's back
        state["items"].append(item)

    with pytest.raises(AssertionError):
        tool_test((add,), {"add": [{"item": "x"}]}, shared)


PROMPT = ([{"role": "user", "content": "Freeze my travel card."}], [t.schema() for t in DOMAINS["banking"].TOOLS])


@pytest.mark.parametrize("spec", [{"kind": "keyword"}, {"kind": "tiny", "role": "fc", "max_new_tokens": 32}])
def test_agents_pass_agent_test(spec):
    agent_test(build_agent(spec), *PROMPT)


def test_agent_test_catches_an_unseeded_agent():
    class Restless:
        def __init__(self):
            self.rng = random.Random()

        def reset(self, seed):
            pass

        def act(self, messages, tools):
            return str(self.rng.random())

    with pytest.raises(AssertionError, match="reset"):
        agent_test(Restless(), *PROMPT)


def test_tool_duel_replays_whole_episodes_with_sampling_agents():
    episode_seed_test(lambda: parallel_env(max_turns=2), {QUERY: ScriptedAdversary(), FC: KeywordFC()})
    episode_seed_test(lambda: parallel_env(max_turns=3))


def test_episode_seed_test_catches_randomness_after_the_first_step():
    class LateNoise:
        def act(self, messages, tools):
            return random.choice(["[]", "nothing"]) if messages and messages[-1]["role"] != "system" else ""

    with pytest.raises(AssertionError, match="differ"):
        episode_seed_test(lambda: parallel_env(max_turns=3), {QUERY: ScriptedAdversary(), FC: LateNoise()},
                          seeds=tuple(range(10)))
