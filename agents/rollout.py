"""Play many ToolDuel episodes in lockstep, batching each side's replies, and keep what happened.

Trainers, self-play evaluation and the benchmark all play through `play_duels`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from agents.base import Agent, Sample, act_batch
from envs.tool_duel import FC, QUERY, decode_observation, parallel_env
from fcgym import Task, Verdict


class OneTask:
    """A task source that always serves one task: the caller, not the env, decides which task is played."""

    def __init__(self, task: Task):
        self.task = task

    def sample(self, rng: random.Random) -> Task:
        return self.task


@dataclass
class Episode:
    """One finished duel: the task, both sides' text, the outcome, and the trained side's samples."""

    task_id: str
    domain: str
    kind: str
    seed_query: str
    target_calls: list[dict]
    tools_json: str = "[]"
    """The tool schemas on offer, as JSON text (shared between episodes with the same tools)."""
    query: str = ""
    query_valid: bool = False
    fc_replies: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    rewards: dict[str, float] = field(default_factory=dict)
    samples: list[Sample] = field(default_factory=list)
    task: Task | None = None
    """The task itself (tools with their code, possible answers), for trainers that need more than the record."""

    @property
    def verdict(self) -> Verdict | None:
        """The check of the FC model's calls (None when the query was invalid)."""
        return self.info.get("verdict")

    @property
    def fc_correct(self) -> bool:
        return self.verdict is not None and self.verdict.valid

    def record(self) -> dict[str, Any]:
        """A JSON-ready summary (no token ids)."""
        return {
            "task_id": self.task_id, "domain": self.domain, "kind": self.kind, "seed_query": self.seed_query,
            "target_calls": self.target_calls, "query": self.query, "query_valid": self.query_valid,
            "fc_replies": self.fc_replies, "verdict": self.verdict and self.verdict.to_dict(), "rewards": self.rewards,
        }


def lost_to_valid_queries(episodes: list[Episode]) -> list[Episode]:
    """The episodes whose valid query beat the FC model, once per task and query."""
    lost = {(e.task.id, e.query): e for e in episodes if e.query_valid and not e.fc_correct}
    return list(lost.values())


def play_duels(envs: list[parallel_env], seeds: list[int], query_agent: Agent, fc_agent: Agent,
               trained: str | None = None) -> list[Episode]:
    """Play one episode in each env; ``trained`` names the role whose replies are sampled for PPO.

    ``query_agent=None`` skips the attack: the seed query is sent unchanged (clean evaluation). While a side
    trains, its frozen opponent answers identical observations once: the envs of a PPO group (one task) face one
    query, so their rewards differ only by the trained side's replies. Otherwise every episode is played apart.
    """
    observations = [env.reset(seed=seed)[0] for env, seed in zip(envs, seeds)]
    episodes = []
    for env in envs:
        task = env.duel.task
        episodes.append(Episode(task.id, task.domain, task.kind, task.query, [c.to_dict() for c in task.target_calls()],
                                tools_json=env.duel.tools_json, task=task))
    live = list(range(len(envs)))
    while live:
        for role, agent in ((QUERY, query_agent), (FC, fc_agent)):
            movers = [i for i in live if envs[i].agent_to_move == role]
            if not movers:
                continue
            prompts = [decode_observation(observations[i][role]) for i in movers]
            if role == QUERY and agent is None:
                texts = [episodes[i].seed_query for i in movers]
            elif role == trained:
                samples = agent.sample(prompts)
                texts = [sample.text for sample in samples]
                for i, sample in zip(movers, samples):
                    episodes[i].samples.append(sample)
            elif trained is not None:  # the frozen opponent of a trainer
                texts = _reply_once_per_prompt(agent, prompts, [observations[i][role] for i in movers])
            else:
                texts = act_batch(agent, prompts)
            for i, text in zip(movers, texts):
                episode = episodes[i]
                if role == QUERY:
                    episode.query = text
                else:
                    episode.fc_replies.append(text)
                observations[i], rewards, terminations, _, infos = envs[i].step({QUERY: text if role == QUERY else "",
                                                                                 FC: text if role == FC else ""})
                if all(terminations.values()):
                    episode.rewards, episode.info = rewards, infos[FC]
                    episode.query_valid = bool(infos[FC].get("query_valid"))
        live = [i for i in live if envs[i].agent_to_move is not None]
    return episodes


def _reply_once_per_prompt(agent: Agent, prompts: list, observations: list[dict[str, str]]) -> list[str]:
    """``agent``'s reply to each prompt, asked once per distinct observation and shared by its repeats."""
    first: dict[tuple[str, str], int] = {}
    keys = [(observation["messages"], observation["tools"]) for observation in observations]
    for index, key in enumerate(keys):
        first.setdefault(key, index)
    replies = dict(zip(first.values(), act_batch(agent, [prompts[i] for i in first.values()])))
    return [replies[first[key]] for key in keys]
