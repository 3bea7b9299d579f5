"""Gymnasium single-agent views of ToolDuel: play one side against a frozen opponent.

| id                           | you play  | the opponent (``opponent=``)                         |
|------------------------------|-----------|------------------------------------------------------|
| ``fcgym/FCvsAdversary-v0``   | ``fc_0``  | a query agent; default: none (the seed query as is)  |
| ``fcgym/AdversaryVsFC-v0``   | ``query_0``| an FC agent; default: ``agents.scripted:KeywordFC`` |

An opponent is any object with ``act(messages, tools) -> str`` (see `agents.base`), or a
``"module:Class"`` string naming such a class. If it has ``reset(seed)``, it is re-seeded from the env's seed
at every reset, so a sampling LM opponent keeps episodes reproducible. Observations, actions, rewards and
``info`` are ToolDuel's (see `envs.tool_duel`).

``FCvsAdversary`` redraws the task (up to ``max_redraws`` times) when the opponent's query is invalid, and then
falls back to the seed query, so every episode gives the FC model a valid request.
"""

from __future__ import annotations

import importlib
from typing import Any

import gymnasium

from envs.tool_duel import FC, QUERY, decode_observation, parallel_env


def _resolve(opponent: Any) -> Any:
    if isinstance(opponent, str):
        module, _, name = opponent.partition(":")
        return getattr(importlib.import_module(module), name)()
    return opponent


class _View(gymnasium.Env):
    metadata = {"render_modes": ["ansi"], "render_fps": 1}
    player = ""

    def __init__(self, opponent: Any = None, render_mode: str | None = None, **duel_kwargs: Any):
        self.opponent = _resolve(opponent)
        self.duel = parallel_env(render_mode=render_mode, **duel_kwargs)
        self.observation_space = self.duel.observation_space(self.player)
        self.action_space = self.duel.action_space(self.player)
        self.render_mode = render_mode

    def _opponent_acts(self, observation: dict[str, str]) -> str:
        return self.opponent.act(*decode_observation(observation))

    def _reset_duel(self, seed: int | None) -> dict[str, dict[str, str]]:
        episode_seed = int(self.np_random.integers(2**31)) if seed is None else seed
        if hasattr(self.opponent, "reset"):
            self.opponent.reset(episode_seed)
        observations, _ = self.duel.reset(seed=episode_seed)
        return observations

    def _step_duel(self, player: str, action: str):
        other = FC if player == QUERY else QUERY
        return self.duel.step({player: action, other: ""})

    def render(self) -> str | None:
        return self.duel.render()


class FCvsAdversary(_View):
    """You are the FC model; the frozen opponent writes the queries."""

    player = FC

    def __init__(self, opponent: Any = None, max_redraws: int = 5, **kwargs: Any):
        super().__init__(opponent, **kwargs)
        self.max_redraws = max_redraws

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        for attempt in range(self.max_redraws + 1):
            observations = self._reset_duel(None if seed is None else seed + attempt)
            seed_query_only = self.opponent is None or attempt == self.max_redraws
            query = self.duel.duel.task.query if seed_query_only else self._opponent_acts(observations[QUERY])
            observations, _, terminations, _, _ = self._step_duel(QUERY, query)
            if not terminations[FC]:
                return observations[FC], {"task_id": self.duel.duel.task.id, "query": query}
        raise RuntimeError("unreachable: the seed query always passes the validity gate")

    def step(self, action: str):
        observations, rewards, terminations, truncations, infos = self._step_duel(FC, action)
        return observations[FC], rewards[FC], terminations[FC], truncations[FC], infos[FC]


class AdversaryVsFC(_View):
    """You are the query model; the frozen opponent answers your queries."""

    player = QUERY

    def __init__(self, opponent: Any = "agents.scripted:KeywordFC", **kwargs: Any):
        super().__init__(opponent, **kwargs)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        observations = self._reset_duel(seed)
        return observations[QUERY], {"task_id": self.duel.duel.task.id}

    def step(self, action: str):
        observations, rewards, terminations, truncations, infos = self._step_duel(QUERY, action)
        while self.duel.agent_to_move == FC:
            observations, rewards, terminations, truncations, infos = self._step_duel(
                FC, self._opponent_acts(observations[FC]))
        return observations[QUERY], rewards[QUERY], terminations[QUERY], truncations[QUERY], infos[QUERY]
