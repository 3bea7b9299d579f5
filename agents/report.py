"""Self-play plots and summary: what a person looks at after ``python -m agents.selfplay``."""

from __future__ import annotations

from pathlib import Path

COLUMNS = {
    "eval/fc_clean_success": "FC success, clean held-out",
    "eval/fc_attacked_success": "FC success vs query model",
    "eval/query_valid_rate": "valid query rate",
}


ATTACK_COLUMN = "attack success on clean-solved tasks"

#: What self-play should achieve: the query model keeps this share of its queries valid (%) while it attacks, and
#: FC training costs at most this many points of clean success.
VALID_GOAL, CLEAN_TOLERANCE = 90.0, 2.0


def attack_success(row: dict) -> tuple[int, int] | None:
    """The attack success rate's parts: how many held-out tasks the FC model answers right clean and faces a valid
    query on, and how many of those the query model's query makes it fail (None without per-task outcomes). Tasks it
    fails clean tell nothing of the attack: held-out failures are mostly these (values it has never seen, miscopied)."""
    clean, attacked = row.get("eval/clean_outcomes"), row.get("eval/attacked_outcomes")
    if clean is None or attacked is None:
        return None
    exposed = [under_attack for solved, under_attack in zip(clean, attacked) if solved and under_attack is not None]
    return len(exposed), exposed.count(False)


def _attack_rate(parts: tuple[int, int]) -> float:
    """The attack success rate in %, from `attack_success`'s parts."""
    exposed, beaten = parts
    return 100 * beaten / max(1, exposed)


def _attack_text(parts: tuple[int, int] | None) -> str:
    return "-" if parts is None else f"{_attack_rate(parts):.1f} % ({parts[1]} of {parts[0]})"


def _yes(ok: bool) -> str:
    return "yes" if ok else "no"


def _label(row: dict) -> str:
    return "start" if row["phase"] == "start" else f"r{row['round']} {row['phase']}"


def plot_selfplay(rows: list[dict], path: Path) -> None:
    """Two panels: evaluation rates after every phase, and each side's mean training reward per round."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    x = range(len(rows))
    for key, label in COLUMNS.items():
        left.plot(x, [100 * row[key] for row in rows], marker="o", label=label)
    points = [(i, _attack_rate(parts)) for i, row in enumerate(rows) if (parts := attack_success(row)) is not None]
    if points:
        left.plot([i for i, _ in points], [rate for _, rate in points], marker="o", label=ATTACK_COLUMN)
    left.set_xticks(list(x), [_label(row) for row in rows], rotation=30)
    left.set_xlabel("after phase (r = round)")
    left.set_ylabel("rate (%)")
    left.set_ylim(0, 100)
    left.set_title("Held-out evaluation after each phase")
    left.legend()
    for key, label in (("train/query_mean_reward", "query model"), ("train/fc_mean_reward", "FC model")):
        points = [(row["round"], row[key]) for row in rows if key in row]
        right.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=label)
    right.axhline(0, color="grey", linewidth=0.8)
    right.set_xticks(sorted({row["round"] for row in rows if row["round"] > 0}))
    right.set_xlabel("round")
    right.set_ylabel("mean episode reward (zero-sum, -1.5 to +1)")
    right.set_title("Training reward of each side while it trains")
    right.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _margin(before: float, n_before: int, after: float, n_after: int) -> float:
    """Half-width in points of a 95 % normal interval for the change between two success rates, taken as
    independent samples."""
    variance = sum(p * (1 - p) / n for p, n in ((before, n_before), (after, n_after)) if n)
    return 100 * 1.96 * variance ** 0.5


def _flips(first: list, second: list) -> tuple[int, int, int]:
    """Tasks scored in both evaluations (None: not scored), and how many of them went from failed to solved and
    from solved to failed."""
    pairs = [(b, a) for b, a in zip(first, second) if b is not None and a is not None]
    return len(pairs), sum(a and not b for b, a in pairs), sum(b and not a for b, a in pairs)


def _change(before: dict, after: dict, rate: str, outcomes: str, count: str) -> str:
    """``rate``'s change in points with the half-width of its 95 % interval. Where both evaluations scored the same
    tasks (the per-task ``outcomes`` agree on which count), the interval is the paired one, from the tasks that
    changed their outcome, and those are given; otherwise the rates are taken as independent samples, and the
    flips among the tasks scored both times are given beside them."""
    change = 100 * (after[rate] - before[rate])
    unpaired = f"{change:+.1f} points (+/- {_margin(before[rate], before[count], after[rate], after[count]):.1f}"
    first, second = before.get(outcomes), after.get(outcomes)
    if first is None or second is None or len(first) != len(second):
        return unpaired + ")"
    scored, gained, lost = _flips(first, second)
    if [x is None for x in first] != [x is None for x in second]:
        return f"{unpaired}; tasks scored both times: {scored}, {gained} newly solved, {lost} newly failed)"
    variance = ((gained + lost) / scored - ((gained - lost) / scored) ** 2) / scored if scored else 0.0
    return (f"{change:+.1f} points (+/- {100 * 1.96 * variance ** 0.5:.1f} paired: {gained} newly solved, "
            f"{lost} newly failed)")


def write_summary(rows: list[dict], run_dir: Path) -> str:
    """Write ``summary.md`` (a table of every evaluation and the change each phase made) and return it."""
    header = "| round | phase | " + " | ".join([*COLUMNS.values(), ATTACK_COLUMN]) + " |"
    lines = ["# Self-play summary", "", f"Run directory: `{run_dir}`", "", header, "|---" * (3 + len(COLUMNS)) + "|"]
    for row in rows:
        rates = " | ".join(f"{100 * row[key]:.1f} %" for key in COLUMNS)
        lines.append(f"| {row['round']} | {row['phase']} | {rates} | {_attack_text(attack_success(row))} |")
    lines += ["", f"({ATTACK_COLUMN}: of the held-out tasks the FC model answers right unattacked and gets a valid "
              "query on, the share the query model's query makes it fail. FC success vs the query model also counts "
              "the tasks it fails even unattacked.)"]
    lines += ["", "## What each phase changed, against what self-play should do", "",
              "(+/- x: half-width of a 95 % interval for the change; a change inside it may be chance. It is paired "
              "where both evaluations scored the same tasks with the same queries: clean tasks always, the query "
              "model's queries across an FC phase. Across a query phase, the tasks whose queries were valid both times "
              "are counted apart: the ones it newly beat are 'newly failed'.)", ""]
    for before, after in zip(rows, rows[1:]):
        attacked = 100 * (after["eval/fc_attacked_success"] - before["eval/fc_attacked_success"])
        clean = 100 * (after["eval/fc_clean_success"] - before["eval/fc_clean_success"])
        valid = 100 * after["eval/query_valid_rate"]
        attacked_text = "FC success vs the query model " + _change(
            before, after, "eval/fc_attacked_success", "eval/attacked_outcomes", "eval/valid_queries")
        clean_text = "clean tasks " + _change(before, after, "eval/fc_clean_success", "eval/clean_outcomes",
                                              "eval/tasks")
        attack_parts = attack_success(before), attack_success(after)
        attack = "" if None in attack_parts else f", {ATTACK_COLUMN} {' -> '.join(map(_attack_text, attack_parts))}"
        if after["phase"] == "query":
            checks = (f"{attacked_text} (should fall: {_yes(attacked < 0)}){attack}, valid queries {valid:.1f} % "
                      f"(should stay >= {VALID_GOAL:.0f} %: {_yes(valid >= VALID_GOAL)}), {clean_text}")
            if "train/operator_mix" in after:
                mix = ", ".join(f"{name} {count}" for name, count in after["train/operator_mix"].items())
                checks += (f"; {after['train/adversarial_queries']} training queries beat the FC model, by "
                           f"operator: {mix or 'none'}")
        else:
            checks = (f"{attacked_text} (should rise: {_yes(attacked > 0)}){attack}, {clean_text} (should not fall "
                      f"by more than {CLEAN_TOLERANCE:.0f}: {_yes(clean >= -CLEAN_TOLERANCE)}), "
                      f"valid queries {valid:.1f} %")
            if "train/lost_queries" in after:
                checks += (f"; of the {after['train/lost_queries']} training queries that beat the FC model in the "
                           f"query phase, it answers {after['train/lost_answered_before']} before this phase and "
                           f"{after['train/lost_answered_after']} after (greedy, same task and query)")
        lines.append(f"- round {after['round']}, {after['phase']} phase: {checks}.")
    adversary = f"opponent.kind=checkpoint +opponent.run={run_dir} num_tasks=600"
    lines += ["", "## Benchmark the trained models", "",
              "The start and the final FC model against the final query model, on the same held-out tasks, then "
              "paired (`agents.benchmark` writes each report; for the tiny models about 3 minutes each on 2 CPU cores, "
              "run one at a time):",
              "", "```bash",
              f"python -m agents.benchmark agent.kind=checkpoint +agent.run={run_dir} +agent.round=0 {adversary} "
              f"hydra.run.dir={run_dir}/bench_start",
              f"python -m agents.benchmark agent.kind=checkpoint +agent.run={run_dir} {adversary} "
              f"hydra.run.dir={run_dir}/bench_final",
              f"python -m agents.benchmark compare {run_dir}/bench_start {run_dir}/bench_final", "```"]
    text = "\n".join(lines) + "\n"
    (run_dir / "summary.md").write_text(text)
    return text
