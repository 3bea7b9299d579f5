"""PPO pieces that need no rollout: the learning-rate warmup."""

from __future__ import annotations

import torch

from agents.ppo import PPOConfig, _warm_up


def _lrs(config: PPOConfig, steps: int, optimizer: torch.optim.Optimizer) -> list[float]:
    weight = optimizer.param_groups[0]["params"][0]
    used = []
    for _ in range(steps):
        weight.grad = torch.ones_like(weight)
        _warm_up(optimizer, config)
        used.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
    return used


def test_warmup_rises_linearly_and_resumes_from_the_optimizer_state():
    config = PPOConfig(learning_rate=1e-3, warmup_updates=4)
    weight = torch.nn.Parameter(torch.zeros(3))
    optimizer = torch.optim.Adam([weight], lr=config.learning_rate)
    assert _lrs(config, 2, optimizer) == [2.5e-4, 5e-4]
    restored = torch.optim.Adam([weight], lr=config.learning_rate)
    restored.load_state_dict(optimizer.state_dict())  # as Learner does from a checkpoint's optimizer.pt
    assert _lrs(config, 3, restored) == [7.5e-4, 1e-3, 1e-3]


def test_no_warmup_leaves_the_learning_rate_alone():
    config = PPOConfig(learning_rate=1e-3)
    weight = torch.nn.Parameter(torch.zeros(3))
    assert _lrs(config, 2, torch.optim.Adam([weight], lr=5e-4)) == [5e-4, 5e-4]
