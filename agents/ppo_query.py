"""PPO for the query model, CleanRL style: one file, top to bottom.

The query model (``query_0``) rewrites a task's seed query so that a frozen FC model (``fc_0``) fails while the
request still asks for exactly the target calls. It earns +1 when the FC model fails, -1 when it succeeds and
``invalid_penalty`` when the validity gate rejects the query. Every valid query that beat the FC model is
returned as adversarial data.

Run alone (Hydra overrides)::

    python -m agents.ppo_query iterations=20 batch_size=32 opponent.kind=keyword
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
from envs.tool_duel import QUERY, parallel_env


@dataclass
class Args:
    seed: int = 0
    """Seeds Python, NumPy, torch, the tasks and every sampler."""
    iterations: int = 10
    """PPO iterations (one batch of episodes and one update each)."""
    batch_size: int = 32
    """Episodes per iteration."""
    policy: dict[str, Any] = field(default_factory=lambda: {"kind": "tiny", "role": "query", "max_new_tokens": 256})
    """The query model to train (an `agents.factory` spec of an LM agent)."""
    opponent: dict[str, Any] = field(default_factory=lambda: {"kind": "keyword"})
    """The frozen FC model (any `agents.factory` spec)."""
    env: dict[str, Any] = field(default_factory=lambda: {"max_turns": 1})
    """Keyword arguments of `envs.tool_duel.parallel_env`."""
    ppo: PPOConfig = field(default_factory=PPOConfig)
    """PPO hyper-parameters."""
    run_dir: str = ""
    """Where logs and the final checkpoint go (default: Hydra's run directory)."""


def train(args: Args, learner: Learner | None = None, opponent=None, logger: RunLogger | None = None,
          first_step: int = 0) -> tuple[Learner, list[Episode]]:
    """Train the query model for ``args.iterations``; returns the learner and every episode played."""
    seed_everything(args.seed + first_step)
    learner = learner or Learner(build_agent({**args.policy, "seed": args.seed}), args.ppo, args.seed)
    opponent = opponent or build_agent(args.opponent)
    logger = logger or RunLogger(Path(args.run_dir))
    envs = [parallel_env(tasks=DomainTasks(split="train"), **args.env) for _ in range(args.batch_size)]
    history = []
    for iteration in trange(args.iterations, desc="ppo_query", unit="iter", leave=False):
        step = first_step + iteration
        seeds = [args.seed * 1_000_003 + step * args.batch_size + i for i in range(args.batch_size)]
        episodes = play_duels(envs, seeds, learner.agent, opponent, trained=QUERY)
        stats = learner.update([e.samples[0] for e in episodes], [e.rewards[QUERY] for e in episodes])
        valid = [e for e in episodes if e.query_valid]
        logger.log(step, {"role": "query", **{f"query/{k}": v for k, v in stats.items()},
                          "query/valid_rate": len(valid) / len(episodes),
                          "query/mean_reward": sum(e.rewards[QUERY] for e in episodes) / len(episodes),
                          "fc/success": sum(e.fc_correct for e in valid) / max(1, len(valid))})
        history.extend(episodes)
    return learner, history


ConfigStore.instance().store(name="ppo_query", node=Args)


@hydra.main(version_base=None, config_name="ppo_query")
def main(config) -> None:
    args: Args = OmegaConf.to_object(config)
    args.run_dir = args.run_dir or HydraConfig.get().runtime.output_dir
    save_config(Path(args.run_dir), config)
    learner, _ = train(args)
    learner.save(Path(args.run_dir) / "checkpoint")


if __name__ == "__main__":
    main()
