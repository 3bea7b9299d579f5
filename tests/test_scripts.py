"""The real entry points at a tiny budget (CleanRL's habit), on the embedded tiny models."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from agents.scripted import OPERATORS

REPO = Path(__file__).resolve().parents[1]
TINY_BUDGET = ["batch_size=4", "policy.max_new_tokens=48"]


def run_module(module: str, *overrides: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "TQDM_DISABLE": "1"}
    result = subprocess.run([sys.executable, "-m", module, *overrides], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("module", ["agents.ppo_fc", "agents.ppo_query"])
def test_trainer_runs_alone_and_saves_a_loadable_checkpoint(module, tmp_path):
    run_module(module, "iterations=2", *TINY_BUDGET, f"hydra.run.dir={tmp_path}")
    rows = metrics(tmp_path)
    assert [row["step"] for row in rows] == [0, 1]
    role = "fc" if module.endswith("fc") else "query"
    assert {f"{role}/approx_kl", f"{role}/clipfrac", f"{role}/entropy"} <= set(rows[0])
    assert "seed: 0" in (tmp_path / "config.yaml").read_text()
    from agents.hf import HFAgent

    agent = HFAgent.from_pretrained(tmp_path / "checkpoint", temperature=0.0, max_new_tokens=8)
    assert isinstance(agent.act([{"role": "user", "content": "Freeze my travel card."}], []), str)


# a batch of one group makes 2 optimizer steps an iteration (2 epochs of 1 minibatch): the warmup spans the two
# rounds, so a resumed run must continue it, and ends at the last step (the full rate, checked below)
SELFPLAY_BUDGET = ["query_iterations=1", "fc_iterations=1", "batch_size=4", "eval_tasks=4",
                   "fc.max_new_tokens=48", "query.max_new_tokens=48", "query_trainer.learning_rate=2e-3",
                   "trainer.warmup_updates=4"]


def test_selfplay_leaves_every_artefact_and_resumes_to_the_same_result(tmp_path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    run_module("agents.selfplay", *SELFPLAY_BUDGET, "rounds=2", f"hydra.run.dir={straight}")
    run_module("agents.selfplay", *SELFPLAY_BUDGET, "rounds=1", f"hydra.run.dir={resumed}")
    output = run_module("agents.selfplay", *SELFPLAY_BUDGET, "rounds=2", "resume=true", f"run_dir={resumed}",
                        f"hydra.run.dir={tmp_path / 'hydra'}").stdout
    assert "resuming" in output and "after round 1" in output
    for name in ("config.yaml", "metrics.jsonl", "adversarial.jsonl", "selfplay.png", "summary.md"):
        assert (straight / name).exists(), name
    import torch

    for role, learning_rate in (("fc", 3e-5), ("query", 2e-3)):  # fc_trainer's and query_trainer's
        assert (straight / "checkpoints" / "round_2" / role / "model.safetensors").exists()
        optimizer = torch.load(straight / "checkpoints" / "round_2" / role / "optimizer.pt")
        assert optimizer["param_groups"][0]["lr"] == learning_rate
    assert metrics(straight) == metrics(resumed)
    assert (straight / "adversarial.jsonl").read_text() == (resumed / "adversarial.jsonl").read_text()
    for record in map(json.loads, (straight / "adversarial.jsonl").read_text().splitlines()):
        assert record["tools"] and record["target_calls"] is not None and record["query"]
        assert set(record["operators"]) <= set(OPERATORS)
    phases = [(row["round"], row["phase"]) for row in metrics(straight) if "phase" in row]
    assert phases == [(0, "start"), (1, "query"), (1, "fc"), (2, "query"), (2, "fc")]
    adversarial = list(map(json.loads, (straight / "adversarial.jsonl").read_text().splitlines()))
    for row in metrics(straight):
        if row.get("phase") == "fc":  # the query phase's distinct winning queries, answered again
            lost = {(r["task_id"], r["query"]) for r in adversarial if r["round"] == row["round"]}
            assert row["train/lost_queries"] == len(lost)
            assert 0 <= row["train/lost_answered_before"] <= len(lost)
            assert 0 <= row["train/lost_answered_after"] <= len(lost)
    final = metrics(straight)[-1]
    assert f"{100 * final['eval/fc_clean_success']:.1f} %" in (straight / "summary.md").read_text()
    checkpoints_play_as_configured(straight)


def checkpoints_play_as_configured(run_dir: Path) -> None:
    """`kind: checkpoint` loads a role's model after any round, sampled as the run configured that role."""
    from agents.factory import build_agent
    from agents.hf import AgentLoadError

    def weights(agent) -> list:
        return [p.detach().clone() for p in agent.model.parameters()]

    start = build_agent({"kind": "tiny", "role": "query"})
    loaded = {r: build_agent({"kind": "checkpoint", "run": str(run_dir), "role": "query", "round": r}) for r in (0, 1)}
    final = build_agent({"kind": "checkpoint", "run": str(run_dir), "role": "query"})
    saved = build_agent({"kind": "hf", "path": str(run_dir / "checkpoints" / "round_2" / "query")})
    assert all(a.equal(b) for a, b in zip(weights(final), weights(saved)))
    assert all(a.equal(b) for a, b in zip(weights(loaded[0]), weights(start)))
    assert not all(a.equal(b) for a, b in zip(weights(loaded[1]), weights(final)))
    for agent in (*loaded.values(), final):  # tiny_query.yaml's temperature, SELFPLAY_BUDGET's reply length
        assert (agent.temperature, agent.max_new_tokens, agent.call_style) == (0.7, 48, "python")
    greedy = build_agent({"kind": "checkpoint", "run": str(run_dir), "role": "fc", "temperature": 0.0})
    assert (greedy.temperature, greedy.max_new_tokens) == (0.0, 48)
    with pytest.raises(AgentLoadError, match="rounds 1 to 2, not of round 3"):
        build_agent({"kind": "checkpoint", "run": str(run_dir), "role": "fc", "round": 3})
    with pytest.raises(AgentLoadError, match="no config.yaml"):
        build_agent({"kind": "checkpoint", "run": str(run_dir / "checkpoints"), "role": "fc"})


def test_trainers_play_the_configured_task_kinds(tmp_path):
    from agents import ppo_fc

    args = ppo_fc.Args(iterations=1, batch_size=4, run_dir=str(tmp_path), env={"max_turns": 3},
                       tasks={"domains": ["banking", "travel"], "kinds": ["multi_step"]},
                       policy={"kind": "tiny", "role": "fc", "max_new_tokens": 48})
    _, episodes = ppo_fc.train(args)
    assert {e.kind for e in episodes} == {"multi_step"} and {e.domain for e in episodes} <= {"banking", "travel"}
    assert all(e.samples and len(e.samples) == len(e.fc_replies) for e in episodes if e.query_valid)


def test_selfplay_config_switches_to_multi_step_tasks():
    composed = run_module("agents.selfplay", "tasks=multi_step", "env=multi_turn", "--cfg", "job").stdout
    assert "- multi_step" in composed and "max_turns: 3" in composed
    default = run_module("agents.selfplay", "--cfg", "job").stdout
    assert "- irrelevance" in default and "max_turns: 1" in default


def test_the_fc_trainer_imitates_the_lessons_it_is_given(tmp_path):
    from agents import ppo_fc
    from agents.ppo import PPOConfig
    from agents.rollout import Episode
    from envs.domains import DomainTasks
    from fcgym import Verdict

    task = DomainTasks(split="train").sample(random.Random(5))
    lost = Episode(task.id, task.domain, task.kind, task.query, [], query="a query the FC model got wrong",
                   query_valid=True, info={"verdict": Verdict.failed("value_error")}, task=task,
                   tools_json=json.dumps([tool.schema() for tool in task.tools]))
    args = ppo_fc.Args(iterations=1, batch_size=4, run_dir=str(tmp_path), ppo=PPOConfig(imitation_coef=1.0),
                       policy={"kind": "tiny", "role": "fc", "max_new_tokens": 48})
    ppo_fc.train(args, lessons=[lost, lost])
    row = metrics(tmp_path)[0]
    assert row["fc/demonstrations"] >= 1 and row["fc/imitation_loss"] > 0


class WrongFC:
    """An FC model that always calls a tool no task offers: every valid query beats it."""

    def act(self, messages, tools):
        return '[{"name": "no_such_tool", "arguments": {}}]'


def test_the_query_trainer_imitates_its_own_winning_queries(tmp_path):
    from agents import ppo_query
    from agents.ppo import PPOConfig

    args = ppo_query.Args(iterations=1, batch_size=4, group_size=2, run_dir=str(tmp_path),
                          ppo=PPOConfig(imitation_coef=1.0))
    _, episodes = ppo_query.train(args, opponent=WrongFC())
    won = {(e.task.id, e.query) for e in episodes if e.query_valid}
    assert won and all(not e.fc_correct for e in episodes)
    row = metrics(tmp_path)[0]
    assert row["query/demonstrations"] == len(won) and row["query/imitation_loss"] > 0
    samples = ppo_query.winning_samples(episodes)
    assert sorted(s.text for s in samples) == sorted(query for _, query in won)


def test_the_fc_trainer_answers_its_clean_share_of_tasks_on_their_seed_queries(tmp_path):
    from agents import ppo_fc

    args = ppo_fc.Args(iterations=1, batch_size=8, group_size=2, clean_fraction=0.5, run_dir=str(tmp_path),
                       policy={"kind": "tiny", "role": "fc", "max_new_tokens": 16})
    assert args.clean_episodes() == 4
    _, episodes = ppo_fc.train(args)
    assert [e.query == e.seed_query for e in episodes] == [True] * 4 + [False] * 4  # the scripted adversary rewrites
    assert all(e.samples for e in episodes if e.query_valid)
    with pytest.raises(ValueError, match="clean_fraction"):
        ppo_fc.Args(clean_fraction=1.5).clean_episodes()


def test_selfplay_evaluation_reuses_only_what_the_phase_left_unchanged():
    from omegaconf import OmegaConf

    from agents.factory import build_agent
    from agents.selfplay import evaluate
    from envs.tool_duel import FC, QUERY

    config = OmegaConf.create({"seed": 0, "eval_tasks": 4, "tasks": {}, "env": {"max_turns": 1}})
    fc = build_agent({"kind": "tiny", "role": "fc", "seed": 0, "max_new_tokens": 48})
    query = build_agent({"kind": "tiny", "role": "query", "seed": 0, "max_new_tokens": 48})
    full = evaluate(fc, query, config)
    assert evaluate(fc, query, config, since=full, trained=QUERY) == full  # neither model changed: all agree
    assert evaluate(fc, query, config, since=full, trained=FC) == full
    # what is reused is taken from `since`, and nothing else is
    since = {**full, "eval/clean_outcomes": [False] * 4, "eval/attacked_queries": ["What is 2 + 2?"] * 4}
    after_query_phase = evaluate(fc, query, config, since=since, trained=QUERY)
    assert after_query_phase["eval/clean_outcomes"] == [False] * 4
    assert after_query_phase["eval/attacked_queries"] == full["eval/attacked_queries"]
    after_fc_phase = evaluate(fc, query, config, since=since, trained=FC)
    assert after_fc_phase["eval/attacked_queries"] == ["What is 2 + 2?"] * 4
    assert after_fc_phase["eval/clean_outcomes"] == full["eval/clean_outcomes"]


def test_eval_noise_rescores_the_same_tasks_with_other_query_samples():
    result = subprocess.run([sys.executable, str(REPO / "benchmarks" / "eval_noise.py"), "--samplings", "2",
                             "eval_tasks=3"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert lines[0].startswith("3 held-out tasks (self-play seed 0)")
    assert [line.split(":")[0] for line in lines[1:3]] == ["sampling seed 0", "sampling seed 1"]
    assert "with nothing trained" in lines[-1] and "sd " in lines[-2]


def test_bench_env_times_the_env_beside_the_same_work_by_hand():
    result = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_env.py"), "--episodes", "40",
                             "--chunk", "20", "--repeats", "1"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    rates = dict(line.split(":", 1) for line in result.stdout.splitlines()[1:])
    assert set(rates) >= {"ToolDuel reset + 2 steps", "env overhead over the episode by hand"}
    episodes = float(rates["ToolDuel reset + 2 steps"].split()[0].replace(",", ""))
    steps = float(rates["ToolDuel env steps (query + FC)"].split()[0].replace(",", ""))
    assert episodes > 0 and abs(steps - 2 * episodes) <= 1
