"""OpenAIAgent against real sockets: a refused port, a silent server, and (in CI) llama.cpp's real server."""

from __future__ import annotations

import json
import os
import socket
import threading
import time

import pytest

from agents.openai_compat import EndpointError, OpenAIAgent
from envs.domains import DomainTasks
from envs.tool_duel import FC, QUERY, decode_observation, parallel_env
from fcgym import parse_calls

SERVER_URL = os.environ.get("FCGYM_OPENAI_BASE_URL")
# llama.cpp turns tool schemas into a grammar and fails on JSON-Schema "pattern" (used by the calendar, travel
# and files domains) and then stops answering: the endpoint tests draw banking-only tasks.
BANKING = DomainTasks(domains=("banking",), kinds=("single", "parallel", "irrelevance"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_refused_endpoint_gives_a_clear_typed_error_quickly():
    agent = OpenAIAgent(f"http://127.0.0.1:{free_port()}/v1", "m", max_retries=0, timeout=5)
    started = time.monotonic()
    with pytest.raises(EndpointError, match="cannot reach"):
        agent.act([{"role": "user", "content": "hi"}], [])
    assert time.monotonic() - started < 5


def test_silent_endpoint_times_out_instead_of_hanging():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted = []
    threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True).start()
    agent = OpenAIAgent(f"http://127.0.0.1:{listener.getsockname()[1]}/v1", "m", max_retries=0, timeout=1.0)
    started = time.monotonic()
    with pytest.raises(EndpointError, match="did not answer"):
        agent.act([{"role": "user", "content": "hi"}], [])
    assert time.monotonic() - started < 5
    listener.close()


@pytest.fixture(scope="module")
def server_agent():
    if not SERVER_URL:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must start the llama.cpp server and set FCGYM_OPENAI_BASE_URL (see .ci/run)")
        pytest.skip("no OpenAI-compatible server: set FCGYM_OPENAI_BASE_URL (CI starts llama.cpp's server)")
    return OpenAIAgent(SERVER_URL, os.environ.get("FCGYM_OPENAI_MODEL", "smollm2"), max_tokens=64, timeout=120)


def test_real_server_answers_with_tool_calls_the_core_parser_reads(server_agent):
    env = parallel_env(tasks=BANKING)
    observations, _ = env.reset(seed=0)
    task = env.duel.task
    observations, *_ = env.step({QUERY: task.query, FC: ""})
    reply = server_agent.act(*decode_observation(observations[FC]))
    calls = parse_calls(reply)  # a reply is either calls or text; unreadable output would raise
    assert all(call.name for call in calls)


def test_real_server_plays_both_roles_in_tool_duel(server_agent):
    from agents.rollout import play_duels

    episodes = play_duels([parallel_env(tasks=BANKING) for _ in range(2)], [1, 2], server_agent, server_agent)
    for episode in episodes:
        assert isinstance(episode.query, str) and episode.rewards
        json.dumps(episode.record())


def test_ppo_trains_the_fc_model_against_an_endpoint_opponent_from_config(server_agent, tmp_path):
    """The frozen side's rollouts come from the server, chosen by config alone (``opponent.kind=openai``)."""
    from agents import ppo_fc

    opponent = {"kind": "openai", "base_url": SERVER_URL, "model": os.environ.get("FCGYM_OPENAI_MODEL", "smollm2"),
                "max_tokens": 64, "timeout": 120}
    args = ppo_fc.Args(iterations=1, batch_size=2, run_dir=str(tmp_path), opponent=opponent,
                       tasks={"domains": list(BANKING.domains), "kinds": list(BANKING.kinds)},
                       policy={"kind": "tiny", "role": "fc", "max_new_tokens": 32})
    learner, episodes = ppo_fc.train(args)
    assert len(episodes) == 2 and all(isinstance(e.query, str) and e.rewards for e in episodes)
    assert (tmp_path / "metrics.jsonl").read_text().count("fc/success") == 1
