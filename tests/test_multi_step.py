"""Multi-step tasks: the second call needs a value that only the first call's result holds."""

from __future__ import annotations

import dataclasses
import json
import posixpath
import random

import pytest

from agents.scripted import ScriptedAdversary
from envs.domains import DOMAINS, DomainTasks, make_task, multi_step
from envs.tool_duel import FC, QUERY, decode_observation, parallel_env
from fcgym import Call, execute
from fcgym.validity import check_query


def _tasks(domain, count=60, split="train"):
    rng = random.Random(f"multi/{domain}/{split}")
    return [make_task(domain, "multi_step", rng, split) for _ in range(count)]


@pytest.mark.parametrize("domain", DOMAINS)
def test_every_domain_offers_multi_step_requests(domain):
    assert DOMAINS[domain].MULTI_STEP
    tasks = _tasks(domain)
    assert all(t.ordered and t.derived and {i for i, _ in t.derived} == {1} for t in tasks)
    assert len({t.query for t in tasks}) > 10


@pytest.mark.parametrize("domain", DOMAINS)
def test_derived_values_come_from_the_first_calls_result(domain):
    """Every derived value of the second call is in what the first target call returns on the initial state."""
    for task in _tasks(domain, 20, "test"):
        first, second = task.target_calls()
        (result,) = execute([first], task.tools, task.fresh_state())
        assert result.ok
        for _, param in task.derived:
            value = second.arguments[param]
            shown = posixpath.basename(value) if isinstance(value, str) else json.dumps(value)
            assert shown in result.output, (param, value, result.output)


@pytest.mark.parametrize("domain", DOMAINS)
def test_derived_values_are_not_stated(domain):
    """Without the derived exemption most seed queries fail the gate: the values are really not in the query."""
    tasks = _tasks(domain)
    failing = [t for t in tasks if not check_query(t.query, dataclasses.replace(t, derived=frozenset())).valid]
    assert len(failing) > 0.6 * len(tasks)
    for task in tasks:  # and the query model's prompt does not reveal them
        for index, param in task.derived:
            assert param not in task.stated_calls()[index].arguments


def test_scripted_rewrites_of_multi_step_tasks_stay_valid():
    rng, adversary = random.Random(0), ScriptedAdversary(seed=0)
    tasks = DomainTasks(kinds=("multi_step",))
    for _ in range(200):
        task = tasks.sample(rng)
        query, _ = adversary.rewrite(task)
        assert check_query(query, task).valid, query


def test_a_domain_without_multi_step_requests_is_a_clear_error():
    class Bare:
        NAME, TOOLS = "bare", ()
    with pytest.raises(ValueError, match="no MULTI_STEP"):
        multi_step.draw(Bare, random.Random(0), {}, "train")


class OneCallPerTurn:
    """Plays the task's target calls one per turn, then says it is done (a model that reads the tool replies)."""

    def __init__(self, calls: list[Call]):
        self.calls = list(calls)

    def act(self, messages, tools):
        if not self.calls:
            return "Done."
        call = self.calls.pop(0)
        return json.dumps([call.to_dict()])


class FixedTasks:
    def __init__(self, task):
        self.task = task

    def sample(self, rng):
        return self.task


def _play(task, fc_replies, max_turns):
    env = parallel_env(tasks=FixedTasks(task), max_turns=max_turns)
    observations, _ = env.reset(seed=0)
    observations, rewards, terminations, _, infos = env.step({QUERY: task.query, FC: ""})
    seen = []
    while not all(terminations.values()):
        messages, _ = decode_observation(observations[FC])
        seen.append(messages)
        observations, rewards, terminations, _, infos = env.step({QUERY: "", FC: fc_replies.act(messages, [])})
    return rewards, infos[FC], seen


@pytest.mark.parametrize("domain", DOMAINS)
def test_tool_duel_plays_multi_step_tasks_over_turns(domain):
    task = _tasks(domain, 1)[0]
    rewards, info, seen = _play(task, OneCallPerTurn(task.target_calls()), max_turns=3)
    assert rewards[FC] == 1.0 and info["verdict"].valid and info["turns"] == 3
    assert seen[1][-1]["role"] == "tool"  # the second turn sees the first call's result
    # one turn is not enough: the episode ends after the first call
    rewards, info, _ = _play(task, OneCallPerTurn(task.target_calls()), max_turns=1)
    assert rewards[FC] == -1.0 and info["verdict"].error_type == "wrong_count"


def test_a_guessed_derived_value_is_wrong():
    task = next(t for t in _tasks("banking") if t.target_calls()[1].name == "transfer")
    first, second = task.target_calls()
    guess = Call(second.name, {**second.arguments, "amount": second.arguments["amount"] + 1})
    rewards, info, _ = _play(task, OneCallPerTurn([first, guess]), max_turns=3)
    assert rewards[FC] == -1.0 and info["verdict"].error_type == "value_error"
