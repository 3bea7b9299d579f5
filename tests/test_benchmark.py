"""`python -m agents.benchmark` run through its real entry point at a tiny budget, checked against its own episodes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTEFACTS = ("config.yaml", "report.json", "report.md", "benchmark.png", "adversarial.jsonl")


class BrokenFC:
    """Always calls a tool that does not exist: wrong on every task, irrelevance tasks included."""

    def act(self, messages: list[dict], tools: list[dict]) -> str:
        return '[{"name": "nope", "arguments": {}}]'


def benchmark(run_dir: Path, *overrides: str) -> dict:
    """Run the benchmark's CLI into ``run_dir`` and return its report."""
    result = subprocess.run([sys.executable, "-m", "agents.benchmark", f"hydra.run.dir={run_dir}", "bootstrap=200",
                             *overrides], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "clean_accuracy" in result.stdout and str(run_dir) in result.stdout
    for name in ARTEFACTS:
        assert (run_dir / name).is_file(), name
    return json.loads((run_dir / "report.json").read_text())


def mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


@pytest.fixture(scope="module")
def keyword_run(tmp_path_factory) -> tuple[Path, dict]:
    run_dir = tmp_path_factory.mktemp("keyword")
    return run_dir, benchmark(run_dir, "num_tasks=8", "agent.kind=keyword", "opponent.kind=scripted")


def test_report_matches_its_episodes(keyword_run):
    run_dir, report = keyword_run
    episodes, summary = report["episodes"], report["summary"]
    clean = [e for e in episodes if e["condition"] == "clean"]
    attacks = [e for e in episodes if e["condition"] == "attack"]
    assert len(clean) == 8 and len(attacks) == 16
    assert report["config"]["num_tasks"] == 8 and "num_tasks: 8" in (run_dir / "config.yaml").read_text()
    assert set(report["versions"]) == {"fcgym", "torch", "transformers", "gymnasium", "pettingzoo"}

    valid = [e for e in attacks if e["query_valid"]]
    assert summary["clean_accuracy"]["value"] == pytest.approx(mean(e["correct"] for e in clean))
    assert summary["adversarial_accuracy"]["value"] == pytest.approx(mean(e["correct"] for e in valid))
    assert summary["attack_validity_rate"]["value"] == pytest.approx(len(valid) / len(attacks))
    assert summary["accuracy_drop"]["value"] == pytest.approx(
        summary["clean_accuracy"]["value"] - summary["adversarial_accuracy"]["value"])
    for name in ("clean_accuracy", "adversarial_accuracy", "attack_validity_rate", "accuracy_drop"):
        low, high = summary[name]["ci95"]
        assert low <= summary[name]["value"] + 1e-9 and summary[name]["value"] <= high + 1e-9, name
    assert sum(report["per_error_type"]["clean"].values()) == len(clean)
    assert report["per_error_type"]["clean"].get("correct", 0) == sum(e["correct"] for e in clean)
    assert sum(k["n_clean"] for k in report["per_kind"].values()) == len(clean)


def test_attacks_are_paired_and_record_operators(keyword_run):
    _, report = keyword_run
    from agents.scripted import OPERATORS

    clean = {e["task_index"]: e for e in report["episodes"] if e["condition"] == "clean"}
    attacks = [e for e in report["episodes"] if e["condition"] == "attack"]
    for attack in attacks:
        assert attack["task_id"] == clean[attack["task_index"]]["task_id"]
        assert attack["seed_query"] == clean[attack["task_index"]]["query"]
        assert set(attack["operators"]) <= set(OPERATORS)
        assert (attack["query"] != attack["seed_query"]) == bool(attack["operators"])
    assert any(a["operators"] for a in attacks)
    counted = sum(v["n"] for v in report["per_operator"].values())
    assert counted == sum(max(1, len(a["operators"])) for a in attacks if a["query_valid"])


def test_adversarial_data_is_valid_attacks_that_beat_a_solved_task(keyword_run):
    run_dir, report = keyword_run
    solved = {e["task_index"] for e in report["episodes"] if e["condition"] == "clean" and e["correct"]}
    expected = [e for e in report["episodes"] if e["condition"] == "attack" and e["query_valid"]
                and not e["correct"] and e["task_index"] in solved]
    rows = [json.loads(line) for line in (run_dir / "adversarial.jsonl").read_text().splitlines()]
    assert [(r["task_id"], r["query"]) for r in rows] == [(e["task_id"], e["query"]) for e in expected]
    assert all(set(r) >= {"query", "target_calls", "task_id", "operators"} for r in rows)


def test_broken_agent_scores_zero(tmp_path):
    report = benchmark(tmp_path, "num_tasks=8", "attacks_per_task=1", "agent.kind=python",
                       "+agent.target=tests.test_benchmark:BrokenFC")
    assert any(e["kind"] == "irrelevance" for e in report["episodes"])
    assert report["summary"]["clean_accuracy"]["value"] == 0.0
    assert report["summary"]["adversarial_accuracy"]["value"] == 0.0
    assert report["summary"]["clean_accuracy"]["ci95"] == [0.0, 0.0]
    assert (tmp_path / "adversarial.jsonl").read_text() == ""


def test_same_seed_same_episodes(tmp_path):
    from agents.benchmark import Args, run

    def episodes(seed: int, name: str) -> list[dict]:
        return run(Args(seed=seed, num_tasks=4, bootstrap=50, run_dir=str(tmp_path / name)))["episodes"]

    first = episodes(3, "a")
    assert first == episodes(3, "b")
    assert [e["task_id"] for e in first] != [e["task_id"] for e in episodes(4, "c")]
