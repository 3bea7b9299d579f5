"""PPO for the FC model, CleanRL style: one file, top to bottom.

The FC model (``fc_0``) answers the queries of a frozen adversary (``query_0``) in ToolDuel and earns +1 for
the right calls (or rightly none) and -1 otherwise; with ``clean_fraction``, some tasks come unattacked. Its
replies are sampled with their token ids and log-probabilities, and `agents.ppo.Learner` applies token-level PPO
with a KL penalty to the starting model.
With ``ppo.imitation_coef`` it also imitates the target calls of the episodes it lost to valid queries (the
phase's adversarial examples so far, and any earlier ones passed in), written in the model's own ``call_style``.

Run alone (Hydra overrides)::

    python -m agents.ppo_fc iterations=20 batch_size=32 opponent.kind=scripted
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import hydra
from hydra.core.config_store import ConfigStore
from tqdm import trange

from agents.base import Sample
from agents.factory import TINY_MAX_NEW_TOKENS
from agents.hf import HFAgent
from agents.ppo import Learner, TrainerArgs, prepare, run_from_cli, training_batch
from agents.rollout import Episode, lost_to_valid_queries, play_duels
from agents.runs import RunLogger
from envs.tool_duel import FC, fc_messages


@dataclass
class Args(TrainerArgs):
    policy: dict[str, Any] = field(default_factory=lambda: {"kind": "tiny", "role": "fc",
                                                               "max_new_tokens": TINY_MAX_NEW_TOKENS})
    """The FC model to train (an `agents.factory` spec of an LM agent)."""
    opponent: dict[str, Any] = field(default_factory=lambda: {"kind": "scripted"})
    """The frozen query model (any `agents.factory` spec)."""
    clean_fraction: float = 0.0
    """Share of each batch's tasks (whole groups, the first ones) answered on their seed query, unattacked:
    training against the adversary then also rehearses the clean tasks, so that robustness does not cost them."""

    def clean_episodes(self) -> int:
        """How many of a batch's episodes are clean (`clean_fraction` of its groups, rounded)."""
        if not 0.0 <= self.clean_fraction <= 1.0:
            raise ValueError(f"clean_fraction must be in [0, 1], got {self.clean_fraction}")
        return round(self.clean_fraction * self.batch_size / self.group_size) * self.group_size


def demonstrations(episodes: list[Episode], agent: HFAgent) -> list[Sample]:
    """The target calls of every episode lost to a valid query, as the reply to what the FC model saw, once per
    task and query (a group's episodes share both). Tasks whose calls need tool results (multi-step) or that
    accept any call (BFCL relevance) have no one right first reply, so none."""
    return [agent.demonstration((fc_messages(episode.query), json.loads(episode.tools_json)),
                                episode.task.target_calls())
            for episode in lost_to_valid_queries(episodes) if not (episode.task.derived or episode.task.any_call)]


def train(args: Args, learner: Learner | None = None, opponent=None, logger: RunLogger | None = None,
          first_step: int = 0, lessons: list[Episode] = ()) -> tuple[Learner, list[Episode]]:
    """Train the FC model for ``args.iterations``; returns the learner and every episode played. With
    ``ppo.imitation_coef``, every update also imitates the right replies to the episodes lost to valid queries
    so far in the phase and in ``lessons`` (earlier episodes: self-play passes its query phase's)."""
    learner, opponent, logger, envs = prepare(args, learner, opponent, logger, first_step)
    imitating = args.ppo.imitation_coef > 0
    shown = demonstrations(lessons, learner.agent) if imitating else []
    history, clean = [], args.clean_episodes()
    for iteration in trange(args.iterations, desc="ppo_fc", unit="iter", leave=False):
        step = first_step + iteration
        seeds = args.episode_seeds(step)
        episodes = (play_duels(envs[:clean], seeds[:clean], None, learner.agent, trained=FC) +
                    play_duels(envs[clean:], seeds[clean:], opponent, learner.agent, trained=FC))
        answered = [e for e in episodes if e.samples]
        if imitating:
            shown += demonstrations(episodes, learner.agent)
        stats = learner.update(*training_batch(episodes, FC, args.group_size), shown)
        logger.log(step, {"role": "fc", **{f"fc/{k}": v for k, v in stats.items()},
                          "fc/success": sum(e.fc_correct for e in answered) / max(1, len(answered)),
                          "fc/mean_reward": sum(e.rewards[FC] for e in episodes) / len(episodes),
                          "fc/demonstrations": len(shown),
                          "query/valid_rate": sum(e.query_valid for e in episodes) / len(episodes)})
        history.extend(episodes)
    return learner, history


ConfigStore.instance().store(name="ppo_fc", node=Args)


@hydra.main(version_base=None, config_name="ppo_fc")
def main(config) -> None:
    run_from_cli(config, train)


if __name__ == "__main__":
    main()
