"""The trainers run unchanged under torchrun: two CPU processes (gloo) keep one set of weights."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

REPO = Path(__file__).resolve().parents[1]


def _train_one_update(rank: int, init_file: str, out_dir: str, imitating: bool) -> None:
    from agents.factory import build_agent
    from agents.ppo import Learner, PPOConfig
    from fcgym import Call

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    agent = build_agent({"kind": "tiny", "role": "fc", "max_new_tokens": 16, "seed": rank})
    learner = Learner(agent, PPOConfig(learning_rate=1e-3, imitation_coef=float(imitating)), seed=rank)
    prompt = ([{"role": "user", "content": f"Freeze my {['travel', 'savings'][rank]} card."}], [])
    # uneven batches (DDP's join must cope); with imitation: 1 and 4 samples, so 1 and 2 minibatches, and a
    # demonstration on rank 0 only
    samples = agent.sample([prompt] * ((1 + 3 * rank) if imitating else (3 + rank)))
    shown = [agent.demonstration(prompt, [Call("freeze_card", {"card": "travel"})])] if imitating and rank == 0 else []
    stats = learner.update(samples, [1.0] * len(samples), shown)
    flat = torch.cat([p.detach().flatten() for p in learner.policy.parameters()])
    torch.save(flat, Path(out_dir) / f"rank{rank}.pt")
    (Path(out_dir) / f"rank{rank}.json").write_text(json.dumps(stats))
    dist.destroy_process_group()


def _trained_weights(tmp_path: Path, imitating: bool) -> tuple[torch.Tensor, torch.Tensor]:
    mp.spawn(_train_one_update, args=(str(tmp_path / "init"), str(tmp_path), imitating), nprocs=2, join=True)
    return torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")


def test_two_processes_with_different_data_end_with_identical_weights(tmp_path):
    first, second = _trained_weights(tmp_path, imitating=False)
    assert torch.equal(first, second)
    from agents.factory import build_agent

    start = torch.cat([p.flatten() for p in build_agent({"kind": "tiny", "role": "fc"}).model.parameters()])
    assert not torch.equal(first[: start.numel()], start)  # the update did change the weights


def test_imitation_under_ddp_shares_every_process_demonstrations(tmp_path):
    first, second = _trained_weights(tmp_path, imitating=True)
    assert torch.equal(first, second)
    stats = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    assert stats[1]["imitation_loss"] == stats[0]["imitation_loss"] > 0  # rank 1 imitated rank 0's demonstration


def test_trainer_script_under_torchrun(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "TQDM_DISABLE": "1"}
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                    "-m", "agents.ppo_query", "iterations=1", "batch_size=2", "policy.max_new_tokens=24",
                    f"hydra.run.dir={tmp_path}"], cwd=REPO, env=env, check=True, capture_output=True, timeout=600)
    for log in (tmp_path / "metrics.jsonl", tmp_path / "rank_1" / "metrics.jsonl"):
        assert len(log.read_text().splitlines()) == 1
    assert (tmp_path / "checkpoint" / "model.safetensors").exists()
    assert not (tmp_path / "rank_1" / "checkpoint").exists()
    assert json.loads((tmp_path / "metrics.jsonl").read_text())["role"] == "query"
