"""How much self-play's evaluation moves when nothing is trained: the noise a phase's change must exceed.

Scores the shipped tiny FC model (greedy) against the shipped tiny query model on the same held-out tasks as
``python -m agents.selfplay`` (its ``seed`` and ``eval_tasks``), re-sampling only the query model's attacks with
other sampling seeds, and prints FC success vs the query model and the valid query rate for each, with their
spread. Run: ``python benchmarks/eval_noise.py [--samplings 6] [--eval-tasks 96] [--seed 0]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from omegaconf import OmegaConf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agents.factory import build_agent  # noqa: E402
from agents.hf import HFAgent  # noqa: E402
from agents.rollout import play_duels  # noqa: E402
from agents.selfplay import held_out  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samplings", type=int, default=6, help="query sampling seeds 0..N-1")
    parser.add_argument("--eval-tasks", type=int, default=96)
    parser.add_argument("--seed", type=int, default=0, help="self-play's seed: which held-out tasks are drawn")
    args = parser.parse_args()
    fc = build_agent({"kind": "tiny", "role": "fc", "seed": args.seed})
    query = build_agent({"kind": "tiny", "role": "query", "seed": args.seed, "temperature": 0.7})
    greedy_fc = HFAgent(fc.model, fc.tokenizer, temperature=0.0, max_new_tokens=fc.max_new_tokens)
    envs, seeds = held_out(OmegaConf.create({"seed": args.seed, "eval_tasks": args.eval_tasks, "tasks": {},
                                             "env": {}}))  # self-play's default tasks and env
    successes, valid_rates = [], []
    print(f"{args.eval_tasks} held-out tasks (self-play seed {args.seed}); query model at temperature 0.7")
    for sampling_seed in range(args.samplings):
        attacker = HFAgent(query.model, query.tokenizer, temperature=query.temperature,
                           max_new_tokens=query.max_new_tokens, seed=sampling_seed)
        episodes = play_duels(envs, seeds, attacker, greedy_fc)
        valid = [e for e in episodes if e.query_valid]
        successes.append(100 * sum(e.fc_correct for e in valid) / max(1, len(valid)))
        valid_rates.append(100 * len(valid) / len(episodes))
        print(f"sampling seed {sampling_seed}: FC success vs query model {successes[-1]:5.1f} %, "
              f"valid queries {valid_rates[-1]:5.1f} %", flush=True)
    for name, values in (("FC success vs query model", successes), ("valid query rate", valid_rates)):
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        print(f"{name}: {min(values):.1f} to {max(values):.1f} % (sd {spread:.1f} points) with nothing trained")


if __name__ == "__main__":
    main()
