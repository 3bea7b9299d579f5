"""Token-level PPO pieces shared by `agents.ppo_fc` and `agents.ppo_query` (one copy, never two).

* `PPOConfig`: the algorithm's hyper-parameters, each documented.
* `ValueHead` and `load_value_head` / `save_value_head`: the critic on top of the policy's last hidden state.
* `TrainerArgs`, `prepare` and `run_from_cli`: what both trainer scripts share around their loop.
* `Learner`: a policy being trained, with its value head, frozen reference and optimizer.
* `make_batch`: sampled replies packed into rows, samples that share a prompt prefix (a group) in one row.
* `ppo_update`: from a batch of sampled replies and their episode rewards to updated weights. Per-token
  rewards are a KL penalty to a frozen reference model plus the episode reward on the last token; advantages
  come from GAE over reply tokens (or the reward to come, `PPOConfig.advantage`); only reply tokens are scored.
  Optionally, demonstrations (replies the policy should have written) add a cross-entropy term
  (`PPOConfig.imitation_coef`).
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.distributed as dist
import torch.nn as nn
from safetensors.torch import load_file, save_file
from torch.nn.parallel import DistributedDataParallel
from transformers import PreTrainedModel

from agents.base import Agent, Sample, reset_agent
from agents.factory import build_agent
from agents.hf import HFAgent, shared_prefix_length
from agents.rollout import Episode
from agents.runs import RunLogger, save_config, seed_everything
from envs.domains import DomainTasks
from envs.tool_duel import parallel_env


@dataclass
class PPOConfig:
    """PPO hyper-parameters (CleanRL names where they exist)."""

    learning_rate: float = 1e-4
    """Adam learning rate of the policy and the value head."""
    update_epochs: int = 2
    """Passes over each batch of rollouts."""
    num_minibatches: int = 2
    """Minibatches per pass."""
    clip_coef: float = 0.2
    """Surrogate clipping coefficient."""
    vf_coef: float = 0.5
    """Value-loss coefficient."""
    ent_coef: float = 0.0
    """Entropy-bonus coefficient."""
    kl_coef: float = 0.05
    """Per-token KL penalty to the frozen reference policy, paid in the reward (as in RLHF's PPO)."""
    kl_loss_coef: float = 0.0
    """Weight of a KL term to the reference in the loss, on every reply token (GRPO's ``beta``, its k3 estimator):
    it holds each token near the reference directly, including tokens the policy loss leaves out
    (`entropy_top_fraction`). Logged as ``kl_loss`` whenever the reference runs (with `kl_coef` alone too)."""
    gamma: float = 1.0
    """Discount over reply tokens."""
    gae_lambda: float = 0.95
    """GAE lambda."""
    advantage: str = "gae"
    """``gae``: GAE over reply tokens with the value head as baseline. ``reward``: every reply token's advantage is
    the reward still to come (the episode reward, group-centred by `training_batch`, plus the KL penalties from
    that token on), no critic in it, as in RLOO and GRPO; the value head still learns those returns."""
    norm_adv: bool = False
    """Whiten advantages over the batch's reply tokens. With group baselines most groups win (or lose) every
    episode; their advantages are only KL-penalty and critic noise, which whitening scales up."""
    adam_eps: float = 1e-3
    """Adam's epsilon. Adam scales every step to about ``learning_rate`` however weak the gradient: where few
    groups carry a signal, a larger epsilon keeps steps on near-zero gradients small (at 1e-5, a few FC
    iterations at lr 3e-4 can wreck the tiny FC model; with 1e-3 the query model can take lr 1e-3)."""
    max_grad_norm: float = 1.0
    """Gradient clipping norm."""
    warmup_updates: int = 0
    """Optimizer steps over which the learning rate rises linearly to ``learning_rate`` (0: none). A cold Adam's
    first step moves every weight by the full learning rate."""
    entropy_top_fraction: float = 1.0
    """Train the policy on this share of each minibatch's reply tokens, those where it is least sure (highest
    entropy), as in Wang et al. 2025, "high-entropy minority tokens" (1: every token). A rewrite is mostly copied
    text the policy is sure of; its few uncertain tokens are the choices that win or lose, and the others' share
    of the gradient is noise that erodes the copying. The value loss still sees every token."""
    max_forward_tokens: int = 2048
    """Most positions one forward pass takes (rows times the longest row's width, padding included): a minibatch
    goes through in passes of rows of similar length, their gradients summed into one optimizer step, so memory
    stays bounded and short rows do not pay for a long one's padding. A row longer than this goes alone. Under
    DDP a minibatch goes in one pass (each process's passes would differ in number)."""
    imitation_coef: float = 0.0
    """Weight of a cross-entropy term on demonstrations added to every minibatch's loss (0: pure PPO). The FC
    trainer demonstrates the target calls of the episodes it lost to valid queries: PPO pushes a failed reply
    down but says nothing of which reply was right, and the env knows (as PPO-ptx adds a supervised term). The
    query trainer has no demonstrations. Under DDP every process imitates the demonstrations of all of them."""


class ValueHead(nn.Module):
    """A linear critic over the policy's last hidden state."""

    def __init__(self, hidden_size: int):
        super().__init__()
        self.linear = nn.Linear(hidden_size, 1)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.linear(hidden).squeeze(-1)


def load_value_head(model: PreTrainedModel, directory: Path | None) -> ValueHead:
    """The value head saved beside a checkpoint, or a fresh zero-initialised one."""
    head = ValueHead(model.config.hidden_size)
    path = directory / "value_head.safetensors" if directory else None
    if path is not None and path.exists():
        head.load_state_dict(load_file(path))
    return head


def save_value_head(head: ValueHead, directory: Path) -> None:
    save_file(head.state_dict(), directory / "value_head.safetensors")


#: A sample joins the row of the samples before it when they share at least this share of its prompt, and the
#: row costs no more than its members' own rows would (`_row_cost`).
MIN_SHARED_PROMPT = 0.5


@dataclass
class Batch:
    """Sampled replies packed for training, with reply tensors of shape ``(samples, longest reply)``.

    Consecutive samples whose prompts share a prefix (a group: the same task, or the same tools) share a row: the
    prefix once, then each sample's segment (the rest of its prompt, then its reply). A segment attends to the
    prefix and to itself only, at the positions it would have alone, so every logit is the one the sample would
    get in a row of its own; the shared prefix is computed once. The logits at ``predictor[i, t]`` in row
    ``row[i]`` predict reply token ``t`` of sample ``i``.
    """

    input_ids: torch.Tensor
    position_ids: torch.Tensor
    segments: torch.Tensor
    """Per row position: -1 in the shared prefix, ``k`` in the row's ``k``-th segment, -2 in padding."""
    lengths: torch.Tensor
    """Per row: its used width."""
    row: torch.Tensor
    predictor: torch.Tensor
    targets: torch.Tensor
    reply_mask: torch.Tensor
    old_logprobs: torch.Tensor
    rewards: torch.Tensor


def _row_cost(width: int, hidden_size: int) -> int:
    """The work of a forward pass over a row of ``width`` positions, up to a constant factor: per position about
    ``12 h^2`` for the projections and the MLP, and ``4 h width`` for attention over the whole row (a masked
    kernel computes all of it, whatever the segments may see)."""
    return width * (3 * hidden_size + width)


def _pack(samples: list[Sample], hidden_size: int) -> list[tuple[list[int], int]]:
    """``(sample indices, shared prefix length)`` of each row (see `Batch` and `MIN_SHARED_PROMPT`), for a model
    of ``hidden_size``."""
    rows: list[tuple[list[int], int]] = []
    for index, sample in enumerate(samples):
        if rows:
            members, shared = rows[-1]
            common = shared_prefix_length(samples[members[0]].prompt_ids[:shared], sample.prompt_ids)
            candidates = [*members, index]
            width = common + sum(len(samples[i].prompt_ids) - common + len(samples[i].response_ids)
                                 for i in candidates)
            alone = sum(_row_cost(len(samples[i].prompt_ids) + len(samples[i].response_ids), hidden_size)
                        for i in candidates)
            if common >= MIN_SHARED_PROMPT * len(sample.prompt_ids) and _row_cost(width, hidden_size) <= alone:
                rows[-1] = (candidates, common)
                continue
        rows.append(([index], len(sample.prompt_ids)))
    return rows


def make_batch(samples: list[Sample], rewards: list[float], pad_id: int, hidden_size: int) -> Batch:
    """Pack ``samples`` into a `Batch` for a model of ``hidden_size``."""
    packs = _pack(samples, hidden_size)
    rows, positions, segments, row_of, predictor = [], [], [], [0] * len(samples), [[]] * len(samples)
    for row, (members, shared) in enumerate(packs):
        ids, pos, seg = list(samples[members[0]].prompt_ids[:shared]), list(range(shared)), [-1] * shared
        for k, i in enumerate(members):
            sample = samples[i]
            start = len(ids)
            segment = sample.prompt_ids[shared:] + sample.response_ids
            ids += segment
            pos += range(shared, shared + len(segment))
            seg += [k] * len(segment)
            # the logits at virtual position v (alone: prompt + reply) predict its token v + 1
            virtual = range(len(sample.prompt_ids) - 1, len(sample.prompt_ids) - 1 + len(sample.response_ids))
            predictor[i] = [v if v < shared else start + v - shared for v in virtual]
            row_of[i] = row
        rows.append(ids)
        positions.append(pos)
        segments.append(seg)
    width, reply_width = max(map(len, rows)), max(len(s.response_ids) for s in samples)

    def padded(values: list[list], fill, size: int, dtype=torch.long) -> torch.Tensor:
        return torch.tensor([list(v) + [fill] * (size - len(v)) for v in values], dtype=dtype)

    return Batch(
        input_ids=padded(rows, pad_id, width), position_ids=padded(positions, 0, width),
        segments=padded(segments, -2, width), lengths=torch.tensor([len(r) for r in rows]),
        row=torch.tensor(row_of), predictor=padded(predictor, 0, reply_width),
        targets=padded([s.response_ids for s in samples], pad_id, reply_width),
        reply_mask=padded([[True] * len(s.response_ids) for s in samples], False, reply_width, torch.bool),
        old_logprobs=padded([s.logprobs for s in samples], 0.0, reply_width, torch.float),
        rewards=torch.tensor(rewards, dtype=torch.float))


def packed_inputs(batch: Batch, rows: torch.Tensor, width: int, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """Keyword arguments of a transformers forward over ``rows`` cut to ``width``: ids, positions and the additive
    4-D attention mask of `Batch` (a position sees earlier ones in the shared prefix or in its own segment)."""
    segments = batch.segments[rows, :width]
    position = torch.arange(width)
    same_segment = segments[:, :, None] == segments[:, None, :]
    allowed = (position[:, None] >= position[None, :]) & ((segments == -1)[:, None, :] | same_segment)
    mask = torch.zeros(allowed.shape, dtype=dtype).masked_fill_(~allowed, torch.finfo(dtype).min)
    return {"input_ids": batch.input_ids[rows, :width], "attention_mask": mask[:, None],
            "position_ids": batch.position_ids[rows, :width]}


def at_replies(batch: Batch, rows: torch.Tensor, *per_position: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """``(samples, then each of per_position at every reply token's predicting position)`` for the samples in
    ``rows``; each of ``per_position`` is ``(len(rows), width, ...)``."""
    local = torch.full((len(batch.lengths),), -1)
    local[rows] = torch.arange(len(rows))
    members = torch.nonzero(local[batch.row] >= 0).squeeze(1)
    where = (local[batch.row[members]][:, None], batch.predictor[members])
    return members, *(tensor[where] for tensor in per_position)


class ActorCritic(nn.Module):
    """The policy LM and its value head as one module: what DDP wraps when several processes train."""

    def __init__(self, model: PreTrainedModel, head: ValueHead):
        super().__init__()
        self.model, self.head = model, head

    def forward(self, **inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.model(**inputs, output_hidden_states=True)
        return out.logits, self.head(out.hidden_states[-1].float())


def _token_stats(logits: torch.Tensor, targets: torch.Tensor,
                 temperature: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probability of each target token and the entropy of its distribution, under the sampling distribution
    ``softmax(logits / temperature)``."""
    logprobs_all = torch.log_softmax(logits.float() / temperature, dim=-1)
    logprobs = logprobs_all.gather(-1, targets[..., None]).squeeze(-1)
    return logprobs, -(logprobs_all.exp() * logprobs_all).sum(-1)


def _masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (x * mask).sum() / mask.sum().clamp(min=1)


def _k3(ref_logprobs: torch.Tensor, logprobs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """KL(policy || reference) per reply token, k3 estimator (unbiased, never negative), meaned over ``mask``."""
    to_reference = ref_logprobs - logprobs
    return _masked_mean(to_reference.exp() - to_reference - 1, mask)


def _most_uncertain(entropy: torch.Tensor, mask: torch.Tensor, fraction: float) -> torch.Tensor:
    """``mask`` narrowed to its ``fraction`` of tokens with the highest ``entropy`` (ties at the cut kept)."""
    if fraction >= 1.0 or not mask.any():
        return mask
    cut = torch.quantile(entropy[mask.bool()], 1.0 - fraction)
    return mask * (entropy >= cut)


def _warm_up(optimizer: torch.optim.Optimizer, config: PPOConfig) -> None:
    """Set the learning rate for the next step from the steps the optimizer has taken (kept in its saved state)."""
    if config.warmup_updates <= 0:
        return
    state = next(iter(optimizer.state.values()), {})
    taken = int(state.get("step", 0))
    for group in optimizer.param_groups:
        group["lr"] = config.learning_rate * min(1.0, (taken + 1) / config.warmup_updates)


def length_minibatches(lengths: torch.Tensor, count: int,
                       forward_tokens: int | None) -> list[list[tuple[torch.Tensor, int]]]:
    """The rows split into ``count`` minibatches of similar lengths (an optimizer step each), each a list of
    forward passes ``(rows, width)`` of at most ``forward_tokens`` positions (rows times the pass's width, its
    longest row; a longer row goes alone; None: one pass): short rows do not pay for the longest one's padding."""
    order = torch.argsort(lengths, descending=True, stable=True)
    minibatches = []
    for rows in order.tensor_split(min(count, len(order))):
        passes, start = [], 0
        while start < len(rows):
            width = int(lengths[rows[start]])
            size = len(rows) if forward_tokens is None else max(1, forward_tokens // width)
            passes.append((rows[start:start + size], width))
            start += size
        if passes:
            minibatches.append(passes)
    return minibatches


def advantages_and_returns(token_rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor,
                           config: PPOConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Per reply token ``(advantage, return)`` from its reward and the critic's value (`PPOConfig.advantage`,
    ``norm_adv``); all ``(samples, longest reply)`` with ``mask`` marking reply tokens."""
    if config.advantage not in ("gae", "reward"):
        raise ValueError(f"PPOConfig.advantage must be 'gae' or 'reward', got {config.advantage!r}")
    baseline = values if config.advantage == "gae" else torch.zeros_like(values)
    gae_lambda = config.gae_lambda if config.advantage == "gae" else 1.0
    advantages = torch.zeros_like(token_rewards)
    next_advantage = torch.zeros(len(token_rewards))
    next_value = torch.zeros(len(token_rewards))
    for t in reversed(range(token_rewards.shape[1])):
        live = mask[:, t]
        delta = token_rewards[:, t] + config.gamma * next_value - baseline[:, t]
        advantage = delta + config.gamma * gae_lambda * next_advantage
        advantages[:, t] = advantage * live
        next_advantage = torch.where(live.bool(), advantage, next_advantage)
        next_value = torch.where(live.bool(), baseline[:, t], next_value)
    returns = advantages + baseline
    if config.norm_adv:
        mean = _masked_mean(advantages, mask)
        std = _masked_mean((advantages - mean) ** 2, mask).sqrt()
        advantages = (advantages - mean) / (std + 1e-8) * mask
    return advantages, returns


def _token_shares(batch: Batch, passes: list[tuple[torch.Tensor, int]]) -> list[float]:
    """Each pass's share of its minibatch's reply tokens: the weight of that pass's per-token means, so the
    minibatch's loss is the mean over all its reply tokens."""
    per_row = torch.zeros(len(batch.lengths)).index_add_(0, batch.row, batch.reply_mask.sum(1).float())
    tokens = [float(per_row[rows].sum()) for rows, _ in passes]
    return [count / max(1.0, sum(tokens)) for count in tokens]


def ppo_update(policy: nn.Module, reference: PreTrainedModel, optimizer: torch.optim.Optimizer,
               samples: list[Sample], rewards: list[float], pad_id: int, config: PPOConfig,
               generator: torch.Generator, temperature: float = 1.0,
               demonstrations: list[Sample] = ()) -> dict[str, float]:
    """One PPO update of ``policy`` (an `ActorCritic`, maybe DDP-wrapped) on ``samples``, each rewarded with its
    episode reward; returns logged statistics. ``temperature`` is the one the samples were drawn at: the policy
    trained, and the reference it is held near, are the LMs' distributions at that temperature. With
    ``imitation_coef``, each minibatch also takes its share of ``demonstrations`` and adds their mean negative
    log-likelihood (at that temperature), weighted.

    Samples share rows where their prompts share a prefix (`Batch`); minibatches group rows of similar length,
    go through in forward passes of at most ``max_forward_tokens`` positions, and come in a random order in every
    epoch. With ``kl_coef=0`` and ``kl_loss_coef=0`` the reference model is
    never run, and with ``advantage="reward"`` and ``vf_coef=0`` neither is the critic before the update."""
    hidden_size = reference.config.get_text_config().hidden_size
    batch = make_batch(samples, rewards, pad_id, hidden_size)
    mask = batch.reply_mask.float()
    # under DDP every process must make the same passes (each backward averages gradients): one per minibatch
    forward_tokens = None if isinstance(policy, DistributedDataParallel) else config.max_forward_tokens
    minibatches = length_minibatches(batch.lengths, config.num_minibatches, forward_tokens)
    dtype = next(policy.parameters()).dtype
    with torch.no_grad():
        ref_logprobs = batch.old_logprobs.clone()
        old_values = torch.zeros_like(batch.old_logprobs)
        for rows, width in itertools.chain.from_iterable(minibatches):
            inputs = packed_inputs(batch, rows, width, dtype)
            if config.kl_coef or config.kl_loss_coef:
                members, logits = at_replies(batch, rows, reference(**inputs).logits)
                ref_logprobs[members] = _token_stats(logits, batch.targets[members], temperature)[0]
            if config.advantage == "gae" or config.vf_coef:
                members, values = at_replies(batch, rows, policy(**inputs)[1])
                old_values[members] = values
        kl = (batch.old_logprobs - ref_logprobs) * mask
        token_rewards = -config.kl_coef * kl
        last = mask.sum(1).long() - 1  # each reply's last token
        token_rewards[torch.arange(len(samples)), last] += batch.rewards
        advantages, returns = advantages_and_returns(token_rewards, old_values, mask, config)
    imitating = bool(config.imitation_coef and demonstrations)
    if imitating:
        shown = make_batch(list(demonstrations), [0.0] * len(demonstrations), pad_id, hidden_size)
        shown_minibatches = length_minibatches(shown.lengths, len(minibatches), forward_tokens)
    # under DDP with imitation, each step's one gradient averaging waits for its imitation pass, the last backward
    defer_sync = imitating and isinstance(policy, DistributedDataParallel)

    def policy_pass(rows: torch.Tensor, width: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The loss of one forward pass over ``rows`` and its statistics, each a mean over its reply tokens."""
        members, logits, values = at_replies(batch, rows, *policy(**packed_inputs(batch, rows, width, dtype)))
        m = mask[members]
        new_logprobs, entropy = _token_stats(logits, batch.targets[members], temperature)
        log_ratio = (new_logprobs - batch.old_logprobs[members]) * m
        ratio = log_ratio.exp()
        advantage = advantages[members]
        clipped = ratio.clamp(1 - config.clip_coef, 1 + config.clip_coef)
        surrogate = torch.max(-advantage * ratio, -advantage * clipped)
        trained = _most_uncertain(entropy.detach(), m, config.entropy_top_fraction)
        terms = {"policy_loss": _masked_mean(surrogate, trained),
                 "value_loss": 0.5 * _masked_mean((values - returns[members]) ** 2, m),
                 "entropy": _masked_mean(entropy, m)}
        loss = terms["policy_loss"] + config.vf_coef * terms["value_loss"] - config.ent_coef * terms["entropy"]
        if config.kl_loss_coef:
            terms["kl_loss"] = _k3(ref_logprobs[members], new_logprobs, m)
            loss = loss + config.kl_loss_coef * terms["kl_loss"]
        elif config.kl_coef:  # logged: the sampled-token KL cannot see mass moved off tokens no longer sampled
            with torch.no_grad():
                terms["kl_loss"] = _k3(ref_logprobs[members], new_logprobs, m)
        with torch.no_grad():
            terms["approx_kl"] = _masked_mean((ratio - 1) - log_ratio, m)
            terms["clipfrac"] = _masked_mean(((ratio - 1).abs() > config.clip_coef).float(), m)
        return loss, terms

    def imitation_pass(rows: torch.Tensor, width: int) -> torch.Tensor:
        """The mean negative log-likelihood of the demonstrations in ``rows``."""
        members, logits, _ = at_replies(shown, rows, *policy(**packed_inputs(shown, rows, width, dtype)))
        logprobs = _token_stats(logits, shown.targets[members], temperature)[0]
        return -_masked_mean(logprobs, shown.reply_mask[members].float())

    stats: dict[str, list[float]] = defaultdict(list)
    for _ in range(config.update_epochs):
        for index in torch.randperm(len(minibatches), generator=generator).tolist():
            optimizer.zero_grad()
            policy_passes = minibatches[index]
            minibatch_stats: dict[str, float] = defaultdict(float)
            with policy.no_sync() if defer_sync else contextlib.nullcontext():
                for (rows, width), share in zip(policy_passes, _token_shares(batch, policy_passes)):
                    loss, terms = policy_pass(rows, width)
                    (loss * share).backward()
                    for name, value in terms.items():
                        minibatch_stats[name] += share * value.item()
            if imitating:
                shown_passes = shown_minibatches[index % len(shown_minibatches)]
                for (rows, width), share in zip(shown_passes, _token_shares(shown, shown_passes)):
                    imitation_loss = imitation_pass(rows, width)
                    (config.imitation_coef * imitation_loss * share).backward()
                    minibatch_stats["imitation_loss"] += share * imitation_loss.item()
            nn.utils.clip_grad_norm_(policy.parameters(), config.max_grad_norm)
            _warm_up(optimizer, config)
            optimizer.step()
            for name, value in minibatch_stats.items():
                stats[name].append(value)
    summary = {k: sum(v) / len(v) for k, v in stats.items()}
    if config.kl_coef:
        summary["kl_to_reference"] = _masked_mean(kl, mask).item()
    return summary


def _gathered(items: list) -> list:
    """Every process's ``items``, in rank order, on every process."""
    lists = [None] * dist.get_world_size()
    dist.all_gather_object(lists, items)
    return [item for items_of_rank in lists for item in items_of_rank]


class Learner:
    """An `HFAgent` being trained: its value head, a frozen KL reference (the starting model), and the optimizer.

    ``checkpoint`` (a directory `save` wrote) restores the value head and the optimizer's state.
    """

    def __init__(self, agent: HFAgent, config: PPOConfig, seed: int, checkpoint: Path | None = None,
                 reference: PreTrainedModel | None = None):
        if agent.temperature <= 0:
            raise ValueError("PPO trains a sampling policy: give the trained agent a temperature above 0")
        self.agent, self.config = agent, config
        self.model = agent.model
        self.head = load_value_head(self.model, checkpoint)
        self.reference = copy.deepcopy(reference or self.model).eval().requires_grad_(False)
        self.policy: nn.Module = ActorCritic(self.model, self.head)
        if dist.is_initialized():  # launched by torchrun / accelerate: gradients are averaged across processes
            # imitation's passes leave the value head out, so DDP must look for parameters without gradients
            self.policy = DistributedDataParallel(self.policy, find_unused_parameters=bool(config.imitation_coef))
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=config.learning_rate, eps=config.adam_eps)
        if checkpoint is not None and (checkpoint / "optimizer.pt").exists():
            self.optimizer.load_state_dict(torch.load(checkpoint / "optimizer.pt"))
        self.generator = torch.Generator().manual_seed(seed)

    def reseed(self, seed: int) -> None:
        """Re-seed sampling and minibatch order, so a phase replays the same from any starting point."""
        self.agent.reset(seed)
        self.generator.manual_seed(seed)

    def update(self, samples: list[Sample], rewards: list[float],
               demonstrations: list[Sample] = ()) -> dict[str, float]:
        """One PPO update (with imitation of ``demonstrations``, see `PPOConfig.imitation_coef`); an empty batch
        changes nothing. Under DDP, processes with fewer samples than the others join the gradient averaging
        without data (`DistributedDataParallel.join`)."""
        if isinstance(self.policy, DistributedDataParallel) and self.config.imitation_coef:
            demonstrations = _gathered(list(demonstrations))  # the same on every process: the same passes
        self.policy.train()
        with self.policy.join() if isinstance(self.policy, DistributedDataParallel) else contextlib.nullcontext():
            stats = ppo_update(self.policy, self.reference, self.optimizer, samples, rewards, self.agent.pad_id,
                               self.config, self.generator, self.agent.temperature,
                               demonstrations) if samples else {}
        self.policy.eval()
        return stats

    def save(self, directory: Path) -> None:
        """Save the policy and tokenizer (loadable with `HFAgent.from_pretrained`), value head and optimizer."""
        directory.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(directory)
        self.agent.tokenizer.save_pretrained(directory)
        save_value_head(self.head, directory)
        torch.save(self.optimizer.state_dict(), directory / "optimizer.pt")


@dataclass
class TrainerArgs:
    """Arguments common to both trainers (each adds its ``policy`` and ``opponent``)."""

    seed: int = 0
    """Seeds Python, NumPy, torch, the tasks and every sampler."""
    iterations: int = 10
    """PPO iterations (one batch of episodes and one update each)."""
    batch_size: int = 32
    """Episodes per iteration."""
    group_size: int = 1
    """Episodes per task: each iteration plays ``batch_size / group_size`` tasks, each ``group_size`` times, and
    each episode is trained on its reward minus its group's mean (a per-task baseline, as in RLOO and GRPO)."""
    env: dict[str, Any] = field(default_factory=lambda: {"max_turns": 1})
    """Keyword arguments of `envs.tool_duel.parallel_env`."""
    tasks: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments of `envs.domains.DomainTasks` (``domains``, ``kinds``); episodes draw the train split."""
    ppo: PPOConfig = field(default_factory=PPOConfig)
    """PPO hyper-parameters."""
    run_dir: str = ""
    """Where logs and the final checkpoint go (default: Hydra's run directory)."""
    policy: dict[str, Any] = field(default_factory=dict)
    """The model to train (an `agents.factory` spec of an LM agent)."""
    opponent: dict[str, Any] = field(default_factory=dict)
    """The frozen opponent (any `agents.factory` spec)."""

    def episode_seeds(self, step: int) -> list[int]:
        """The env seeds of iteration ``step`` in this process: distinct across iterations, processes and runs."""
        rank, world = rank_and_world()
        first = (step * world + rank) * self.batch_size
        return [self.seed * 1_000_003 + first + i // self.group_size for i in range(self.batch_size)]


def training_batch(episodes: list[Episode], role: str, group_size: int) -> tuple[list[Sample], list[float]]:
    """The trained side's samples and the reward each is trained on.

    Episodes come in consecutive groups of ``group_size`` that share a task (`TrainerArgs.episode_seeds`). With
    groups, an episode's reward minus the mean reward of its group is what is learned: only what tells answers to
    the same task apart, not how hard the task is. Episodes without samples (an FC model that never got a valid
    query) are in no group.
    """
    samples, rewards = [], []
    for start in range(0, len(episodes), group_size):
        group = [episode for episode in episodes[start:start + group_size] if episode.samples]
        baseline = sum(e.rewards[role] for e in group) / len(group) if group_size > 1 and group else 0.0
        for episode in group:
            samples += episode.samples
            rewards += [episode.rewards[role] - baseline] * len(episode.samples)
    return samples, rewards


def domain_tasks(arguments: Any, split: str) -> DomainTasks:
    """`envs.domains.DomainTasks` of ``split`` from a config mapping (lists become tuples)."""
    return DomainTasks(split=split, **{k: tuple(v) for k, v in dict(arguments).items()})


def init_distributed() -> None:
    """Join the process group when launched by ``torchrun`` or ``accelerate launch`` (gloo on CPU, nccl on GPU)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")


def rank_and_world() -> tuple[int, int]:
    """``(rank, world size)`` of this process; ``(0, 1)`` when it trains alone."""
    return (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)


def prepare(args: TrainerArgs, learner: Learner | None, opponent: Agent | None, logger: RunLogger | None,
            first_step: int) -> tuple[Learner, Agent, RunLogger, list[parallel_env]]:
    """Build whatever the caller did not pass (learner, opponent, logger, the batch of envs), then seed every
    random source from ``(args.seed, first_step)`` and the process rank alone, so a phase replays the same however
    it is reached. Under torchrun each process plays its own episodes; rank 0 logs to the run directory."""
    init_distributed()
    rank, _ = rank_and_world()
    learner = learner or Learner(build_agent({**args.policy, "seed": args.seed}), args.ppo, args.seed)
    opponent = opponent or build_agent(args.opponent)
    phase_seed = args.seed * 1_000_003 + first_step + 7_919 * rank
    seed_everything(phase_seed)
    learner.reseed(phase_seed)
    reset_agent(opponent, phase_seed + 1)
    logger = logger or RunLogger(Path(args.run_dir) / (f"rank_{rank}" if rank else ""))
    envs = [parallel_env(tasks=domain_tasks(args.tasks, "train"), **args.env) for _ in range(args.batch_size)]
    return learner, opponent, logger, envs


def run_from_cli(config: Any, train: Callable[[Any], tuple[Learner, list]]) -> None:
    """The body of a trainer's Hydra ``main``: record the config, train, save the final checkpoint."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    args = OmegaConf.to_object(config)
    args.run_dir = args.run_dir or HydraConfig.get().runtime.output_dir
    save_config(Path(args.run_dir), args)  # resolved, with the run directory filled in
    learner, _ = train(args)
    if rank_and_world()[0] == 0:
        learner.save(Path(args.run_dir) / "checkpoint")
