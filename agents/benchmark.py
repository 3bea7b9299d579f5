"""Score an FC agent on the same tasks, clean and attacked by a frozen adversary, and write a report.

Every task (drawn from the built-in domains, ``split`` "test" by default) is played once with its seed query
(*clean*) and ``attacks_per_task`` times with a query rewritten by the adversary (*attack*). Attacks of one task
use the same env seed as its clean episode (so the same task) and reseed the adversary per attack, so attacks
differ and are reproducible. Intervals are paired bootstrap 95% intervals over tasks.

Run (Hydra overrides)::

    python -m agents.benchmark agent.kind=keyword opponent.kind=scripted num_tasks=50

Writes ``config.yaml``, ``report.json`` (numbers, versions, every episode), ``report.md``, ``benchmark.png`` and
``adversarial.jsonl`` (valid attacks that beat the agent on a task it solves clean: augmentation data).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import hydra
import numpy as np
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf
from tqdm import tqdm

from agents.base import Agent, act_batch, reset_agent
from agents.factory import build_agent
from agents.rollout import play_duels
from agents.runs import append_jsonl, save_config, seed_everything
from envs.domains import DomainTasks
from envs.tool_duel import parallel_env, task_from_query_prompt

PACKAGES = ("fcgym", "torch", "transformers", "gymnasium", "pettingzoo")
BATCH_SIZE = 64
"""Episodes played in lockstep per `play_duels` call (and per adversary reseed for LM adversaries)."""


@dataclass
class Args:
    seed: int = 0
    """Seeds Python, NumPy, torch, the tasks, the adversary and the bootstrap."""
    num_tasks: int = 100
    """Tasks to score; each is played clean once and attacked ``attacks_per_task`` times."""
    attacks_per_task: int = 2
    """Attacked episodes per task (the adversary is reseeded for each)."""
    agent: dict[str, Any] = field(default_factory=lambda: {"kind": "keyword"})
    """The FC agent under test (any `agents.factory` spec)."""
    opponent: dict[str, Any] = field(default_factory=lambda: {"kind": "scripted"})
    """The frozen adversary (any `agents.factory` spec); ``{"kind": "none"}`` scores clean queries only."""
    split: str = "test"
    """Task split of `envs.domains.DomainTasks` ("train" or "test")."""
    env: dict[str, Any] = field(default_factory=lambda: {"max_turns": 1})
    """Keyword arguments of `envs.tool_duel.parallel_env`."""
    run_dir: str = ""
    """Where the report goes (default: Hydra's run directory)."""
    bootstrap: int = 1000
    """Bootstrap resamples for the 95% intervals."""


def seed_of(*entropy: int) -> int:
    """A 32-bit seed from ``(args.seed, task index[, attack number])``: adding tasks or attacks changes no other."""
    return int(np.random.SeedSequence(list(entropy)).generate_state(1)[0])


class RecordingAdversary:
    """Wraps the frozen adversary so that each attack is reseeded and its operators are recorded.

    `play_duels` asks the query side once per episode, for all live episodes of a batch in env order, so before
    each batch we hand the wrapper that batch's attack seeds (``seeds``) and read ``operators`` back in the same
    order. An adversary with ``rewrite(task)`` (`agents.scripted.ScriptedAdversary`) is reseeded per prompt and
    called through ``rewrite`` on the task rebuilt from the prompt -- exactly what its own ``act`` does -- which
    also names the operators applied. Any other adversary is reseeded once per batch with the first attack's seed
    and keeps its batched ``act_batch``; its operators are unknown (``None``).
    """

    def __init__(self, adversary: Agent):
        self.adversary, self.seeds, self.operators = adversary, [], []

    def act_batch(self, prompts: list[tuple[list[dict], list[dict]]]) -> list[str]:
        assert len(prompts) == len(self.seeds), "one attack seed per prompt"
        if not hasattr(self.adversary, "rewrite"):
            reset_agent(self.adversary, self.seeds[0])
            self.operators = [None] * len(prompts)
            return act_batch(self.adversary, prompts)
        queries, self.operators = [], []
        for seed, (messages, tools) in zip(self.seeds, prompts):
            reset_agent(self.adversary, seed)
            query, applied = self.adversary.rewrite(task_from_query_prompt(messages, tools))
            queries.append(query)
            self.operators.append(list(applied))
        return queries

    def act(self, messages: list[dict], tools: list[dict]) -> str:
        return self.act_batch([(messages, tools)])[0]


def play(args: Args, agent: Agent, adversary: Agent | None) -> list[dict[str, Any]]:
    """Every episode of the benchmark as a JSON-ready record, clean ones first."""
    clean_jobs = [(task, 0, 0) for task in range(args.num_tasks)]
    attack_jobs = [] if adversary is None else [
        (task, attack, seed_of(args.seed, task, attack))
        for task in range(args.num_tasks) for attack in range(1, args.attacks_per_task + 1)]
    batches = [jobs[i:i + BATCH_SIZE] for jobs in (clean_jobs, attack_jobs) for i in range(0, len(jobs), BATCH_SIZE)]
    envs = [parallel_env(tasks=DomainTasks(split=args.split), **args.env) for _ in range(BATCH_SIZE)]
    attacker = RecordingAdversary(adversary) if adversary is not None else None
    records = []
    for batch in tqdm(batches, desc="benchmark", unit="batch", leave=False):
        clean = batch[0][1] == 0
        if not clean:
            attacker.seeds = [attack_seed for _, _, attack_seed in batch]
        # The env seed of a task is its clean seed for every condition: the same seed draws the same task.
        env_seeds = [seed_of(args.seed, task) for task, _, _ in batch]
        episodes = play_duels(envs[:len(batch)], env_seeds, None if clean else attacker, agent)
        for index, ((task, attack, _), episode) in enumerate(zip(batch, episodes)):
            verdict = episode.info.get("verdict")
            operators = [] if clean else attacker.operators[index]
            records.append({
                "task_index": task, "task_id": episode.task_id, "kind": episode.kind, "domain": episode.domain,
                "condition": "clean" if clean else "attack", "attack": attack, "seed_query": episode.seed_query,
                "target_calls": episode.target_calls, "query": episode.query, "query_valid": episode.query_valid,
                "fc_output": episode.fc_replies, "verdict": verdict, "correct": episode.fc_correct,
                "error_type": verdict and verdict["error_type"],
                "operators": operators if operators is not None else [], "operators_known": operators is not None,
            })
    return records


def summarize(records: list[dict[str, Any]], num_tasks: int, resamples: int, seed: int) -> dict[str, Any]:
    """Headline numbers with paired bootstrap intervals (tasks resampled), and breakdowns."""
    clean = np.zeros(num_tasks)
    attacks, valid, solved = np.zeros(num_tasks), np.zeros(num_tasks), np.zeros(num_tasks)  # counts per task
    for r in records:
        i = r["task_index"]
        if r["condition"] == "clean":
            clean[i] = r["correct"]
        else:
            attacks[i] += 1
            valid[i] += r["query_valid"]
            solved[i] += r["query_valid"] and r["correct"]

    def stats(rows: np.ndarray) -> dict[str, np.ndarray]:
        with np.errstate(invalid="ignore", divide="ignore"):
            clean_acc = clean[rows].mean(-1)
            adv_acc = solved[rows].sum(-1) / valid[rows].sum(-1)
            return {"clean_accuracy": clean_acc, "adversarial_accuracy": adv_acc,
                    "attack_validity_rate": valid[rows].sum(-1) / attacks[rows].sum(-1),
                    "accuracy_drop": clean_acc - adv_acc}

    point = stats(np.arange(num_tasks))
    draws = stats(np.random.default_rng(seed).integers(0, num_tasks, size=(resamples, num_tasks)))
    summary = {}
    for name, value in point.items():
        low, high = (np.nanpercentile(draws[name], [2.5, 97.5]) if np.isfinite(draws[name]).any()
                     else (np.nan, np.nan))
        summary[name] = {"value": _num(value), "ci95": [_num(low), _num(high)]}
    summary.update(num_tasks=num_tasks, num_attacks=int(attacks.sum()), num_valid_attacks=int(valid.sum()))

    played = [r for r in records if r["condition"] == "clean" or r["query_valid"]]
    by_operator: dict[str, list[bool]] = defaultdict(list)
    for r in played:
        if r["condition"] == "attack":
            for name in (r["operators"] or ["none"]) if r["operators_known"] else ["unknown"]:
                by_operator[name].append(r["correct"])
    by_kind: dict[str, dict[str, list[bool]]] = defaultdict(lambda: {"clean": [], "attack": []})
    for r in played:
        by_kind[r["kind"]][r["condition"]].append(r["correct"])
    return {
        "summary": summary,
        "per_operator": {k: {"n": len(v), "accuracy": _mean(v)} for k, v in sorted(by_operator.items())},
        "per_error_type": {c: dict(Counter(r["error_type"] or "correct" for r in played if r["condition"] == c))
                           for c in ("clean", "attack")},
        "per_kind": {k: {"n_clean": len(v["clean"]), "clean_accuracy": _mean(v["clean"]),
                         "n_attack": len(v["attack"]), "adversarial_accuracy": _mean(v["attack"])}
                     for k, v in sorted(by_kind.items())},
    }


def _num(x: float) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def _mean(values: list[bool]) -> float | None:
    return sum(values) / len(values) if values else None


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def write_markdown(path: Path, report: dict[str, Any]) -> None:
    s = report["summary"]
    lines = [f"# Benchmark: {report['config']['agent']} vs {report['config']['opponent']}", "",
             f"{s['num_tasks']} tasks, {s['num_attacks']} attacks ({s['num_valid_attacks']} valid), "
             f"seed {report['seed']}.",
             "", "| metric | value | 95% CI |", "|---|---|---|"]
    for name in ("clean_accuracy", "adversarial_accuracy", "attack_validity_rate", "accuracy_drop"):
        low, high = s[name]["ci95"]
        lines.append(f"| {name.replace('_', ' ')} | {_pct(s[name]['value'])} | [{_pct(low)}, {_pct(high)}] |")
    if report["per_operator"]:
        lines += ["", "| operator | attacks | accuracy |", "|---|---|---|"]
        lines += [f"| {k} | {v['n']} | {_pct(v['accuracy'])} |" for k, v in report["per_operator"].items()]
    lines += ["", "| task kind | clean | attack |", "|---|---|---|"]
    lines += [f"| {k} | {_pct(v['clean_accuracy'])} (n={v['n_clean']}) | {_pct(v['adversarial_accuracy'])} "
              f"(n={v['n_attack']}) |" for k, v in report["per_kind"].items()]
    path.write_text("\n".join(lines) + "\n")


def plot(path: Path, report: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = report["summary"]
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(15, 4.5))
    names = [n for n in ("clean_accuracy", "adversarial_accuracy") if s[n]["value"] is not None]
    values = [100 * s[n]["value"] for n in names]
    bounds = [[100 * (b if b is not None else s[n]["value"]) for b in s[n]["ci95"]] for n in names]
    errors = [[v - low for v, (low, _) in zip(values, bounds)], [high - v for v, (_, high) in zip(values, bounds)]]
    colors = ["tab:blue", "tab:red"][:len(names)]
    ax1.bar([n.split("_")[0] for n in names], values, yerr=errors, capsize=6, color=colors)
    ax1.set(title="Accuracy (95% bootstrap CI)", ylabel="accuracy (%)", ylim=(0, 105))
    operators = report["per_operator"]
    ax2.bar([f"{name}\n(n={v['n']})" for name, v in operators.items()],
            [100 * (v["accuracy"] or 0) for v in operators.values()], color="tab:red", label="attacked, by operator")
    ax2.axhline(values[0], color="tab:blue", linestyle="--", label="clean")
    ax2.set(title="Accuracy by perturbation operator", ylabel="accuracy (%)", ylim=(0, 125))
    plt.setp(ax2.get_xticklabels(), rotation=30, ha="right")
    ax2.legend(loc="upper center", ncol=2)
    counts = report["per_error_type"]
    kinds = sorted({k for c in counts.values() for k in c if k != "correct"})
    x = np.arange(len(kinds))
    for offset, (condition, color) in zip((-0.2, 0.2), (("clean", "tab:blue"), ("attack", "tab:red"))):
        ax3.bar(x + offset, [counts[condition].get(k, 0) for k in kinds], width=0.4, color=color, label=condition)
    ax3.set_xticks(x, kinds, rotation=30, ha="right")
    ax3.set(title="Errors by type (valid queries)", ylabel="episodes")
    ax3.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def run(args: Args) -> dict[str, Any]:
    """Play the benchmark and write every artefact to ``args.run_dir``; returns the report."""
    seed_everything(args.seed)
    run_dir = Path(args.run_dir)
    save_config(run_dir, asdict(args))
    agent = build_agent(args.agent)
    reset_agent(agent, args.seed)
    adversary = None if args.opponent.get("kind") == "none" else build_agent(args.opponent)
    records = play(args, agent, adversary)
    clean_correct = {r["task_index"] for r in records if r["condition"] == "clean" and r["correct"]}
    augmentation = [{"query": r["query"], "target_calls": r["target_calls"], "task_id": r["task_id"],
                     "operators": r["operators"], "seed_query": r["seed_query"]}
                    for r in records if r["condition"] == "attack" and r["query_valid"] and not r["correct"]
                    and r["task_index"] in clean_correct]
    report = {"config": asdict(args), "seed": args.seed, "versions": {p: _version(p) for p in PACKAGES},
              **summarize(records, args.num_tasks, args.bootstrap, args.seed), "episodes": records}
    (run_dir / "report.json").write_text(json.dumps(report, indent=1))
    (run_dir / "adversarial.jsonl").unlink(missing_ok=True)
    (run_dir / "adversarial.jsonl").touch()
    append_jsonl(run_dir / "adversarial.jsonl", augmentation)
    write_markdown(run_dir / "report.md", report)
    plot(run_dir / "benchmark.png", report)
    s = report["summary"]
    for name in ("clean_accuracy", "adversarial_accuracy", "attack_validity_rate", "accuracy_drop"):
        low, high = s[name]["ci95"]
        print(f"{name:>22}: {_pct(s[name]['value']):>7}  [{_pct(low)}, {_pct(high)}]")
    print(f"{len(augmentation)} adversarial examples; report in {run_dir}")
    return report


ConfigStore.instance().store(name="benchmark", node=Args)


@hydra.main(version_base=None, config_name="benchmark")
def main(config) -> None:
    args: Args = OmegaConf.to_object(config)
    args.run_dir = args.run_dir or HydraConfig.get().runtime.output_dir
    run(args)


if __name__ == "__main__":
    main()
