"""Run plumbing shared by trainers, self-play and the benchmark: seeding, resolved config, metrics logs."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch, and make torch deterministic on CPU."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def save_config(run_dir: Path, config: Any) -> None:
    """Write the resolved config of a run as ``config.yaml``."""
    from omegaconf import OmegaConf

    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(config), resolve=True))


def saved_rounds(run_dir: Path) -> int:
    """How many rounds of the self-play run in ``run_dir`` saved both checkpoints (``checkpoints/round_<r>/``)."""
    done = 0
    while all((run_dir / "checkpoints" / f"round_{done + 1}" / role / "optimizer.pt").exists()
              for role in ("fc", "query")):
        done += 1
    return done


class RunLogger:
    """Appends metrics to ``metrics.jsonl`` and mirrors scalars to TensorBoard under ``tb/``."""

    def __init__(self, run_dir: Path):
        from torch.utils.tensorboard import SummaryWriter

        run_dir.mkdir(parents=True, exist_ok=True)
        self.path = run_dir / "metrics.jsonl"
        self.writer = SummaryWriter(str(run_dir / "tb"))

    def log(self, step: int, metrics: dict[str, Any]) -> None:
        with self.path.open("a") as file:
            file.write(json.dumps({"step": step, **metrics}) + "\n")
        for key, value in metrics.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(key, value, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def append_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    with path.open("a") as file:
        for record in records:
            file.write(json.dumps(record) + "\n")
