"""Score an FC agent on the same tasks, clean and attacked by a frozen adversary, and write a report.

Every task is played with its own seed query (*clean*) and ``attacks_per_task`` times with a query rewritten by
the adversary (*attack*), each ``trials`` times (for pass^k). Attacks of a task reseed the adversary per attack, so
they differ and are reproducible; the trials of an attack replay the same attack seed. Intervals are paired
bootstrap 95% intervals over tasks.

Run (Hydra overrides)::

    python -m agents.benchmark agent=scripted opponent=scripted            # rule-based FC vs rule-based adversary
    python -m agents.benchmark agent.kind=tiny +agent.role=fc opponent.kind=tiny +opponent.role=query
    python -m agents.benchmark agent.kind=checkpoint +agent.run=runs/default opponent.kind=checkpoint \\
        +opponent.run=runs/default                          # a self-play run's final FC and query models
    python -m agents.benchmark agent.kind=hf +agent.path=/models/SmolLM2-135M-Instruct +agent.temperature=0
    python -m agents.benchmark agent.kind=openai +agent.base_url=http://127.0.0.1:8000/v1 +agent.model=m \\
        +agent.concurrency=16 batch_size=64
    python -m agents.benchmark agent.kind=python +agent.target=my_module:MyAgent opponent=none
    python -m agents.benchmark tasks=bfcl bfcl_categories=[simple_python,multiple] num_tasks=50 trials=3
    python -m agents.benchmark tasks=domains domains=[banking,travel] split=test
    python -m agents.benchmark kinds=[multi_step] env.max_turns=3          # calls that need earlier results

``agent``/``opponent`` are `agents.factory` specs; a bare name is short for ``{kind: name}`` (``agent=scripted`` is
the rule-based FC `agents.scripted.KeywordFC`, ``opponent=scripted`` the rule-based adversary, ``tiny`` takes the
role's embedded model, ``checkpoint`` the role's model of a self-play run (``+agent.round=0``: the one it started
from), ``opponent=none`` plays clean queries only). A local FC model (``tiny``, ``hf``, ``checkpoint``) answers
greedily unless ``+agent.temperature`` says otherwise; an adversary samples as its spec or run configured it.

Tasks. ``tasks=domains``: task i is drawn from the built-in ``domains`` and task ``kinds`` with seed ``(seed, i)``
(``multi_step`` tasks need ``env.max_turns`` >= 2: the FC model reads a tool's reply before its second call).
``tasks=bfcl``: the tasks of ``bfcl_categories`` (bfcl-eval wheel), shuffled with ``seed``; the seed query is the
question's last user message (the env shows the FC model only that message, so the few live tasks with earlier
messages lose them; ``report.json["tasks"]`` counts them). A task whose own question fails the validity gate
(`fcgym.validity.check_query`: a value is derived rather than stated, about 30% of BFCL) cannot be attacked
validly, and the env would reject its clean query too, so such tasks are left out and counted.

Concurrency. Episodes are played ``batch_size`` at a time in lockstep (`agents.rollout.play_duels`), so each side
answers a whole batch with one ``act_batch`` call: an OpenAI endpoint gets ``concurrency`` requests in flight
(keep ``batch_size`` >= it), an HF model one padded batch. A progress bar counts episodes.

Resume. Each finished batch is appended to ``episodes.jsonl``. Rerun into the same directory with ``resume=true``
(``hydra.run.dir=<dir> resume=true``) and finished batches are skipped; the run refuses to resume if the config
differs (``run_dir``, ``resume`` and ``bootstrap`` may differ). Without ``resume`` an old episodes file is replaced.
The agent is reseeded per batch, so a resumed run equals an uninterrupted one.

Compare. ``python -m agents.benchmark compare RUN_A RUN_B [--out DIR]`` is read before Hydra parses the command
line (``sys.argv[1] == "compare"``) and prints B minus A for clean and adversarial accuracy with a bootstrap 95%
interval, paired by task id over the tasks both runs played (unpaired if they share none); it writes
``compare.json`` and ``compare.md`` into ``--out`` (default RUN_B).

Writes ``config.yaml``, ``episodes.jsonl``, ``report.json`` (config, seed, package versions, numbers, every
episode), ``report.md``, ``benchmark.png``, ``adversarial.jsonl`` (valid attacks that beat the agent on a task it
solves clean, with the tools: augmentation data) and, when ``datasets`` is installed, the same rows as a
``datasets.Dataset`` in ``adversarial_dataset/``.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from importlib import metadata
from math import comb
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
from agents.rollout import OneTask, play_duels
from agents.runs import append_jsonl, save_config, seed_everything
from agents.scripted import detected_operators
from envs.domains import DOMAINS, DomainTasks
from envs.tool_duel import parallel_env, task_from_query_prompt
from fcgym import FCGymError, Task
from fcgym.validity import check_query

log = logging.getLogger(__name__)
PACKAGES = ("fcgym", "torch", "transformers", "gymnasium", "pettingzoo", "bfcl-eval", "openai", "datasets")
METRICS = ("clean_accuracy", "adversarial_accuracy", "attack_validity_rate", "accuracy_drop")
RESUMABLE_DIFFERENCES = ("run_dir", "resume", "bootstrap")
"""Config fields that do not change any episode, so a run may resume with other values."""


@dataclass
class Args:
    seed: int = 0
    """Seeds Python, NumPy, torch, the tasks, the adversary, the agent (per batch) and the bootstrap."""
    num_tasks: int = 100
    """Tasks to score; each is played clean and attacked ``attacks_per_task`` times, ``trials`` times each."""
    attacks_per_task: int = 2
    """Attacked episodes per task (the adversary is reseeded for each)."""
    trials: int = 1
    """Plays of every (task, condition) for pass^k, k = 1..trials."""
    agent: Any = field(default_factory=lambda: {"kind": "keyword"})
    """The FC agent under test: an `agents.factory` spec or a kind name."""
    opponent: Any = field(default_factory=lambda: {"kind": "scripted"})
    """The frozen adversary (an `agents.factory` spec or a kind name); ``none`` scores clean queries only."""
    tasks: str = "domains"
    """Task source: ``domains`` (built-in domains) or ``bfcl`` (BFCL categories, needs the bfcl-eval wheel)."""
    domains: list[str] = field(default_factory=lambda: list(DOMAINS))
    """Built-in domains to draw from (``tasks=domains``)."""
    kinds: list[str] = field(default_factory=lambda: list(DomainTasks.kinds))
    """Task kinds to draw from, repeats weighting them (`envs.domains.TASK_KINDS`; ``tasks=domains``)."""
    split: str = "test"
    """Task split of `envs.domains.DomainTasks` ("train" or "test")."""
    bfcl_categories: list[str] = field(default_factory=lambda: [
        "simple_python", "multiple", "parallel", "parallel_multiple", "irrelevance"])
    """BFCL categories to draw from (``tasks=bfcl``); any of `envs.bfcl.CATEGORIES`."""
    env: dict[str, Any] = field(default_factory=lambda: {"max_turns": 1})
    """Keyword arguments of `envs.tool_duel.parallel_env`."""
    batch_size: int = 64
    """Episodes played in lockstep: one ``act_batch`` call per side and turn (>= an endpoint's concurrency)."""
    resume: bool = False
    """Skip the episodes already in ``run_dir/episodes.jsonl`` (the config must match)."""
    run_dir: str = ""
    """Where the report goes (default: Hydra's run directory)."""
    bootstrap: int = 1000
    """Bootstrap resamples for the 95% intervals."""


class BenchmarkError(FCGymError):
    """A benchmark cannot run as configured (e.g. resuming with another config)."""


def seed_of(*entropy: int) -> int:
    """A 32-bit seed from ``(args.seed, task index[, attack number])``: adding tasks or attacks changes no other."""
    return int(np.random.SeedSequence(list(entropy)).generate_state(1)[0])


def agent_spec(spec: Any, role: str) -> dict[str, Any] | None:
    """A factory spec from a spec or a kind name; ``role`` is "fc" or "query" (None: no opponent). A local model
    under test answers greedily unless its spec sets a temperature."""
    spec = {"kind": spec} if isinstance(spec, str) else dict(spec)
    if spec["kind"] == "none":
        return None
    if role == "fc" and spec["kind"] == "scripted":
        spec["kind"] = "keyword"  # the rule-based FC; `scripted` is the rule-based adversary
    if spec["kind"] in ("tiny", "checkpoint"):
        spec.setdefault("role", role)
    if role == "fc" and spec["kind"] in ("tiny", "hf", "checkpoint"):
        spec.setdefault("temperature", 0.0)
    return spec


def draw_tasks(args: Args) -> tuple[list[Task], dict[str, Any]]:
    """The benchmark's tasks, in order, and a description of how they were drawn."""
    if args.tasks == "domains":
        source = DomainTasks(domains=tuple(args.domains), kinds=tuple(args.kinds), split=args.split)
        tasks = [source.sample(random.Random(seed_of(args.seed, i))) for i in range(args.num_tasks)]
        return tasks, {"source": "domains", "domains": list(args.domains), "kinds": list(args.kinds),
                       "split": args.split}
    if args.tasks != "bfcl":
        raise BenchmarkError(f"unknown tasks={args.tasks!r}; choose domains or bfcl")
    from envs.bfcl import BFCLTasks, load

    BFCLTasks(tuple(args.bfcl_categories))  # validates the category names
    pool = [task for category in args.bfcl_categories for task in load(category)]
    gated = [task for task in pool if check_query(task.query, task).valid]
    random.Random(args.seed).shuffle(gated)
    tasks = gated[:args.num_tasks]
    if len(tasks) < args.num_tasks:
        log.warning("only %d BFCL tasks pass the validity gate; playing all of them", len(tasks))
    return tasks, {"source": "bfcl", "categories": list(args.bfcl_categories), "pool": len(pool),
                   "rejected_by_gate": len(pool) - len(gated),
                   "earlier_messages_dropped": sum(len(t.messages) > 1 for t in tasks)}


def group_of(task: Task) -> str:
    """The report's breakdown key: the domain, or the BFCL category."""
    return task.kind if task.domain == "bfcl" else task.domain


class RecordingAdversary:
    """Wraps the frozen adversary so that each attack is reseeded and its operators are recorded.

    `play_duels` asks the query side once per episode, for all live episodes of a batch in env order, so before
    each batch we hand the wrapper that batch's attack seeds (``seeds``) and read ``operators`` back in the same
    order. An adversary with ``rewrite(task)`` (`agents.scripted.ScriptedAdversary`) is reseeded per prompt and
    called through ``rewrite`` on the task rebuilt from the prompt -- exactly what its own ``act`` does -- which
    also names the operators applied. Any other adversary is reseeded once per batch with the first attack's seed
    and keeps its batched ``act_batch``; its operators are not known (``None``): the records then name those
    `agents.scripted.detected_operators` finds in its queries.
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


# ---------------------------------------------------------------------------------------------------- playing


def plan(args: Args, num_tasks: int, attacked: bool) -> list[list[tuple[int, int, int]]]:
    """Batches of jobs ``(task index, attack number (0 = clean), trial)``: per trial, clean ones first."""
    batches = []
    for trial in range(args.trials):
        for attacks in ([0], range(1, args.attacks_per_task + 1) if attacked else []):
            jobs = [(task, attack, trial) for task in range(num_tasks) for attack in attacks]
            batches += [jobs[i:i + args.batch_size] for i in range(0, len(jobs), args.batch_size)]
    return [batch for batch in batches if batch]


def load_finished(run_dir: Path, args: Args) -> dict[tuple[int, int, int], dict]:
    """Episodes of an earlier run in ``run_dir`` to keep (``resume=true``), after checking its config matches."""
    path = run_dir / "episodes.jsonl"
    if not args.resume or not path.exists():
        if path.exists():
            log.info("resume=false: replacing %s", path)
        path.unlink(missing_ok=True)
        return {}
    config_path = run_dir / "config.yaml"
    if not config_path.exists():
        raise BenchmarkError(f"cannot resume: {path} has no config.yaml beside it")
    old = OmegaConf.to_container(OmegaConf.load(config_path), resolve=True)
    new = json.loads(json.dumps(asdict(args)))
    for config in (old, new):  # `agent=scripted` and `agent.kind=keyword` are the same agent
        config.update(agent=agent_spec(config["agent"], "fc"), opponent=agent_spec(config["opponent"], "query"))
    differing = sorted(k for k in set(old) | set(new) if k not in RESUMABLE_DIFFERENCES and old.get(k) != new.get(k))
    if differing:
        details = "; ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in differing)
        raise BenchmarkError(f"cannot resume {run_dir}: the config differs ({details}); "
                             "use another run directory or resume=false")
    finished, lines = {}, path.read_text().splitlines()
    for number, line in enumerate(lines):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines) - 1:  # a line cut short by the interruption
                break
            raise BenchmarkError(f"{path}:{number + 1} is not JSON") from None
        finished[(record["task_index"], record["attack"], record["trial"])] = record
    path.write_text("".join(json.dumps(r) + "\n" for r in finished.values()))
    return finished


def play(args: Args, tasks: list[Task], agent: Agent, adversary: Agent | None, run_dir: Path,
         finished: dict[tuple[int, int, int], dict]) -> list[dict]:
    """Every episode of the benchmark as a JSON-ready record, in plan order; batches all in ``finished`` are
    skipped, and each batch played is appended to ``run_dir/episodes.jsonl``."""
    batches = plan(args, len(tasks), adversary is not None)
    order = {job: n for n, job in enumerate(job for batch in batches for job in batch)}
    pending = [(n, batch) for n, batch in enumerate(batches) if not all(job in finished for job in batch)]
    if finished:
        log.info("resuming: %d episodes done, %d batches to play", len(finished), len(pending))
    envs = [parallel_env(tasks=OneTask(tasks[0]), **args.env) for _ in range(min(args.batch_size, len(order)))]
    attacker = RecordingAdversary(adversary) if adversary is not None else None
    progress = tqdm(total=sum(len(b) for _, b in pending), desc="benchmark", unit="episode", dynamic_ncols=True)
    for number, batch in pending:
        clean = batch[0][1] == 0
        if not clean:
            attacker.seeds = [seed_of(args.seed, task, attack) for task, attack, _ in batch]
        for env, (task, _, _) in zip(envs, batch):
            env.tasks = OneTask(tasks[task])
        reset_agent(agent, seed_of(args.seed, 1_000_000 + number))  # per batch: resumable, trials differ
        episodes = play_duels(envs[:len(batch)], [seed_of(args.seed, task) for task, _, _ in batch],
                              None if clean else attacker, agent)
        records = []
        for index, ((task, attack, trial), episode) in enumerate(zip(batch, episodes)):
            operators, source = ([], "none") if clean else (attacker.operators[index], "applied")
            verdict = episode.verdict
            if operators is None:
                operators, source = detected_operators(episode.query, tasks[task]), "detected"
            records.append({
                "task_index": task, "task_id": episode.task_id, "kind": episode.kind, "domain": episode.domain,
                "group": group_of(tasks[task]), "condition": "clean" if clean else "attack", "attack": attack,
                "trial": trial, "seed_query": episode.seed_query, "target_calls": episode.target_calls,
                "query": episode.query, "query_valid": episode.query_valid, "fc_output": episode.fc_replies,
                "verdict": verdict and verdict.to_dict(), "correct": episode.fc_correct,
                "error_type": verdict and verdict.error_type,
                "operators": operators, "operators_source": source,
            })
        append_jsonl(run_dir / "episodes.jsonl", records)
        finished.update({(r["task_index"], r["attack"], r["trial"]): r for r in records})
        progress.update(len(batch))
    progress.close()
    return sorted((r for key, r in finished.items() if key in order),
                  key=lambda r: order[(r["task_index"], r["attack"], r["trial"])])


# ---------------------------------------------------------------------------------------------------- numbers


def bootstrap_ci(statistic, num_tasks: int, resamples: int, seed: int) -> tuple[float | None, float | None]:
    """95% percentile interval of ``statistic(rows)`` over task resamples (rows: (resamples, num_tasks) indices)."""
    if num_tasks == 0:
        return None, None
    with np.errstate(invalid="ignore", divide="ignore"):
        draws = statistic(np.random.default_rng(seed).integers(0, num_tasks, size=(resamples, num_tasks)))
    if not np.isfinite(draws).any():
        return None, None
    low, high = np.nanpercentile(draws, [2.5, 97.5])
    return _num(low), _num(high)


def per_task_counts(records: list[dict], num_tasks: int) -> dict[str, np.ndarray]:
    """Per task: clean plays and successes, attacks, valid attacks and valid attacks solved (over all trials)."""
    counts = {name: np.zeros(num_tasks) for name in ("clean_n", "clean_ok", "attacks", "valid", "solved")}
    for r in records:
        i = r["task_index"]
        if r["condition"] == "clean":
            counts["clean_n"][i] += 1
            counts["clean_ok"][i] += r["correct"]
        else:
            counts["attacks"][i] += 1
            counts["valid"][i] += r["query_valid"]
            counts["solved"][i] += r["query_valid"] and r["correct"]
    return counts


def pass_hat_k(records: list[dict], trials: int) -> dict[str, dict[str, float | None]]:
    """pass^k for k = 1..trials: over units (a task clean, or one valid attack of it), the chance that k trials
    drawn from the unit's ``trials`` all succeed, C(c, k) / C(n, k) (tau-bench); for k = trials, the fraction of
    units whose every trial succeeds. Attacks count only when every trial's query was valid."""
    units: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        units[(r["condition"], r["task_index"], r["attack"])].append(r)
    result = {}
    for condition in ("clean", "attack"):
        successes = [sum(r["correct"] for r in plays) for (c, _, _), plays in units.items()
                     if c == condition and len(plays) == trials and all(r["query_valid"] for r in plays)]
        result[condition] = {str(k): _mean([comb(c, k) / comb(trials, k) for c in successes])
                             for k in range(1, trials + 1)}
    return result


def summarize(records: list[dict], num_tasks: int, trials: int, resamples: int, seed: int) -> dict[str, Any]:
    """Headline numbers with paired bootstrap intervals (tasks resampled), and breakdowns."""
    n = per_task_counts(records, num_tasks)

    def stats(rows) -> dict[str, np.ndarray]:
        with np.errstate(invalid="ignore", divide="ignore"):
            clean_acc = n["clean_ok"][rows].sum(-1) / n["clean_n"][rows].sum(-1)
            adv_acc = n["solved"][rows].sum(-1) / n["valid"][rows].sum(-1)
            return {"clean_accuracy": clean_acc, "adversarial_accuracy": adv_acc,
                    "attack_validity_rate": n["valid"][rows].sum(-1) / n["attacks"][rows].sum(-1),
                    "accuracy_drop": clean_acc - adv_acc}

    point = stats(np.arange(num_tasks))
    summary = {name: {"value": _num(point[name]),
                      "ci95": list(bootstrap_ci(lambda rows: stats(rows)[name], num_tasks, resamples, seed))}
               for name in METRICS}
    summary.update(num_tasks=num_tasks, trials=trials, num_clean=int(n["clean_n"].sum()),
                   num_clean_invalid=sum(not r["query_valid"] for r in records if r["condition"] == "clean"),
                   num_attacks=int(n["attacks"].sum()), num_valid_attacks=int(n["valid"].sum()))

    clean_rate = np.divide(n["clean_ok"], n["clean_n"], out=np.full(num_tasks, np.nan), where=n["clean_n"] > 0)
    played = [r for r in records if r["condition"] == "clean" or r["query_valid"]]
    by_operator: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    for r in played:
        if r["condition"] == "attack":
            for name in r["operators"] or ["none"]:
                by_operator[name].append((clean_rate[r["task_index"]], r["correct"]))
    per_operator = {}
    for name, pairs in sorted(by_operator.items()):
        clean_same = _num(np.nanmean([c for c, _ in pairs])) if pairs else None
        accuracy = _mean([ok for _, ok in pairs])
        per_operator[name] = {"n": len(pairs), "accuracy": accuracy, "clean_accuracy_same_tasks": clean_same,
                              "accuracy_drop": None if clean_same is None else clean_same - accuracy}

    def breakdown(key: str) -> dict[str, dict[str, Any]]:
        groups: dict[str, dict[str, list[bool]]] = defaultdict(lambda: {"clean": [], "attack": []})
        for r in played:
            groups[r[key]][r["condition"]].append(r["correct"])
        out = {}
        for name, v in sorted(groups.items()):
            clean_acc, adv_acc = _mean(v["clean"]), _mean(v["attack"])
            out[name] = {"n_clean": len(v["clean"]), "clean_accuracy": clean_acc, "n_attack": len(v["attack"]),
                         "adversarial_accuracy": adv_acc,
                         "accuracy_drop": None if None in (clean_acc, adv_acc) else clean_acc - adv_acc}
        return out

    error_counts = {c: dict(Counter(r["error_type"] or "correct" for r in played if r["condition"] == c))
                    for c in ("clean", "attack")}
    return {
        "summary": summary,
        "pass_hat_k": pass_hat_k(records, trials),
        "per_operator": per_operator,
        "operators_source": sorted({r["operators_source"] for r in played if r["condition"] == "attack"}),
        "per_error_type": error_counts,
        "per_error_type_rate": {c: {k: v / sum(counts.values()) for k, v in counts.items()}
                                for c, counts in error_counts.items()},
        "per_domain": breakdown("group"),
        "per_kind": breakdown("kind"),
    }


def _num(x: float | None) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def _mean(values: list) -> float | None:
    return sum(values) / len(values) if values else None


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


# ---------------------------------------------------------------------------------------------------- artefacts


def export_adversarial(run_dir: Path, rows: list[dict]) -> None:
    """``adversarial.jsonl``, and ``adversarial_dataset/`` (a `datasets.Dataset`) when ``datasets`` is installed."""
    (run_dir / "adversarial.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    if not rows:
        return  # datasets cannot load back a Dataset saved with no rows
    try:
        import datasets
    except ImportError:
        log.info("datasets is not installed: adversarial examples exported as JSONL only")
        return
    # Arguments and schemas differ per tool, so they are JSON text columns (Arrow needs one type per column).
    table = [{**row, "target_calls": json.dumps(row["target_calls"]), "tools": json.dumps(row["tools"])}
             for row in rows]
    columns = ("query", "seed_query", "task_id", "operators", "target_calls", "tools")
    features = datasets.Features({name: datasets.Value("string") for name in columns if name != "operators"}
                                 | {"operators": datasets.Sequence(datasets.Value("string"))})
    try:
        datasets.Dataset.from_list(table, features=features).save_to_disk(str(run_dir / "adversarial_dataset"))
    except Exception as error:  # an optional export must not lose a finished benchmark
        log.warning("could not save the datasets.Dataset (%s: %s); the JSONL is complete", type(error).__name__, error)


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def run(args: Args) -> dict[str, Any]:
    """Play the benchmark (resuming if asked) and write every artefact to ``args.run_dir``; returns the report."""
    seed_everything(args.seed)
    run_dir = Path(args.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    agent_config, opponent_config = agent_spec(args.agent, "fc"), agent_spec(args.opponent, "query")
    tasks, source = draw_tasks(args)
    finished = load_finished(run_dir, args)  # refuses a config change before anything is overwritten
    save_config(run_dir, asdict(args))
    agent = build_agent(agent_config)
    adversary = None if opponent_config is None else build_agent(opponent_config)
    records = play(args, tasks, agent, adversary, run_dir, finished)
    clean_ok = {r["task_index"] for r in records if r["condition"] == "clean" and r["correct"]}
    augmentation = [{"query": r["query"], "target_calls": r["target_calls"], "task_id": r["task_id"],
                     "operators": r["operators"], "seed_query": r["seed_query"],
                     "tools": [tool.schema() for tool in tasks[r["task_index"]].tools]}
                    for r in records if r["condition"] == "attack" and r["query_valid"] and not r["correct"]
                    and r["task_index"] in clean_ok and r["trial"] == 0]
    report = {"config": asdict(args), "seed": args.seed, "versions": {p: _version(p) for p in PACKAGES},
              "tasks": source, **summarize(records, len(tasks), args.trials, args.bootstrap, args.seed),
              "episodes": records}
    (run_dir / "report.json").write_text(json.dumps(report, indent=1))
    from agents.benchmark_plots import plot, write_markdown

    write_markdown(run_dir / "report.md", report)
    plot(run_dir / "benchmark.png", report)
    export_adversarial(run_dir, augmentation)
    s = report["summary"]
    for name in METRICS:
        low, high = s[name]["ci95"]
        print(f"{name:>22}: {_pct(s[name]['value']):>7}  [{_pct(low)}, {_pct(high)}]")
    for condition, values in report["pass_hat_k"].items():
        print(f"{condition + ' pass^k':>22}: " + "  ".join(f"k={k} {_pct(v)}" for k, v in values.items()))
    label = "BFCL category" if source["source"] == "bfcl" else "domain"
    for name, v in report["per_domain"].items():
        clean, attacked = _pct(v["clean_accuracy"]), _pct(v["adversarial_accuracy"])
        print(f"{label} {name:>14}: clean {clean:>6}  attacked {attacked:>6}")
    print(f"{len(augmentation)} adversarial examples; report in {run_dir}")
    return report


# ---------------------------------------------------------------------------------------------------- compare


def compare(a: Path, b: Path, resamples: int = 1000, seed: int = 0) -> dict[str, Any]:
    """B minus A, clean and adversarial accuracy, bootstrap 95% intervals; paired by task id when possible."""
    reports = [json.loads((Path(p) / "report.json").read_text()) for p in (a, b)]
    counts = []
    for report in reports:
        ids = sorted({r["task_id"] for r in report["episodes"]})
        index = {task_id: i for i, task_id in enumerate(ids)}
        table = per_task_counts([{**r, "task_index": index[r["task_id"]]} for r in report["episodes"]], len(ids))
        counts.append((ids, table))
    common = sorted(set(counts[0][0]) & set(counts[1][0]))
    paired = bool(common)
    columns = []  # per run: (clean_ok, clean_n, solved, valid) arrays over the compared tasks
    for ids, table in counts:
        rows = [ids.index(t) for t in common] if paired else list(range(len(ids)))
        columns.append([table[name][rows] for name in ("clean_ok", "clean_n", "solved", "valid")])
    rng = np.random.default_rng(seed)
    draws = [rng.integers(0, len(columns[0][0]), size=(resamples, len(columns[0][0])))]
    draws.append(draws[0] if paired else rng.integers(0, len(columns[1][0]), size=(resamples, len(columns[1][0]))))
    result = {"a": str(a), "b": str(b), "paired": paired, "num_tasks": [len(c[0]) for c in columns],
              "metrics": {}}
    for name, (ok, total) in (("clean_accuracy", (0, 1)), ("adversarial_accuracy", (2, 3))):
        with np.errstate(invalid="ignore", divide="ignore"):
            values = [_num(c[ok].sum() / c[total].sum()) if c[total].sum() else None for c in columns]
            diffs = (columns[1][ok][draws[1]].sum(-1) / columns[1][total][draws[1]].sum(-1)
                     - columns[0][ok][draws[0]].sum(-1) / columns[0][total][draws[0]].sum(-1))
        low, high = np.nanpercentile(diffs, [2.5, 97.5]) if np.isfinite(diffs).any() else (np.nan, np.nan)
        result["metrics"][name] = {"a": values[0], "b": values[1],
                                   "difference": None if None in values else values[1] - values[0],
                                   "ci95": [_num(low), _num(high)]}
    return result


def compare_main(argv: list[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m agents.benchmark compare",
                                     description="B minus A with bootstrap 95% intervals, paired by task id.")
    parser.add_argument("a", type=Path, help="run directory A (holds report.json)")
    parser.add_argument("b", type=Path, help="run directory B")
    parser.add_argument("--out", type=Path, help="where compare.json and compare.md go (default: B)")
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    options = parser.parse_args(argv)
    result = compare(options.a, options.b, options.bootstrap, options.seed)
    pairing = (f"paired by task id over {result['num_tasks'][0]} shared tasks" if result["paired"]
               else f"unpaired (no shared task ids; {result['num_tasks']} tasks)")
    lines = [f"# {options.b} minus {options.a}", "", f"{pairing}, bootstrap 95% interval", "",
             "| metric | A | B | B - A (points) | 95% CI |", "|---|---|---|---|---|"]
    for name, m in result["metrics"].items():
        lines.append(f"| {name.replace('_', ' ')} | {_pct(m['a'])} | {_pct(m['b'])} | {_pct(m['difference'])} | "
                     f"[{_pct(m['ci95'][0])}, {_pct(m['ci95'][1])}] |")
    out = options.out or options.b
    out.mkdir(parents=True, exist_ok=True)
    (out / "compare.json").write_text(json.dumps(result, indent=1))
    (out / "compare.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines[2:]))
    return result


ConfigStore.instance().store(name="benchmark", node=Args)


@hydra.main(version_base=None, config_name="benchmark")
def main(config) -> None:
    args: Args = OmegaConf.to_object(config)
    args.run_dir = args.run_dir or HydraConfig.get().runtime.output_dir
    run(args)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "compare":
        compare_main(sys.argv[2:])
    else:
        main()
