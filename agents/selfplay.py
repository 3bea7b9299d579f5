"""Alternating self-play: ``python -m agents.selfplay``.

Each round trains the query model against a frozen FC model (`agents.ppo_query`), then the FC model against
a frozen query model (`agents.ppo_fc`), and evaluates both on held-out tasks. The run directory gets:

* ``config.yaml`` (the resolved config) and ``metrics.jsonl`` (every PPO iteration and every evaluation),
* ``checkpoints/round_<r>/{fc,query}`` (loadable with ``agent@fc=hf fc.path=...``), ``tb/`` (TensorBoard),
* ``adversarial.jsonl``: the valid queries that beat the FC model, with their target calls and operator mix:
  augmentation data,
* ``selfplay.png`` (both sides per round) and ``summary.md`` (the figures per round, as printed).

Configured with Hydra (``hydra_conf/config.yaml``, groups ``env``, ``tasks``, ``agent@fc``, ``agent@query``,
``trainer``); sweep with ``python -m agents.selfplay -m seed=0,1,2``; multi-step tasks (calls that need earlier
tool results) with ``tasks=multi_step env=multi_turn``.
``resume=true run_dir=<dir>`` continues an interrupted run after its last saved round, with the same results
as an uninterrupted run (every phase is seeded from the seed and its step alone).
"""

from __future__ import annotations

import copy
import json
import random
from collections import Counter
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig
from tqdm import tqdm

from agents import ppo_fc, ppo_query
from agents.factory import build_agent
from agents.hf import HFAgent
from agents.ppo import Learner, PPOConfig, domain_tasks
from agents.report import plot_selfplay, write_summary
from agents.rollout import Episode, OneTask, lost_to_valid_queries, play_duels
from agents.runs import RunLogger, append_jsonl, save_config, saved_rounds, seed_everything
from agents.scripted import detected_operators
from envs.tool_duel import FC, QUERY, parallel_env

EVAL_SEED_OFFSET = 10_000_000


def frozen_copy(agent: HFAgent, temperature: float, seed: int) -> HFAgent:
    """A snapshot of ``agent`` that later training does not change."""
    return HFAgent(copy.deepcopy(agent.model), agent.tokenizer, temperature=temperature,
                   max_new_tokens=agent.max_new_tokens, seed=seed, call_style=agent.call_style)


class RecordedQueries:
    """Plays ``query_0`` by replaying the queries of an earlier evaluation, in the order of its tasks."""

    def __init__(self, queries: list[str]):
        self.queries = queries

    def act_batch(self, prompts: list) -> list[str]:
        if len(prompts) != len(self.queries):
            raise ValueError(f"{len(self.queries)} recorded queries for {len(prompts)} tasks")
        return list(self.queries)


def greedy(fc: HFAgent) -> HFAgent:
    """The FC model as evaluated: greedy, on the same weights."""
    return HFAgent(fc.model, fc.tokenizer, temperature=0.0, max_new_tokens=fc.max_new_tokens)


def answered_again(fc: HFAgent, lost: list[Episode], config: DictConfig) -> int:
    """How many of the ``lost`` episodes the FC model answers right (greedy) when it gets the same task and query."""
    envs = [parallel_env(tasks=OneTask(episode.task), **config.env) for episode in lost]
    replayed = play_duels(envs, list(range(len(lost))), RecordedQueries([e.query for e in lost]), greedy(fc))
    return sum(episode.fc_correct for episode in replayed)


def held_out(config: DictConfig) -> tuple[list, list[int]]:
    """One env per held-out (test split) evaluation task, and the seeds that draw the run's ``eval_tasks``."""
    envs = [parallel_env(tasks=domain_tasks(config.tasks, "test"), **config.env) for _ in range(config.eval_tasks)]
    return envs, [EVAL_SEED_OFFSET + config.seed * 1_000 + i for i in range(config.eval_tasks)]


def evaluate(fc: HFAgent, query: HFAgent, config: DictConfig, since: dict | None = None,
             trained: str | None = None, query_seed: int | None = None) -> dict[str, float]:
    """FC success on clean held-out tasks and on the query model's attacks of the same tasks (FC greedy), with
    each task's outcome (None where the query model's query was invalid) and query. The query model samples
    with ``query_seed`` (default: the run's seed).

    ``since`` (an earlier evaluation) and ``trained`` (the one role that trained after it) reuse what cannot have
    changed: the clean outcomes when only the query model trained, the query model's queries when only the FC
    model did (both are seeded, so a rerun would give the same)."""
    envs, seeds = held_out(config)
    greedy_fc = greedy(fc)
    if since is not None and trained == QUERY:
        clean_outcomes = since["eval/clean_outcomes"]
    else:
        clean_outcomes = [e.fc_correct for e in play_duels(envs, seeds, None, greedy_fc)]
    if since is not None and trained == FC and "eval/attacked_queries" in since:  # older runs lack them
        attacker = RecordedQueries(since["eval/attacked_queries"])
    else:
        attacker = HFAgent(query.model, query.tokenizer, temperature=query.temperature,
                           max_new_tokens=query.max_new_tokens,
                           seed=config.seed if query_seed is None else query_seed)
    attacked = play_duels(envs, seeds, attacker, greedy_fc)
    valid = [e for e in attacked if e.query_valid]
    return {
        "eval/fc_clean_success": sum(clean_outcomes) / len(clean_outcomes),
        "eval/fc_attacked_success": sum(e.fc_correct for e in valid) / max(1, len(valid)),
        "eval/query_valid_rate": len(valid) / len(attacked),
        "eval/tasks": len(clean_outcomes),
        "eval/valid_queries": len(valid),
        "eval/clean_outcomes": clean_outcomes,
        "eval/attacked_outcomes": [e.fc_correct if e.query_valid else None for e in attacked],
        "eval/attacked_queries": [e.query for e in attacked],
    }


def adversarial_records(episodes: list[Episode], round_index: int) -> list[dict]:
    """The valid queries that beat the FC model, with the target calls and tools: augmentation data. Each names
    the perturbation operators whose traces it shows (`agents.scripted.detected_operators`): its operator mix."""
    return [{"round": round_index, "task_id": e.task_id, "kind": e.kind, "query": e.query,
             "seed_query": e.seed_query, "target_calls": e.target_calls, "tools": json.loads(e.tools_json),
             "operators": detected_operators(e.query, e.task), "fc_reply": e.fc_replies[-1],
             "error_type": e.verdict.error_type}
            for e in episodes if e.query_valid and not e.fc_correct]


def operator_mix(records: list[dict]) -> dict[str, int]:
    """How many of ``records`` show each operator (``none`` for those that show none), most frequent first."""
    counts = Counter(name for record in records for name in record["operators"] or ["none"])
    return dict(counts.most_common())


def pick(pool: list[HFAgent], strategy: str, rng: random.Random) -> HFAgent:
    if strategy == "latest":
        return pool[-1]
    if strategy == "uniform":
        return rng.choice(pool)
    raise ValueError(f"unknown opponent_pool {strategy!r}; choose latest or uniform")


def keep_lines(path: Path, keep) -> list[dict]:
    """Rewrite a JSONL file with the records ``keep`` accepts; return them."""
    if not path.exists():
        return []
    records = [record for record in map(json.loads, path.read_text().splitlines()) if keep(record)]
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return records


def checkpoint_agent(directory: Path, like: HFAgent) -> HFAgent:
    return HFAgent.from_pretrained(directory, temperature=like.temperature, max_new_tokens=like.max_new_tokens,
                                   call_style=like.call_style)


@hydra.main(version_base=None, config_path="../hydra_conf", config_name="config")
def main(config: DictConfig) -> None:
    run_dir = Path(config.run_dir or HydraConfig.get().runtime.output_dir)
    done = saved_rounds(run_dir) if config.resume else 0
    save_config(run_dir, config)
    seed_everything(config.seed)
    ppo = {role: PPOConfig(**{**config.trainer, **config[f"{role}_trainer"]}) for role in ("fc", "query")}
    start = {role: build_agent({**config[role], "seed": config.seed}) for role in ("fc", "query")}
    learners, pools = {}, {}
    # FC snapshots play greedily, as deployed; query snapshots sample at the query model's own temperature
    for role, temperature in (("fc", 0.0), ("query", start["query"].temperature)):
        rounds = [run_dir / "checkpoints" / f"round_{r}" / role for r in range(1, done + 1)]
        agent = checkpoint_agent(rounds[-1], start[role]) if rounds else start[role]
        learners[role] = Learner(agent, ppo[role], config.seed, rounds[-1] if rounds else None, start[role].model)
        pools[role] = [frozen_copy(start[role], temperature, config.seed)]
        pools[role] += [frozen_copy(checkpoint_agent(d, start[role]), temperature, config.seed) for d in rounds]
    fc, query = learners["fc"], learners["query"]
    steps_per_round = config.query_iterations + config.fc_iterations
    if done:
        print(f"resuming {run_dir} after round {done}")
    rows = [r for r in keep_lines(run_dir / "metrics.jsonl", lambda r: r.get("round", 0) <= done
                                  if "phase" in r else r["step"] < done * steps_per_round) if "phase" in r]
    keep_lines(run_dir / "adversarial.jsonl", lambda record: record["round"] <= done)
    logger = RunLogger(run_dir)
    common = {"seed": config.seed, "batch_size": config.batch_size, "group_size": config.group_size,
              "env": dict(config.env), "tasks": dict(config.tasks)}
    query_args = ppo_query.Args(iterations=config.query_iterations, ppo=ppo["query"], **common)
    fc_args = ppo_fc.Args(iterations=config.fc_iterations, ppo=ppo["fc"], clean_fraction=config.fc_clean_fraction,
                          **common)
    if not rows:
        rows.append({"round": 0, "phase": "start", **evaluate(fc.agent, query.agent, config)})
        logger.log(0, rows[-1])
    for round_index in tqdm(range(done + 1, config.rounds + 1), desc="self-play rounds", unit="round",
                            initial=done, total=config.rounds):
        rng = random.Random(config.seed * 1_000 + round_index)
        step = (round_index - 1) * steps_per_round
        _, query_episodes = ppo_query.train(query_args, query, pick(pools["fc"], config.opponent_pool, rng), logger,
                                            step)
        step += config.query_iterations
        records = adversarial_records(query_episodes, round_index)
        append_jsonl(run_dir / "adversarial.jsonl", records)
        query_reward = sum(e.rewards[QUERY] for e in query_episodes) / len(query_episodes)
        rows.append({"round": round_index, "phase": "query", "train/query_mean_reward": query_reward,
                     "train/adversarial_queries": len(records), "train/operator_mix": operator_mix(records),
                     **evaluate(fc.agent, query.agent, config, since=rows[-1], trained=QUERY)})
        logger.log(step, rows[-1])
        pools["query"].append(frozen_copy(query.agent, query.agent.temperature, config.seed + round_index))
        lost = lost_to_valid_queries(query_episodes)  # the FC snapshot it played lost them
        answered_before = answered_again(fc.agent, lost, config)

        # the FC phase also imitates the right replies to the query phase's winning queries (fc_trainer.imitation_coef)
        _, episodes = ppo_fc.train(fc_args, fc, pick(pools["query"], config.opponent_pool, rng), logger, step,
                                   lessons=query_episodes)
        step += config.fc_iterations
        rows.append({"round": round_index, "phase": "fc", "train/fc_mean_reward":
                     sum(e.rewards[FC] for e in episodes) / len(episodes), "train/lost_queries": len(lost),
                     "train/lost_answered_before": answered_before,
                     "train/lost_answered_after": answered_again(fc.agent, lost, config),
                     **evaluate(fc.agent, query.agent, config, since=rows[-1], trained=FC)})
        logger.log(step, rows[-1])
        pools["fc"].append(frozen_copy(fc.agent, 0.0, config.seed + round_index))
        for name, learner in learners.items():
            learner.save(run_dir / "checkpoints" / f"round_{round_index}" / name)
    logger.close()
    plot_selfplay(rows, run_dir / "selfplay.png")
    print(write_summary(rows, run_dir))


if __name__ == "__main__":
    main()
