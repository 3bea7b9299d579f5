"""The benchmark's ``report.md`` and its figure, ``benchmark.png`` (see `agents.benchmark`).

The figure has six panels, every axis labelled with its unit:

1. clean vs adversarial accuracy with bootstrap 95% intervals; 2. pass^k for k = 1..trials;
3. accuracy per domain (or BFCL category), clean vs attacked; 4. accuracy per perturbation operator against the
clean accuracy of the same tasks; 5. outcomes by error type, as % of each condition's episodes;
6. the run's settings, so a PNG on its own says what it shows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf

from agents.benchmark import METRICS, _pct

CLEAN, ATTACK = "tab:blue", "tab:red"


def _table(header: tuple[str, ...], rows: list[tuple]) -> list[str]:
    return ["", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + \
           ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]


def write_markdown(path: Path, report: dict[str, Any]) -> None:
    s, config = report["summary"], report["config"]
    source = report["tasks"]
    lines = [f"# Benchmark: {config['agent']} vs {config['opponent']}", "",
             f"{s['num_tasks']} tasks ({source['source']}), {s['trials']} trial(s) each, {s['num_attacks']} attacks "
             f"({s['num_valid_attacks']} valid), seed {report['seed']}. Intervals: paired bootstrap 95% over tasks."]
    if source["source"] == "bfcl":
        lines.append(f"\nBFCL: {source['rejected_by_gate']} of {source['pool']} tasks left out because their own "
                     "question fails the validity gate.")
    lines += _table(("metric", "value", "95% CI"), [
        (name.replace("_", " "), _pct(s[name]["value"]), f"[{_pct(s[name]['ci95'][0])}, {_pct(s[name]['ci95'][1])}]")
        for name in METRICS])
    lines += _table(("k", "clean pass^k", "attacked pass^k"),
                    [(k, _pct(v), _pct(report["pass_hat_k"]["attack"].get(k)))
                     for k, v in report["pass_hat_k"]["clean"].items()])
    label = "BFCL category" if source["source"] == "bfcl" else "domain"
    for title, table in ((label, report["per_domain"]), ("task kind", report["per_kind"])):
        lines += _table((title, "clean", "attacked", "drop (points)"), [
            (k, f"{_pct(v['clean_accuracy'])} (n={v['n_clean']})",
             f"{_pct(v['adversarial_accuracy'])} (n={v['n_attack']})", _pct(v["accuracy_drop"]))
            for k, v in table.items()])
    if report["per_operator"]:
        if "detected" in report.get("operators_source", []):
            lines += ["", ("Operators of a learned adversary are those whose traces its queries show "
                           "(`agents.scripted.detected_operators`); paraphrases, synonyms, typos and reordering "
                           "leave none.")]
        lines += _table(("operator", "attacks", "accuracy", "clean, same tasks", "drop (points)"), [
            (k, v["n"], _pct(v["accuracy"]), _pct(v["clean_accuracy_same_tasks"]), _pct(v["accuracy_drop"]))
            for k, v in report["per_operator"].items()])
    rates = report["per_error_type_rate"]
    kinds = sorted({k for c in rates.values() for k in c})
    lines += _table(("outcome", "clean", "attacked"),
                    [(k, _pct(rates["clean"].get(k, 0.0)),
                      _pct(rates["attack"].get(k, 0.0)) if rates["attack"] else "n/a")
                     for k in kinds])
    lines += ["", "## Reproduce", "", "```yaml", OmegaConf.to_yaml(OmegaConf.create(config)).strip(), "```", "",
              "Versions: " + ", ".join(f"{k} {v}" for k, v in report["versions"].items() if v)]
    path.write_text("\n".join(lines) + "\n")


def _pct_values(values) -> list[float]:
    return [np.nan if v is None else 100 * v for v in values]


def _grouped(ax, labels: list[str], clean: list, attacked: list, title: str, xlabel: str,
             clean_label: str = "clean", attack_label: str = "attacked") -> None:
    x = np.arange(len(labels))
    ax.bar(x - 0.2, _pct_values(clean), width=0.4, color=CLEAN, label=clean_label)
    ax.bar(x + 0.2, _pct_values(attacked), width=0.4, color=ATTACK, label=attack_label)
    crowded = len(labels) > 8
    ax.set_xticks(x, labels, rotation=60 if crowded else 30, ha="right", fontsize="small" if crowded else None)
    ax.set(title=title, xlabel=xlabel, ylabel="accuracy (%)", ylim=(0, 115))
    ax.legend(loc="upper right", ncol=2, fontsize="small")


def plot(path: Path, report: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s, config = report["summary"], report["config"]
    fig, axes = plt.subplots(2, 3, figsize=(17, 10))
    (ax_acc, ax_pass, ax_domain), (ax_op, ax_err, ax_text) = axes

    names = [n for n in ("clean_accuracy", "adversarial_accuracy") if s[n]["value"] is not None]
    values = [100 * s[n]["value"] for n in names]
    bounds = [[100 * (b if b is not None else s[n]["value"]) for b in s[n]["ci95"]] for n in names]
    errors = [[v - lo for v, (lo, _) in zip(values, bounds)], [hi - v for v, (_, hi) in zip(values, bounds)]]
    labels = {"clean_accuracy": "clean", "adversarial_accuracy": "attacked (valid attacks)"}
    bars = ax_acc.bar([labels[n] for n in names], values, yerr=errors, capsize=8,
                      color=[CLEAN, ATTACK][:len(names)], label=[labels[n] for n in names])
    for bar, value in zip(bars, values):
        ax_acc.annotate(f"{value:.1f}%", (bar.get_x() + bar.get_width() / 2, value), xytext=(12, 3),
                        textcoords="offset points", fontsize="small")
    ax_acc.set(title="Accuracy, clean vs attacked (bars: bootstrap 95% CI)", xlabel="condition",
               ylabel="accuracy (%)", ylim=(0, 110))
    ax_acc.legend(loc="upper right", fontsize="small")

    for condition, color, label in (("clean", CLEAN, "clean"), ("attack", ATTACK, "attacked")):
        points = report["pass_hat_k"][condition]
        if any(v is not None for v in points.values()):
            ax_pass.plot([int(k) for k in points], _pct_values(points.values()), marker="o", color=color, label=label)
    ax_pass.set(title=f"pass^k over {s['trials']} trial(s) per task", xlabel="k (trials that must all succeed)",
                ylabel="pass^k (%)", ylim=(0, 105))
    ax_pass.set_xticks(range(1, s["trials"] + 1))
    ax_pass.legend(fontsize="small")

    groups = report["per_domain"]
    group_label = "BFCL category" if report["tasks"]["source"] == "bfcl" else "domain"
    _grouped(ax_domain, [f"{k} (n={v['n_clean']})" for k, v in groups.items()],
             [v["clean_accuracy"] for v in groups.values()], [v["adversarial_accuracy"] for v in groups.values()],
             f"Accuracy per {group_label}", f"{group_label} (n = clean episodes)")

    operators = report["per_operator"]
    if operators:
        _grouped(ax_op, [f"{k} (n={v['n']})" for k, v in operators.items()],
                 [v["clean_accuracy_same_tasks"] for v in operators.values()],
                 [v["accuracy"] for v in operators.values()], "Accuracy per perturbation operator",
                 "operator applied (n = valid attacks using it)", "clean, same tasks", "attacked")
    else:
        ax_op.set(title="Accuracy per perturbation operator", xlabel="operator", ylabel="accuracy (%)")
        ax_op.text(0.5, 0.5, "no attacks (opponent=none)", ha="center", transform=ax_op.transAxes)

    rates = report["per_error_type_rate"]
    kinds = sorted({k for c in rates.values() for k in c})
    x = np.arange(len(kinds))
    conditions = (("clean", CLEAN, "clean"), ("attack", ATTACK, "attacked"))
    for offset, (condition, color, label) in zip((-0.2, 0.2), conditions):
        ax_err.bar(x + offset, [100 * rates[condition].get(k, 0.0) for k in kinds], width=0.4, color=color, label=label)
    ax_err.set_xticks(x, kinds, rotation=30, ha="right")
    ax_err.set(title="Outcome by error type (valid queries)", xlabel="verdict",
               ylabel="share of the condition's episodes (%)", ylim=(0, 105))
    ax_err.legend(fontsize="small")

    source = report["tasks"]
    what = (f"{source['split']} split of\n  " + "\n  ".join(source["domains"]) if source["source"] == "domains"
            else "BFCL\n  " + "\n  ".join(source["categories"]))
    ax_text.axis("off")
    ax_text.text(0, 1, "\n".join([
        f"agent: {config['agent']}", f"opponent: {config['opponent']}", f"tasks: {what}",
        f"{s['num_tasks']} tasks x {s['trials']} trial(s); {config['attacks_per_task']} attacks per task",
        f"attacks: {s['num_attacks']} ({s['num_valid_attacks']} valid, "
        f"{100 * (s['attack_validity_rate']['value'] or 0):.1f}%)",
        f"accuracy drop: {100 * (s['accuracy_drop']['value'] or 0):.1f} points", f"seed: {report['seed']}",
    ]), va="top", family="monospace", fontsize="small", wrap=True, transform=ax_text.transAxes)
    fig.suptitle("fcgym benchmark: FC agent vs frozen adversary", fontsize="x-large")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
