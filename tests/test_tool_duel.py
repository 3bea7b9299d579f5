"""envs.tool_duel: PettingZoo's own API tests, scripted episodes in both APIs, seeding and spaces."""

from __future__ import annotations

import json
import random

import pytest
from pettingzoo.test import api_test, parallel_api_test, parallel_seed_test, seed_test

from envs import TOOL_DUEL_ID, make
from envs.domains import DomainTasks, make_task
from envs.tool_duel import (
    FC,
    QUERY,
    decode_observation,
    env,
    fc_messages,
    messages_json,
    parallel_env,
    query_messages,
    query_prompt,
    tools_json,
)

SEED = 5


class SingleCalls:
    """A task source of single-call banking tasks (so that one scripted answer is the right one)."""

    def sample(self, rng: random.Random):
        return make_task("banking", "single", rng)


WRONG_CALLS = json.dumps([{"name": "no_such_tool", "arguments": {}}])


def read_target(observation: dict) -> tuple[str, str]:
    """(correct calls as JSON text, seed query) from the observation of ``query_0``."""
    messages, _ = decode_observation(observation)
    content = messages[-1]["content"]
    targets, seed_query = content.split("\nSeed query: ")
    return targets.removeprefix("Target calls: "), seed_query


# --------------------------------------------------------------------------------- pettingzoo tests


def test_pettingzoo_api_test():
    api_test(env(), num_cycles=200)


def test_pettingzoo_parallel_api_test():
    parallel_api_test(parallel_env(), num_cycles=200)


def test_pettingzoo_seed_test():
    seed_test(env, num_cycles=200)


def test_pettingzoo_parallel_seed_test():
    parallel_seed_test(parallel_env, num_cycles=200)


def test_make_by_id():
    assert isinstance(make(TOOL_DUEL_ID), parallel_env)
    assert make(TOOL_DUEL_ID, parallel=False).unwrapped.metadata["name"] == "tool_duel_v0"


def test_max_turns_must_be_positive_and_scoring_known():
    with pytest.raises(ValueError, match="max_turns"):
        parallel_env(max_turns=0)
    with pytest.raises(ValueError, match="scoring must be one of"):
        env(scoring="vibes")


# ------------------------------------------------------------------------------ scripted AEC episode


def play_aec(fc_replies, query=None, seed=SEED, **kwargs):
    """Play one AEC episode; returns (env, observations seen by the agent to move, the correct answer)."""
    game = env(tasks=SingleCalls(), **kwargs)
    game.reset(seed=seed)
    assert game.agent_selection == QUERY
    observation, reward, termination, truncation, info = game.last()
    assert (reward, termination, truncation) == (0.0, False, False)
    answer, seed_query = read_target(observation)
    seen = [observation]
    game.step(seed_query if query is None else query)
    for reply in fc_replies:
        if game.agent_selection != FC or game.terminations[FC]:
            break
        seen.append(game.observe(FC))
        game.step(answer if reply == "CORRECT" else reply)
    return game, seen, answer


def finish_aec(game):
    """Step the terminated agents out, as an AEC loop does; returns their final rewards."""
    assert all(game.terminations.values())
    final = {}
    for agent in game.agent_iter():
        _, reward, termination, _, _ = game.last()
        assert termination
        final[agent] = reward
        game.step(None)
    assert game.agents == []
    return final


def test_aec_correct_answer():
    game, seen, answer = play_aec(["CORRECT"])
    messages, tools = decode_observation(seen[1])
    assert [m["role"] for m in messages] == ["system", "user"]
    assert {t["function"]["name"] for t in tools} >= {"transfer", "get_balance"}
    assert game.infos[FC]["query_valid"] is True
    assert game.infos[FC]["verdict"].to_dict() == {"valid": True, "error_type": None, "errors": []}
    assert game.infos[QUERY]["calls"] == json.loads(answer)
    assert game.infos[QUERY]["turns"] == 1
    assert finish_aec(game) == {QUERY: -1.0, FC: 1.0}


def test_aec_wrong_answer():
    game, _, _ = play_aec([WRONG_CALLS])
    assert game.infos[FC]["verdict"].error_type == "wrong_function"
    assert finish_aec(game) == {QUERY: 1.0, FC: -1.0}


def test_aec_abstaining_on_a_relevant_task_is_wrong():
    game, _, _ = play_aec(["I would rather not."])
    assert game.infos[FC]["verdict"].error_type == "no_call"
    assert finish_aec(game) == {QUERY: 1.0, FC: -1.0}


def test_aec_invalid_query_ends_the_episode():
    game, seen, _ = play_aec(["CORRECT"], query="Tell me a joke.")
    assert len(seen) == 1  # fc_0 never moved
    info = game.infos[QUERY]
    assert info["query_valid"] is False and info["validity_reasons"] and "verdict" not in info
    assert finish_aec(game) == {QUERY: -1.5, FC: 0.0}


def test_aec_invalid_penalty_is_configurable():
    game, _, _ = play_aec([], query="", invalid_penalty=-3.0)
    assert finish_aec(game) == {QUERY: -3.0, FC: 0.0}


def test_aec_parse_error_is_shown_and_retried():
    game, seen, _ = play_aec(["[transfer(amount=", "CORRECT"], max_turns=2)
    messages, _ = decode_observation(seen[2])
    assert messages[-2] == {"role": "assistant", "content": "[transfer(amount="}
    assert messages[-1]["role"] == "user" and messages[-1]["content"].startswith("Your reply could not be parsed")
    assert game.infos[FC]["verdict"].valid is True and game.infos[FC]["turns"] == 2
    assert finish_aec(game) == {QUERY: -1.0, FC: 1.0}


def test_aec_parse_error_on_the_last_turn_is_a_parse_error_verdict():
    game, _, _ = play_aec(["[transfer(amount="])
    verdict = game.infos[FC]["verdict"]
    assert verdict.error_type == "parse_error" and verdict.errors
    assert finish_aec(game) == {QUERY: 1.0, FC: -1.0}


def test_aec_tool_results_come_back_while_turns_remain():
    game, seen, answer = play_aec(["CORRECT", "Done."], max_turns=3)
    messages, _ = decode_observation(seen[2])
    assert messages[-2]["role"] == "assistant" and messages[-1]["role"] == "tool"
    assert messages[-1]["name"] == json.loads(answer)[0]["name"]
    assert game.infos[FC]["turns"] == 2 and game.infos[FC]["verdict"].valid
    assert finish_aec(game) == {QUERY: -1.0, FC: 1.0}


# ------------------------------------------------------------------------- scripted parallel episode


def play_parallel(fc_replies, query=None, seed=SEED, **kwargs):
    """Play one parallel episode; returns every (observations, rewards, terminations, truncations, infos)."""
    game = parallel_env(tasks=SingleCalls(), **kwargs)
    observations, infos = game.reset(seed=seed)
    assert game.agents == [QUERY, FC]
    answer, seed_query = read_target(observations[QUERY])
    assert decode_observation(observations[FC])[0] == []  # not on the move: no messages
    history = [game.step({QUERY: seed_query if query is None else query, FC: "ignored"})]
    for reply in fc_replies:
        if not game.agents:
            break
        history.append(game.step({QUERY: "ignored", FC: answer if reply == "CORRECT" else reply}))
    return game, history


def test_parallel_correct_answer():
    game, history = play_parallel(["CORRECT"])
    observations, rewards, terminations, truncations, infos = history[0]
    assert rewards == {QUERY: 0.0, FC: 0.0} and not any(terminations.values())
    assert decode_observation(observations[FC])[0][-1]["role"] == "user"
    observations, rewards, terminations, truncations, infos = history[-1]
    assert rewards == {QUERY: -1.0, FC: 1.0}
    assert all(terminations.values()) and not any(truncations.values())
    assert infos[FC]["verdict"].valid and infos[QUERY] == infos[FC]
    infos[QUERY]["note"] = "the caller's own"  # each agent's info is its own dict
    assert "note" not in infos[FC]
    assert game.agents == []


def test_parallel_wrong_answer():
    _, history = play_parallel([WRONG_CALLS])
    assert history[-1][1] == {QUERY: 1.0, FC: -1.0}


def test_parallel_invalid_query():
    game, history = play_parallel(["CORRECT"], query="Tell me a joke.")
    assert len(history) == 1
    _, rewards, terminations, _, infos = history[0]
    assert rewards == {QUERY: -1.5, FC: 0.0} and all(terminations.values())
    assert infos[QUERY]["query_valid"] is False
    assert game.agents == []


def test_parallel_parse_error_is_shown_and_retried():
    _, history = play_parallel(["{not json", "CORRECT"], max_turns=2)
    observations, rewards, terminations, _, _ = history[1]
    assert rewards == {QUERY: 0.0, FC: 0.0} and not any(terminations.values())
    assert decode_observation(observations[FC])[0][-1]["content"].startswith("Your reply could not be parsed")
    assert history[2][1] == {QUERY: -1.0, FC: 1.0}


# ---------------------------------------------------------------------------------- seeds and spaces


def _transcript(history):
    return json.dumps(history, sort_keys=True, default=str)


def test_same_seed_gives_identical_episodes():
    for seed in range(5):
        first = play_parallel(["{bad", "CORRECT", "done"], seed=seed, max_turns=3)[1]
        again = play_parallel(["{bad", "CORRECT", "done"], seed=seed, max_turns=3)[1]
        assert _transcript(first) == _transcript(again)


def test_default_task_source_is_seeded():
    def episode(seed):
        game = parallel_env(max_turns=2)
        observations, _ = game.reset(seed=seed)
        history = [observations]
        while game.agents:
            history.append(game.step({a: "[]" for a in game.agents}))
        return _transcript(history)

    assert episode(1) == episode(1)
    assert len({episode(seed) for seed in range(8)}) > 1


def test_reset_with_the_same_seed_restarts_the_same_episode():
    game = parallel_env(tasks=SingleCalls())
    first, _ = game.reset(seed=9)
    game.step({QUERY: "x", FC: "x"})
    again, _ = game.reset(seed=9)
    assert first == again


def test_spaces_are_the_same_object_on_every_call():
    for game in (parallel_env(), env()):
        for agent in (QUERY, FC):
            assert game.observation_space(agent) is game.observation_space(agent)
            assert game.action_space(agent) is game.action_space(agent)
        observation_space = game.observation_space(FC)
        game.reset(seed=1)
        assert game.observation_space(FC) is observation_space


def test_observations_are_json_and_in_the_space():
    game = parallel_env()
    observations, _ = game.reset(seed=2)
    for agent, observation in observations.items():
        assert game.observation_space(agent).contains(observation)
        messages, tools = json.loads(observation["messages"]), json.loads(observation["tools"])
        assert isinstance(messages, list) and tools and all(t["type"] == "function" for t in tools)
    assert json.loads(observations[QUERY]["messages"])[0]["role"] == "system"


def test_non_ascii_queries_are_accepted():
    game = parallel_env(tasks=SingleCalls())
    observations, _ = game.reset(seed=SEED)
    answer, seed_query = read_target(observations[QUERY])
    query = f"{seed_query} Merci beaucoup — 谢谢 ✓ «{{\"json\": true}}»"
    assert game.action_space(QUERY).contains(query)
    assert game.action_space(FC).contains(answer)
    observations, *_ = game.step({QUERY: query, FC: ""})
    assert decode_observation(observations[FC])[0][-1] == {"role": "user", "content": query}
    _, rewards, *_ = game.step({QUERY: "", FC: answer})
    assert rewards == {QUERY: -1.0, FC: 1.0}


def _answer_episode(scoring, reply_for):
    env = parallel_env(scoring=scoring, tasks=DomainTasks(domains=("banking",), kinds=("single",)))
    for seed in range(200):
        env.reset(seed=seed)
        task = env.duel.task
        if task.target_calls()[0].name == "transfer":
            break
    env.step({"query_0": task.query, "fc_0": ""})
    *_, infos = env.step({"query_0": "", "fc_0": reply_for(task)})
    return infos["fc_0"]["verdict"]


def test_state_scoring_accepts_calls_that_reach_the_target_state_and_rejects_others():
    def right(task):
        return json.dumps([c.to_dict() for c in task.target_calls()])

    def reversed_transfer(task):
        args = dict(task.target_calls()[0].arguments)
        args["from_account"], args["to_account"] = args["to_account"], args["from_account"]
        return json.dumps([{"name": "transfer", "arguments": args}])

    for scoring in ("calls", "state", "both"):
        assert _answer_episode(scoring, right).valid
    for scoring in ("state", "both"):
        verdict = _answer_episode(scoring, reversed_transfer)
        assert not verdict.valid
    assert _answer_episode("state", reversed_transfer).error_type == "state_mismatch"
    assert _answer_episode("calls", reversed_transfer).error_type == "value_error"


def test_shaping_rewards_the_edge_of_ability_and_penalises_repeats():
    env = parallel_env(difficulty_bonus=0.5, diversity_penalty=0.3, tasks=DomainTasks(kinds=("single",)))
    rewards, shaping = [], []
    for _ in range(3):
        env.reset(seed=11)  # the same task and query each time
        task = env.duel.task
        env.step({QUERY: task.query, FC: ""})
        _, reward, _, _, infos = env.step({QUERY: "", FC: json.dumps([c.to_dict() for c in task.target_calls()])})
        rewards.append(reward[QUERY])
        shaping.append(infos[QUERY]["shaping"])
    assert shaping[0] == {"difficulty": 0.5, "diversity": -0.0}  # no history: p = 0.5, nothing to resemble
    assert shaping[1] == {"difficulty": 0.0, "diversity": -0.3}  # FC always right so far; the same query again
    assert rewards == [-1 + 0.5, -1 - 0.3, -1 - 0.3]


def test_no_shaping_by_default_keeps_the_game_zero_sum():
    env = parallel_env()
    env.reset(seed=3)
    task = env.duel.task
    env.step({QUERY: task.query, FC: ""})
    _, reward, _, _, infos = env.step({QUERY: "", FC: "no idea"})
    assert infos[FC]["shaping"] == {} and reward[QUERY] == -reward[FC]


@pytest.mark.parametrize("messages", [
    [],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": 'Pay "Zoë" 5 €\n\ttoday\x00 \u2028'}],
    [{"role": "tool", "name": "get_balance", "content": '{"balance": 12.5}'}, {"role": "assistant", "content": ""}],
    [{"role": "assistant", "content": None}, {"role": "user", "content": 3.5}, {1: "x"}, {"role": "user", "n": [1]}],
    [{"role": "user", "n": 7, "flag": True, "big": -10**30}, {"role": "user", "n": 0, "x": False}],
    [{"args": {"amount": 12.5, "tags": ["a", 1, None, [2.0e-9]], "nested": {"k": {"deep": True}}}}],
    [{"odd": float("nan"), "inf": [float("inf")]}, {"t": (1, "x")}, {"keys": {1: "int key"}}],
])
def test_messages_json_is_json_dumps(messages):
    assert messages_json(messages) == json.dumps(messages)


def test_tools_json_is_json_dumps():
    tools = make_task("banking", "multiple", random.Random(0)).tools
    assert tools_json(tools) == json.dumps([tool.schema() for tool in tools]) and tools_json(()) == "[]"


def test_query_prompt_states_the_calls_as_json_dumps_writes_them():
    rng = random.Random(0)
    for task in (DomainTasks().sample(rng) for _ in range(300)):
        targets = json.dumps([call.to_dict() for call in task.stated_calls()])
        assert query_prompt(task) == f"Target calls: {targets}\nSeed query: {task.query}"


def test_render_shows_the_tool_results_of_the_last_turn():
    env = parallel_env(render_mode="ansi")
    env.reset(seed=0)
    task = env.duel.task
    calls = json.dumps([call.to_dict() for call in task.target_calls()])
    env.step({QUERY: task.query, FC: ""})
    env.step({QUERY: "", FC: calls})
    assert task.answers and "  tool: " in env.render()


def test_the_message_helpers_build_what_each_agent_observes():
    game = parallel_env()
    observations, _ = game.reset(seed=5)
    task = game.duel.task
    assert decode_observation(observations[QUERY])[0] == query_messages(task)
    observations, *_ = game.step({QUERY: task.query, FC: ""})
    assert decode_observation(observations[FC])[0] == fc_messages(task.query)
