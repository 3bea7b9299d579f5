"""How much self-play's evaluation moves when nothing is trained: the noise a phase's change must exceed.

Runs self-play's evaluation (`agents.selfplay.evaluate`) of its starting models, on its held-out tasks, with
the query model's attacks re-sampled under other sampling seeds (the clean outcomes are scored once), and
prints FC success vs the query model and the valid query rate for each, with their spread. The config is
self-play's own (``hydra_conf``), so Hydra overrides change it as they change a run:
``python benchmarks/eval_noise.py [--samplings 6] [seed=1 eval_tasks=192 ...]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from hydra import compose, initialize_config_dir

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from agents.factory import build_agent  # noqa: E402
from agents.selfplay import evaluate  # noqa: E402
from envs.tool_duel import QUERY  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samplings", type=int, default=6, help="query sampling seeds 0..N-1")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of self-play's config")
    args = parser.parse_args()
    with initialize_config_dir(config_dir=str(REPO / "hydra_conf"), version_base=None):
        config = compose("config", overrides=args.overrides)
    fc, query = (build_agent({**config[role], "seed": config.seed}) for role in ("fc", "query"))
    print(f"{config.eval_tasks} held-out tasks (self-play seed {config.seed}); query model at temperature "
          f"{query.temperature}")
    successes, valid_rates, first = [], [], None
    for sampling_seed in range(args.samplings):
        result = evaluate(fc, query, config, since=first, trained=QUERY if first else None, query_seed=sampling_seed)
        first = first or result
        successes.append(100 * result["eval/fc_attacked_success"])
        valid_rates.append(100 * result["eval/query_valid_rate"])
        print(f"sampling seed {sampling_seed}: FC success vs query model {successes[-1]:5.1f} %, "
              f"valid queries {valid_rates[-1]:5.1f} %", flush=True)
    for name, values in (("FC success vs query model", successes), ("valid query rate", valid_rates)):
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        print(f"{name}: {min(values):.1f} to {max(values):.1f} % (sd {spread:.1f} points) with nothing trained")


if __name__ == "__main__":
    main()
