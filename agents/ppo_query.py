"""PPO for the query model, CleanRL style: one file, top to bottom.

The query model (``query_0``) rewrites a task's seed query so that a frozen FC model (``fc_0``) fails while the
request still asks for exactly the target calls. It earns +1 when the FC model fails, -1 when it succeeds and
``invalid_penalty`` when the validity gate rejects the query. Every valid query that beat the FC model is
returned as adversarial data. With ``ppo.imitation_coef`` it also imitates its own winning queries so far in the
phase (self-imitation: wins are rare, and PPO's clipped step moves little toward each).

Run alone (Hydra overrides)::

    python -m agents.ppo_query iterations=20 batch_size=32 opponent.kind=keyword
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import hydra
from hydra.core.config_store import ConfigStore
from tqdm import trange

from agents.base import Sample
from agents.factory import TINY_MAX_NEW_TOKENS
from agents.ppo import Learner, TrainerArgs, prepare, run_from_cli, training_batch
from agents.rollout import Episode, lost_to_valid_queries, play_duels
from agents.runs import RunLogger
from envs.tool_duel import QUERY


@dataclass
class Args(TrainerArgs):
    policy: dict[str, Any] = field(default_factory=lambda: {"kind": "tiny", "role": "query",
                                                               "max_new_tokens": TINY_MAX_NEW_TOKENS})
    """The query model to train (an `agents.factory` spec of an LM agent)."""
    opponent: dict[str, Any] = field(default_factory=lambda: {"kind": "keyword"})
    """The frozen FC model (any `agents.factory` spec)."""


def winning_samples(episodes: list[Episode]) -> list[Sample]:
    """The query model's own samples of the valid queries that beat the FC model, once per task and query."""
    return [episode.samples[0] for episode in lost_to_valid_queries(episodes) if episode.samples]


def train(args: Args, learner: Learner | None = None, opponent=None, logger: RunLogger | None = None,
          first_step: int = 0) -> tuple[Learner, list[Episode]]:
    """Train the query model for ``args.iterations``; returns the learner and every episode played. With
    ``ppo.imitation_coef``, every update also imitates the winning queries of the phase so far."""
    learner, opponent, logger, envs = prepare(args, learner, opponent, logger, first_step)
    history, shown = [], []
    for iteration in trange(args.iterations, desc="ppo_query", unit="iter", leave=False):
        step = first_step + iteration
        episodes = play_duels(envs, args.episode_seeds(step), learner.agent, opponent, trained=QUERY)
        if args.ppo.imitation_coef:
            shown += winning_samples(episodes)
        stats = learner.update(*training_batch(episodes, QUERY, args.group_size), shown)
        valid = [e for e in episodes if e.query_valid]
        logger.log(step, {"role": "query", **{f"query/{k}": v for k, v in stats.items()},
                          "query/valid_rate": len(valid) / len(episodes),
                          "query/mean_reward": sum(e.rewards[QUERY] for e in episodes) / len(episodes),
                          "query/demonstrations": len(shown),
                          "fc/success": sum(e.fc_correct for e in valid) / max(1, len(valid))})
        history.extend(episodes)
    return learner, history


ConfigStore.instance().store(name="ppo_query", node=Args)


@hydra.main(version_base=None, config_name="ppo_query")
def main(config) -> None:
    run_from_cli(config, train)


if __name__ == "__main__":
    main()
