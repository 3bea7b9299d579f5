"""PPO for the FC model, CleanRL style: one file, top to bottom.

The FC model (``fc_0``) answers the queries of a frozen adversary (``query_0``) in ToolDuel and earns +1 for
the right calls (or rightly none) and -1 otherwise. Its replies are sampled with their token ids and
log-probabilities, and `agents.ppo.Learner` applies token-level PPO with a KL penalty to the starting model.

Run alone (Hydra overrides)::

    python -m agents.ppo_fc iterations=20 batch_size=32 opponent.kind=scripted
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import hydra
from hydra.core.config_store import ConfigStore
from tqdm import trange

from agents.ppo import Learner, TrainerArgs, prepare, run_from_cli, training_batch
from agents.rollout import Episode, play_duels
from agents.runs import RunLogger
from envs.tool_duel import FC


@dataclass
class Args(TrainerArgs):
    policy: dict[str, Any] = field(default_factory=lambda: {"kind": "tiny", "role": "fc", "max_new_tokens": 160})
    """The FC model to train (an `agents.factory` spec of an LM agent)."""
    opponent: dict[str, Any] = field(default_factory=lambda: {"kind": "scripted"})
    """The frozen query model (any `agents.factory` spec)."""


def train(args: Args, learner: Learner | None = None, opponent=None, logger: RunLogger | None = None,
          first_step: int = 0) -> tuple[Learner, list[Episode]]:
    """Train the FC model for ``args.iterations``; returns the learner and every episode played."""
    learner, opponent, logger, envs = prepare(args, learner, opponent, logger, first_step)
    history = []
    for iteration in trange(args.iterations, desc="ppo_fc", unit="iter", leave=False):
        step = first_step + iteration
        episodes = play_duels(envs, args.episode_seeds(step), opponent, learner.agent, trained=FC)
        answered = [e for e in episodes if e.samples]
        stats = learner.update(*training_batch(episodes, FC, args.group_size))
        logger.log(step, {"role": "fc", **{f"fc/{k}": v for k, v in stats.items()},
                          "fc/success": sum(e.fc_correct for e in answered) / max(1, len(answered)),
                          "fc/mean_reward": sum(e.rewards[FC] for e in episodes) / len(episodes),
                          "query/valid_rate": sum(e.query_valid for e in episodes) / len(episodes)})
        history.extend(episodes)
    return learner, history


ConfigStore.instance().store(name="ppo_fc", node=Args)


@hydra.main(version_base=None, config_name="ppo_fc")
def main(config) -> None:
    run_from_cli(config, train)


if __name__ == "__main__":
    main()
