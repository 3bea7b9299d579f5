"""PPO pieces: the learning-rate warmup, log-probabilities that match the sampler's, per-task groups, minibatches,
imitation of the target calls of lost episodes."""

from __future__ import annotations

import dataclasses
import json
import random

import pytest
import torch

from agents.base import Sample
from agents.factory import build_agent
from agents.ppo import (
    Learner,
    PPOConfig,
    TrainerArgs,
    _most_uncertain,
    _pack,
    _warm_up,
    advantages_and_returns,
    length_minibatches,
    make_batch,
    training_batch,
)
from agents.ppo_fc import demonstrations
from agents.rollout import Episode, play_duels
from envs.domains import DomainTasks
from envs.tool_duel import FC, QUERY, fc_messages, parallel_env
from fcgym import Call, Verdict, format_calls


def _lrs(config: PPOConfig, steps: int, optimizer: torch.optim.Optimizer) -> list[float]:
    weight = optimizer.param_groups[0]["params"][0]
    used = []
    for _ in range(steps):
        weight.grad = torch.ones_like(weight)
        _warm_up(optimizer, config)
        used.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
    return used


def test_the_policy_trains_on_its_most_uncertain_reply_tokens_only():
    entropy = torch.tensor([[0.0, 2.0, 0.5, 9.0], [1.0, 3.0, 0.1, 0.2]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0], [1.0, 1.0, 1.0, 1.0]])  # the 9.0 is padding, never chosen
    assert _most_uncertain(entropy, mask, 1.0) is mask
    assert _most_uncertain(entropy, mask, 2 / 7).tolist() == [[0, 1, 0, 0], [0, 1, 0, 0]]
    assert _most_uncertain(entropy, mask, 3 / 7).tolist() == [[0, 1, 0, 0], [1, 1, 0, 0]]
    assert _most_uncertain(entropy, torch.zeros_like(mask), 0.2).sum() == 0


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


@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_the_update_scores_replies_under_the_distribution_they_were_sampled_from(temperature):
    """Before any step the PPO ratio is 1: the update's log-probabilities are the sampler's, at its temperature."""
    agent = build_agent({"kind": "tiny", "role": "fc", "temperature": temperature, "seed": 0, "max_new_tokens": 40})
    tasks, rng = DomainTasks(split="test"), random.Random(0)
    prompts = [([{"role": "user", "content": t.query}], [tool.schema() for tool in t.tools])
               for t in (tasks.sample(rng) for _ in range(6))]
    samples = agent.sample(prompts)
    learner = Learner(agent, PPOConfig(learning_rate=0.0), seed=0)
    stats = learner.update(samples, [1.0, -1.0] * 3)
    assert stats["approx_kl"] < 1e-5 and stats["clipfrac"] == 0.0
    assert abs(stats["kl_to_reference"]) < 1e-4


def test_minibatches_split_the_rows_by_length_into_passes_of_bounded_size():
    lengths = torch.tensor([5, 9, 2, 7, 3])
    minibatches = length_minibatches(lengths, 2, forward_tokens=100)
    assert [[(rows.tolist(), width) for rows, width in passes] for passes in minibatches] == [[([1, 3, 0], 9)],
                                                                                             [([4, 2], 3)]]
    assert [passes[0][1] for passes in length_minibatches(lengths, 8, 100)] == [9, 7, 5, 3, 2]  # none empty
    # at most 14 positions a pass: 9 alone (and a row longer than that would go alone too), then 7 + 7
    passes = length_minibatches(lengths, 1, forward_tokens=14)[0]
    assert [(rows.tolist(), width) for rows, width in passes] == [([1], 9), ([3, 0], 7), ([4, 2], 3)]
    assert [rows.tolist() for rows, _ in length_minibatches(lengths, 1, forward_tokens=4)[0]] == [[1], [3], [0],
                                                                                                  [4], [2]]
    assert [(rows.tolist(), width) for rows, width in length_minibatches(lengths, 1, None)[0]] == [([1, 3, 0, 4, 2],
                                                                                                   9)]  # as DDP


def test_an_update_in_several_forward_passes_takes_the_same_step_as_in_one():
    """Passes of a minibatch sum their gradients weighted by their share of its reply tokens: the step is that of
    the mean over all of them, as if the minibatch went through at once."""
    spec = {"kind": "tiny", "role": "fc", "seed": 0, "max_new_tokens": 24}
    tasks, rng = DomainTasks(split="test"), random.Random(0)
    prompts = [([{"role": "user", "content": t.query}], [tool.schema() for tool in t.tools])
               for t in (tasks.sample(rng) for _ in range(5))]
    samples, rewards = build_agent(spec).sample(prompts), [1.0, -1.0, 0.5, -0.5, 0.0]
    weights, stats = [], []
    for forward_tokens in (1_000_000, 1):
        learner = Learner(build_agent(spec), PPOConfig(num_minibatches=1, update_epochs=1, kl_coef=0.1,
                                                          max_forward_tokens=forward_tokens), seed=0)
        stats.append(learner.update(samples, rewards))
        weights.append(torch.cat([p.detach().flatten() for p in learner.policy.parameters()]))
    assert torch.allclose(weights[0], weights[1], atol=1e-6)
    assert stats[0].keys() == stats[1].keys()
    assert all(abs(stats[0][k] - stats[1][k]) < 1e-5 for k in stats[0])


def test_without_a_kl_penalty_the_reference_model_is_never_run():
    agent = build_agent({"kind": "tiny", "role": "fc", "seed": 0, "max_new_tokens": 20})
    samples = agent.sample([([{"role": "user", "content": "Book a table."}], [])] * 2)
    learner = Learner(agent, PPOConfig(kl_coef=0.0, learning_rate=0.0), seed=0)

    def refuse(*args, **kwargs):
        raise AssertionError("the reference ran")

    learner.reference.forward = refuse
    stats = learner.update(samples, [1.0, -1.0])
    assert "kl_to_reference" not in stats and stats["approx_kl"] < 1e-5
    with pytest.raises(AssertionError, match="the reference ran"):
        Learner(agent, PPOConfig(), seed=0, reference=learner.reference).update(samples, [1.0, -1.0])


def test_samples_sharing_a_prompt_share_a_row_within_bounds():
    def sample(prompt: list[int], reply: int) -> Sample:
        return Sample("", prompt, [7] * reply, [0.0] * reply)

    shared = list(range(10))
    samples = [sample(shared, 3), sample(shared, 5), sample(shared[:8] + [99, 98], 2), sample([5, 5, 5], 1),
               sample(shared, 30)]
    # 2 joins though its prompt leaves the row's after 8 tokens; 3 shares nothing with it, 4 nothing with 3
    assert _pack(samples, hidden_size=8) == [([0, 1, 2], 8), ([3], 3), ([4], 10)]
    # a row costs no more than its members alone, width * (3 * hidden + width): 14 rows of 13 cost
    # 14 * 13 * 16 = 2912 >= (10 + 3 * 14) * (3 + 10 + 3 * 14) = 2860, a 15th would make 3190 > 3120
    assert [members for members, _ in _pack([sample(shared, 3)] * 15, hidden_size=1)] == [list(range(14)), [14]]
    # attention weighs less beside a wider model's projections: all 15 share the row
    assert len(_pack([sample(shared, 3)] * 15, hidden_size=64)) == 1
    batch = make_batch(samples, [0.0] * 5, pad_id=0, hidden_size=8)
    assert batch.lengths.tolist() == [8 + (2 + 3) + (2 + 5) + (2 + 2), 3 + 1, 10 + 30]
    assert batch.row.tolist() == [0, 0, 0, 1, 2]
    assert batch.predictor[0, :3].tolist() == [9, 10, 11]  # the last prompt token sits in sample 0's segment
    assert batch.position_ids[0, 8:10].tolist() == [8, 9] and batch.position_ids[0, 13:15].tolist() == [8, 9]


@pytest.mark.parametrize("role", ["fc", "query"])
def test_packed_rows_score_replies_as_the_sampler_did(role):
    """Group members share their prompt's row, and every reply token still gets the sampler's log-probability."""
    agent = build_agent({"kind": "tiny", "role": role, "seed": 0, "max_new_tokens": 30})
    tasks, rng = DomainTasks(split="test"), random.Random(0)
    prompts = []
    for task in (tasks.sample(rng) for _ in range(3)):
        tools = [tool.schema() for tool in task.tools]
        prompts += [([{"role": "user", "content": task.query}], tools)] * 3
        prompts += [([{"role": "user", "content": "Now: " + task.query}], tools)]
    samples = agent.sample(prompts)
    batch = make_batch(samples, [0.0] * len(samples), agent.pad_id, agent.model.config.hidden_size)
    assert len(batch.lengths) <= len(samples) / 2
    stats = Learner(agent, PPOConfig(learning_rate=0.0), seed=0).update(samples, [1.0, -1.0] * (len(samples) // 2))
    assert stats["approx_kl"] < 1e-5 and stats["clipfrac"] == 0.0 and abs(stats["kl_to_reference"]) < 1e-4


def test_reward_advantages_credit_every_token_with_the_reward_to_come_and_ignore_the_critic():
    token_rewards = torch.tensor([[0.0, -0.1, 1.0], [0.0, 0.5, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    values = torch.full((2, 3), 0.3)
    advantages, returns = advantages_and_returns(token_rewards, values, mask,
                                                 PPOConfig(advantage="reward", norm_adv=False))
    assert advantages.flatten().tolist() == pytest.approx([0.9, 0.9, 1.0, 0.5, 0.5, 0.0])
    assert returns.tolist() == advantages.tolist()  # the value head learns the returns, unused as a baseline
    gae, _ = advantages_and_returns(token_rewards, values, mask, PPOConfig(gae_lambda=1.0, norm_adv=False))
    assert gae.flatten().tolist() == pytest.approx([0.6, 0.6, 0.7, 0.2, 0.2, 0.0])
    whitened, _ = advantages_and_returns(token_rewards, values, mask, PPOConfig(advantage="reward", norm_adv=True))
    assert float((whitened * mask).sum()) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="'gae' or 'reward'"):
        advantages_and_returns(token_rewards, values, mask, PPOConfig(advantage="vtrace"))


def test_the_optimizer_takes_the_configured_epsilon():
    agent = build_agent({"kind": "tiny", "role": "fc", "seed": 0})
    assert Learner(agent, PPOConfig(adam_eps=1e-3), seed=0).optimizer.param_groups[0]["eps"] == 1e-3


def test_a_group_faces_one_query_of_a_sampling_adversary_and_answers_it_in_its_own_samples():
    seeds = TrainerArgs(batch_size=8, group_size=4).episode_seeds(0)
    adversary = build_agent({"kind": "tiny", "role": "query", "temperature": 1.0, "seed": 0, "max_new_tokens": 60})
    fc = build_agent({"kind": "tiny", "role": "fc", "seed": 0, "max_new_tokens": 20})
    episodes = play_duels([parallel_env() for _ in seeds], seeds, adversary, fc, trained=FC)
    assert len({e.query for e in episodes[:4]}) == 1 and episodes[0].query != episodes[4].query
    assert all(len(e.samples) == 1 for e in episodes if e.query_valid)


def test_a_greedy_agent_cannot_be_trained():
    with pytest.raises(ValueError, match="temperature above 0"):
        Learner(build_agent({"kind": "tiny", "role": "fc", "temperature": 0.0}), PPOConfig(), seed=0)


def test_groups_of_episodes_share_a_task_and_learn_against_its_mean():
    args = TrainerArgs(seed=3, batch_size=8, group_size=4)
    first, second = args.episode_seeds(0), args.episode_seeds(1)
    assert first[:4] == [first[0]] * 4 and first[4:] == [first[4]] * 4 and first[0] != first[4]
    assert not set(first) & set(second)
    envs = [parallel_env() for _ in first]
    assert len({env.reset(seed=seed)[0][QUERY]["messages"] for env, seed in zip(envs, first)}) == 2

    def episode(reward: float, answered: bool = True) -> Episode:
        sample = Sample("reply", [1], [2], [0.0])
        return Episode("t", "d", "single", "q", [], rewards={FC: reward}, samples=[sample] if answered else [])

    episodes = [episode(1.0), episode(-1.0), episode(-1.0), episode(0.0, answered=False),
                episode(1.0), episode(1.0), episode(1.0), episode(1.0)]
    samples, rewards = training_batch(episodes, FC, group_size=4)
    assert len(samples) == 7
    assert rewards == pytest.approx([4 / 3, -2 / 3, -2 / 3, 0.0, 0.0, 0.0, 0.0])
    assert training_batch(episodes, FC, group_size=1)[1] == [1.0, -1.0, -1.0, 1.0, 1.0, 1.0, 1.0]


def test_lost_episodes_demonstrate_their_target_calls_once_per_query_in_the_models_style():
    fc = build_agent({"kind": "tiny", "role": "fc", "seed": 0, "max_new_tokens": 20})
    tasks, rng = DomainTasks(split="test"), random.Random(1)
    task, relevance = tasks.sample(rng), dataclasses.replace(tasks.sample(rng), answers=(), any_call=True)
    multi_step = DomainTasks(kinds=("multi_step",)).sample(rng)

    def episode(task, query: str, correct: bool = False, valid: bool = True) -> Episode:
        tools = json.dumps([tool.schema() for tool in task.tools])
        verdict = Verdict.correct() if correct else Verdict.failed("value_error")
        return Episode(task.id, "d", task.kind, "q", [], tools_json=tools, query=query, query_valid=valid,
                       info={"verdict": verdict} if valid else {}, task=task)

    played = [episode(task, "first"), episode(task, "first"), episode(task, "second"), episode(task, "third", True),
              episode(task, "fourth", valid=False), episode(relevance, "any"), episode(multi_step, "needs results")]
    shown = demonstrations(played, fc)
    tools = [tool.schema() for tool in task.tools]
    assert [s.prompt_ids for s in shown] == [fc.encode((fc_messages(q), tools)) for q in ("first", "second")]
    assert shown[0].text == format_calls(task.target_calls(), "python") and shown[0].response_ids[-1] == fc.eos_id
    assert fc.tokenizer.decode(shown[0].response_ids, skip_special_tokens=True) == shown[0].text


def test_imitation_raises_the_likelihood_of_the_demonstrated_reply():
    agent = build_agent({"kind": "tiny", "role": "fc", "seed": 0, "max_new_tokens": 30})
    task = DomainTasks(split="test").sample(random.Random(2))
    prompt = ([{"role": "user", "content": task.query}], [tool.schema() for tool in task.tools])
    samples = agent.sample([prompt] * 4)
    shown = [agent.demonstration(prompt, [Call("made_up_tool", {"x": 123})])]

    def imitation_loss(coef: float) -> tuple[float, float]:
        learner = Learner(build_agent({"kind": "tiny", "role": "fc", "seed": 0}),
                          PPOConfig(learning_rate=1e-3, imitation_coef=coef, kl_coef=0.0), seed=0)
        first = learner.update(samples, [0.0] * 4, shown)
        second = learner.update(samples, [0.0] * 4, shown)
        return first.get("imitation_loss"), second.get("imitation_loss")

    before, after = imitation_loss(1.0)
    assert after < before - 0.1
    assert imitation_loss(0.0) == (None, None)  # off: nothing computed


def test_a_kl_loss_pulls_every_reply_token_back_to_the_reference():
    agent = build_agent({"kind": "tiny", "role": "fc", "seed": 0, "max_new_tokens": 30})
    samples = agent.sample([([{"role": "user", "content": "Freeze my travel card."}], [])] * 4)
    reference = build_agent({"kind": "tiny", "role": "fc"}).model
    with torch.no_grad():
        for weight in reference.parameters():
            weight.add_(0.02 * torch.randn(weight.shape, generator=torch.Generator().manual_seed(0)))

    def kl_losses(coef: float, kl_coef: float = 0.0) -> list:
        learner = Learner(build_agent({"kind": "tiny", "role": "fc", "seed": 0}),
                          PPOConfig(learning_rate=1e-3, kl_coef=kl_coef, kl_loss_coef=coef, entropy_top_fraction=0.2),
                          seed=0, reference=reference)
        return [learner.update(samples, [0.0] * 4).get("kl_loss") for _ in range(3)]

    first, _, last = kl_losses(1.0)
    assert first > 0 and last < 0.8 * first
    assert kl_losses(0.0) == [None] * 3  # no reference: nothing computed
    logged = kl_losses(0.0, kl_coef=0.05)  # the reference runs for the reward's penalty: its k3 is logged
    assert all(value > 0.5 * first for value in logged)  # ...and not trained on: it stays far
