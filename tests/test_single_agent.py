"""The Gymnasium views pass Gymnasium's own env checker and replay whole episodes under a seed."""

import gymnasium
import pytest
from gymnasium.utils.env_checker import check_env

import envs  # noqa: F401  (registers the ids)
from agents.scripted import KeywordFC, ScriptedAdversary
from envs.tool_duel import decode_observation


@pytest.mark.parametrize("env_id, kwargs", [
    ("fcgym/FCvsAdversary-v0", {}),
    ("fcgym/FCvsAdversary-v0", {"opponent": ScriptedAdversary()}),
    ("fcgym/AdversaryVsFC-v0", {}),
])
def test_gymnasium_check_env_passes(env_id, kwargs):
    check_env(gymnasium.make(env_id, **kwargs).unwrapped, skip_render_check=True)


def play(env_id, seed, player, **kwargs):
    env = gymnasium.make(env_id, **kwargs)
    observation, info = env.reset(seed=seed)
    action = player.act(*decode_observation(observation))
    _, reward, terminated, _, info = env.step(action)
    return observation, action, reward, terminated, info


def test_same_seed_same_episode_with_a_sampling_opponent():
    episodes = [play("fcgym/FCvsAdversary-v0", 7, KeywordFC(), opponent=ScriptedAdversary()) for _ in range(2)]
    assert episodes[0] == episodes[1]
    assert episodes[0][3] is True


def test_adversary_view_scores_the_query_against_the_opponent():
    class Unhelpful:
        def act(self, messages, tools):
            return "I cannot help."

    env = gymnasium.make("fcgym/AdversaryVsFC-v0", opponent=Unhelpful())
    observation, info = env.reset(seed=2)
    messages, _ = decode_observation(observation)
    seed_query = messages[-1]["content"].split("Seed query: ")[1]
    _, reward, terminated, _, info = env.step(seed_query)
    assert terminated and info["query_valid"]
    assert reward == (-1.0 if info["verdict"].valid else 1.0)
    assert info["verdict"].valid == (info["calls"] == [] and "irrelevance" in info["task_id"])


def test_opponent_given_as_a_class_path():
    env = gymnasium.make("fcgym/AdversaryVsFC-v0", opponent="agents.scripted:KeywordFC")
    assert isinstance(env.unwrapped.opponent, KeywordFC)


def test_same_seed_same_episode_with_a_sampling_lm_opponent():
    from agents.factory import build_agent

    def episode():
        opponent = build_agent({"kind": "tiny", "role": "query", "max_new_tokens": 48, "temperature": 1.0})
        return play("fcgym/FCvsAdversary-v0", 5, KeywordFC(), opponent=opponent)

    first, second = episode(), episode()
    assert first == second
    assert first[4]["query_valid"] is True  # the view always hands the FC model a valid request
