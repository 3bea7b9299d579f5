"""PPO's speed on the embedded tiny FC model, against two baselines run side by side in this process.

1. One PPO update versus a bare torch forward/backward loop on the same model and the same sampled replies:

   * bare: ``update_epochs * num_minibatches`` steps of forward, token cross-entropy on the reply tokens,
     backward and Adam, exactly the passes PPO makes over the batch (its packed rows and minibatches);
   * PPO: `agents.ppo.ppo_update` (reference and value passes, GAE, clipped surrogate, value loss, statistics).

   Goal: PPO at most 1.5x the bare loop.

2. Self-play training samples per second versus TRL's ``GRPOTrainer`` (skipped when ``trl`` is not installed:
   ``pip install -e ".[bench]"``), on the same tiny model, the same reward (`fcgym.check` of the reply: +1 right,
   -1 wrong), ``BATCH`` replies of at most ``MAX_NEW_TOKENS`` tokens per step and the same number of steps:

   * fcgym: `agents.rollout.play_duels` (``BATCH / GROUP`` tasks, each played ``GROUP`` times: the scripted
     adversary rewrites each query, the FC model answers in ToolDuel), then one `agents.ppo.Learner.update` on
     rewards minus their group's mean (`agents.ppo.training_batch`), configured as TRL's defaults train
     (``LIKE_GRPO``: one pass over the batch in one minibatch, no KL penalty and no critic);
   * TRL: ``GRPOTrainer.train`` on the queries fcgym's steps answered, rendered with the same chat template,
     ``BATCH / GROUP`` prompts times ``GROUP`` generations per step (GRPO needs groups), no reference model
     (TRL's default ``beta=0``) and one pass (``num_iterations=1``).

   The adversary leaves out ``long_context``, whose preambles do not fit the tiny model's context.

   Goal: fcgym at least 3x TRL's samples per second.

Run: ``python benchmarks/bench_ppo.py [--steps N] [--part 1|2] [--repeats N]``
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import tempfile
import time

import torch

from agents.factory import TINY_DIR
from agents.hf import HFAgent
from agents.ppo import Learner, PPOConfig, at_replies, length_minibatches, make_batch, packed_inputs, training_batch
from agents.rollout import play_duels
from agents.scripted import ScriptedAdversary
from agents.train_tiny import SHORT_OPERATORS
from envs.tool_duel import FC, fc_messages, parallel_env
from fcgym import ParseError, check, parse_calls

BATCH = 32
GROUP = 4
MAX_NEW_TOKENS = 96
#: PPO doing the work TRL's GRPO defaults do per step: one pass over the batch, one minibatch, no KL penalty, group
#: baselines without a critic.
LIKE_GRPO = PPOConfig(update_epochs=1, num_minibatches=1, kl_coef=0.0, advantage="reward", vf_coef=0.0)


def bare_loop(model, batch, config: PPOConfig) -> None:
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    # PPO's minibatches of its packed rows, in the same forward passes
    minibatches = length_minibatches(batch.lengths, config.num_minibatches, config.max_forward_tokens)
    for _ in range(config.update_epochs):
        for passes in minibatches:
            optimizer.zero_grad()
            for rows, width in passes:
                logits = model(**packed_inputs(batch, rows, width, torch.float32)).logits
                members, logits = at_replies(batch, rows, logits)
                losses = torch.nn.functional.cross_entropy(logits.transpose(1, 2), batch.targets[members],
                                                           reduction="none")
                reply = batch.reply_mask[members]
                ((losses * reply).sum() / reply.sum()).backward()
            optimizer.step()


def best_time(fn, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def fc_reward(text: str, task) -> float:
    """+1 when the reply's calls are right, -1 otherwise (unreadable replies included): ToolDuel's FC reward."""
    try:
        return 1.0 if check(parse_calls(text), task).valid else -1.0
    except ParseError:
        return -1.0


def update_vs_bare_loop() -> None:
    agent = HFAgent.from_pretrained(TINY_DIR / "fc", max_new_tokens=MAX_NEW_TOKENS, seed=0)
    episodes = play_duels([parallel_env() for _ in range(BATCH)], list(range(BATCH)), ScriptedAdversary(seed=0),
                          agent, trained=FC)
    played = [e for e in episodes if e.samples]
    samples, rewards = [e.samples[0] for e in played], [e.rewards[FC] for e in played]
    config = PPOConfig()
    batch = make_batch(samples, rewards, agent.pad_id, agent.model.config.hidden_size)
    bare_model = copy.deepcopy(agent.model).train()
    learner = Learner(agent, config, seed=0)
    bare = best_time(lambda: bare_loop(bare_model, batch, config))
    ppo = best_time(lambda: learner.update(samples, rewards))
    print(f"batch: {len(samples)} replies, {int(batch.lengths.sum())} tokens in {len(batch.lengths)} rows, "
          f"{config.update_epochs} epochs x {config.num_minibatches} minibatches")
    print(f"bare forward/backward loop: {bare:7.2f} s")
    print(f"PPO update:                 {ppo:7.2f} s")
    print(f"PPO / bare:                 {ppo / bare:7.2f}x  (goal: at most 1.5x)")


def fcgym_self_play(steps: int) -> tuple[float, float, float, list[list[tuple[str, object]]]]:
    """``(samples/s, sampling s, update s, per step each group's (query, task))`` of PPO self-play steps."""
    learner = Learner(HFAgent.from_pretrained(TINY_DIR / "fc", max_new_tokens=MAX_NEW_TOKENS, seed=0), LIKE_GRPO, 0)
    envs, adversary = [parallel_env() for _ in range(BATCH)], ScriptedAdversary(operators=SHORT_OPERATORS, seed=0)
    sampling = updating = 0.0
    trained, played = 0, []
    for step in range(steps):
        started = time.perf_counter()
        seeds = [step * BATCH + i // GROUP for i in range(BATCH)]  # GROUP episodes of each task, as GRPO's groups
        episodes = play_duels(envs, seeds, adversary, learner.agent, trained=FC)
        middle = time.perf_counter()
        samples, rewards = training_batch(episodes, FC, GROUP)
        learner.update(samples, rewards)
        sampling, updating = sampling + middle - started, updating + time.perf_counter() - middle
        trained += len(samples)
        played.append([(e.query, env.duel.task) for e, env in zip(episodes, envs)][::GROUP])
    return trained / (sampling + updating), sampling, updating, played


def trl_samples_per_second(played: list[list[tuple[str, object]]]) -> float:
    """GRPO steps on the queries of fcgym's steps: each group's first, ``GROUP`` times."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    tokenizer = AutoTokenizer.from_pretrained(TINY_DIR / "fc")
    pairs = [pair for step in played for pair in step]
    prompts = [tokenizer.apply_chat_template(fc_messages(query), tools=[tool.schema() for tool in task.tools],
                                             add_generation_prompt=True, tokenize=False) for query, task in pairs]

    def reward(completions: list[str], task_index: list[int], **_) -> list[float]:
        return [fc_reward(text, pairs[i][1]) for text, i in zip(completions, task_index)]

    steps = len(played)
    with tempfile.TemporaryDirectory() as out:
        config = GRPOConfig(output_dir=out, per_device_train_batch_size=BATCH, num_generations=GROUP,
                            max_completion_length=MAX_NEW_TOKENS, max_steps=steps,
                            learning_rate=LIKE_GRPO.learning_rate, beta=0.0, num_iterations=1,
                            use_cpu=True, bf16=False, report_to="none", save_strategy="no", logging_strategy="no",
                            disable_tqdm=True, shuffle_dataset=False, seed=0)
        dataset = Dataset.from_dict({"prompt": prompts, "task_index": list(range(len(pairs)))})
        trainer = GRPOTrainer(model=AutoModelForCausalLM.from_pretrained(TINY_DIR / "fc"), reward_funcs=reward,
                              args=config, processing_class=tokenizer, train_dataset=dataset)
        started = time.perf_counter()
        trainer.train()
        return steps * BATCH / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=6, help="training steps of each side in part 2")
    parser.add_argument("--part", type=int, choices=(1, 2), help="run only this part (default: both)")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each side in part 2, alternating")
    args = parser.parse_args()
    torch.manual_seed(0)
    if args.part != 2:
        update_vs_bare_loop()
    if args.part == 1:
        return
    if importlib.util.find_spec("trl") is None:
        print('TRL comparison skipped: trl is not installed (pip install -e ".[bench]")')
        return
    # the two alternate, each keeping its best run: this machine's speed drifts by a fifth from minute to minute
    ours, sampling, updating, played = fcgym_self_play(args.steps)
    theirs = trl_samples_per_second(played)
    for _ in range(args.repeats - 1):
        again = fcgym_self_play(args.steps)
        if again[0] > ours:
            ours, sampling, updating, played = again
        theirs = max(theirs, trl_samples_per_second(played))
    print(f"self-play PPO (fcgym):      {ours:7.1f} samples/s  ({args.steps} steps of {BATCH} replies: "
          f"sampling {sampling:.1f} s, updates {updating:.1f} s; best of {args.repeats} runs)")
    print(f"TRL GRPOTrainer:            {theirs:7.1f} samples/s  (the same queries, {BATCH // GROUP} prompts x {GROUP} "
          f"per step; best of {args.repeats} runs, alternating with fcgym's)")
    print(f"fcgym / TRL:                {ours / theirs:7.2f}x  (goal: at least 3x)")


if __name__ == "__main__":
    main()
