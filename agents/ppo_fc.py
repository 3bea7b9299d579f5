"""PPO for the FC model, CleanRL style: one file, top to bottom.

The FC model (``fc_0``) answers the queries of a frozen adversary (``query_0``) in ToolDuel and earns +1 for
the right calls (or rightly none) and -1 otherwise. Its replies are sampled with their token ids and
log-probabilities, and `agents.ppo.Learner` applies token-level PPO with a KL penalty to the starting model.

Run alone (Hydra overrides)::

    python -m agents.ppo_fc iterations=20 batch_size=32 opponent.kind=scripted
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hydra
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf
from tqdm import trange

from agents.factory import build_agent
from agents.ppo import Learner, PPOConfig
from agents.rollout import Episode, play_duels
from agents.runs import RunLogger, save_config, seed_everything
from envs.domains import DomainTasks
from envs.tool_duel import FC, parallel_env


@dataclass
class Args:
    seed: int = 0
    """Seeds Python, NumPy, torch, the tasks and every sampler."""
    iterations: int = 10
    """PPO iterations (one batch of episodes and one update each)."""
    batch_size: int = 32
    """Episodes per iteration."""
    policy: dict[str, Any] = field(default_factory=lambda: {"kind": "tiny", "role": "fc", "max_new_tokens": 160})
    """The FC model to train (an `agents.factory` spec of an LM agent)."""
    opponent: dict[str, Any] = field(default_factory=lambda: {"kind": "scripted"})
    """The frozen query model (any `agents.factory` spec)."""
    env: dict[str, Any] = field(default_factory=lambda: {"max_turns": 1})
    """Keyword arguments of `envs.tool_duel.parallel_env`."""
    ppo: PPOConfig = field(default_factory=PPOConfig)
    """PPO hyper-parameters."""
    run_dir: str = ""
    """Where logs and the final checkpoint go (default: Hydra's run directory)."""


def train(args: Args, learner: Learner | None = None, opponent=None, logger: RunLogger | None = None,
          first_step: int = 0) -> tuple[Learner, list[Episode]]:
    """Train the FC model for ``args.iterations``; returns the learner and every episode played."""
    seed_everything(args.seed + first_step)
    learner = learner or Learner(build_agent({**args.policy, "seed": args.seed}), args.ppo, args.seed)
    opponent = opponent or build_agent(args.opponent)
    logger = logger or RunLogger(Path(args.run_dir))
    envs = [parallel_env(tasks=DomainTasks(split="train"), **args.env) for _ in range(args.batch_size)]
    history = []
    for iteration in trange(args.iterations, desc="ppo_fc", unit="iter", leave=False):
        step = first_step + iteration
        seeds = [args.seed * 1_000_003 + step * args.batch_size + i for i in range(args.batch_size)]
        episodes = play_duels(envs, seeds, opponent, learner.agent, trained=FC)
        answered = [e for e in episodes if e.samples]
        stats = learner.update([s for e in answered for s in e.samples],
                               [e.rewards[FC] for e in answered for _ in e.samples])
        logger.log(step, {"role": "fc", **{f"fc/{k}": v for k, v in stats.items()},
                          "fc/success": sum(e.fc_correct for e in answered) / max(1, len(answered)),
                          "fc/mean_reward": sum(e.rewards[FC] for e in episodes) / len(episodes),
                          "query/valid_rate": sum(e.query_valid for e in episodes) / len(episodes)})
        history.extend(episodes)
    return learner, history


ConfigStore.instance().store(name="ppo_fc", node=Args)


@hydra.main(version_base=None, config_name="ppo_fc")
def main(config) -> None:
    args: Args = OmegaConf.to_object(config)
    args.run_dir = args.run_dir or HydraConfig.get().runtime.output_dir
    save_config(Path(args.run_dir), config)
    learner, _ = train(args)
    learner.save(Path(args.run_dir) / "checkpoint")


if __name__ == "__main__":
    main()
