"""One PPO update versus a bare torch forward/backward loop on the same model and batch.

Both sides run side by side in this process on the embedded tiny FC model and the same sampled replies:

* bare: ``update_epochs * num_minibatches`` steps of forward, token cross-entropy on the reply tokens,
  backward and Adam, exactly the passes PPO makes over the batch;
* PPO: `agents.ppo.ppo_update` (reference and value passes, GAE, clipped surrogate, value loss, statistics).

Prints both times and the ratio. Goal: PPO at most 1.5x the bare loop.  Run: ``python benchmarks/bench_ppo.py``
"""

from __future__ import annotations

import copy
import time

import torch

from agents.factory import TINY_DIR
from agents.hf import HFAgent
from agents.ppo import Learner, PPOConfig, make_batch
from agents.rollout import play_duels
from agents.scripted import ScriptedAdversary
from envs.tool_duel import FC, parallel_env

BATCH = 32


def bare_loop(model, batch, config: PPOConfig) -> None:
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    size = max(1, len(batch.input_ids) // config.num_minibatches)
    for _ in range(config.update_epochs):
        for start in range(0, len(batch.input_ids), size):
            rows = slice(start, start + size)
            logits = model(input_ids=batch.input_ids[rows], attention_mask=batch.attention_mask[rows]).logits
            losses = torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), batch.input_ids[rows][:, 1:],
                                                       reduction="none")
            loss = (losses * batch.reply_mask[rows]).sum() / batch.reply_mask[rows].sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()


def best_time(fn, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    torch.manual_seed(0)
    agent = HFAgent.from_pretrained(TINY_DIR / "fc", max_new_tokens=96, seed=0)
    episodes = play_duels([parallel_env() for _ in range(BATCH)], list(range(BATCH)), ScriptedAdversary(seed=0),
                          agent, trained=FC)
    played = [e for e in episodes if e.samples]
    samples, rewards = [e.samples[0] for e in played], [e.rewards[FC] for e in played]
    config = PPOConfig()
    batch = make_batch(samples, rewards, agent.pad_id)
    bare_model = copy.deepcopy(agent.model).train()
    learner = Learner(agent, config, seed=0)
    bare = best_time(lambda: bare_loop(bare_model, batch, config))
    ppo = best_time(lambda: learner.update(samples, rewards))
    print(f"batch: {len(samples)} replies, {int(batch.attention_mask.sum())} tokens, "
          f"{config.update_epochs} epochs x {config.num_minibatches} minibatches")
    print(f"bare forward/backward loop: {bare:7.2f} s")
    print(f"PPO update:                 {ppo:7.2f} s")
    print(f"PPO / bare:                 {ppo / bare:7.2f}x  (goal: at most 1.5x)")


if __name__ == "__main__":
    main()
