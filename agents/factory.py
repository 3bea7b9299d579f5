"""Build any agent from a small config mapping, so every player is one Hydra override away.

| ``kind``             | arguments                                     | what it is                              |
|----------------------|-----------------------------------------------|-----------------------------------------|
| ``tiny``             | ``role`` (fc or query), sampling arguments    | the embedded tiny model of that role    |
| ``hf``               | ``path``, ``gguf_file``, sampling arguments   | any local transformers causal LM        |
| ``checkpoint``       | ``run``, ``role``, ``round``, sampling args   | a model that self-play trained          |
| ``openai``           | ``base_url``, ``model``, ``api_key``, ...       | any OpenAI-compatible endpoint          |
| ``scripted``         | ``operators``, ``max_operators``              | the rule-based adversary                |
| ``keyword``          |                                               | the rule-based FC baseline              |
| ``python``           | ``target`` ("package.module:Class"), kwargs   | your own class with ``act``             |

Sampling arguments of LM agents: ``temperature``, ``max_new_tokens``, ``seed``; ``call_style`` (``json``, or
``python`` for the tiny models) is the form of calls imitation teaches. On the command line, a key
that the default spec lacks is added with Hydra's ``+``: ``agent.kind=python +agent.target=my_module:MyAgent``.

``checkpoint`` loads the ``role`` model (fc or query) of a self-play run directory ``run`` as saved after ``round``
(default: the last saved round; 0: the model the run started from), sampled as that run configured the role
unless sampling arguments say otherwise.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Mapping

from agents.base import Agent

TINY_DIR = Path(__file__).parent / "tiny"
#: The tiny models' reply budget (characters, plus eos): the longest FC answer to a built-in task is 234.
TINY_MAX_NEW_TOKENS = 256


def build_agent(spec: Mapping[str, Any]) -> Agent:
    """An agent from ``{"kind": ..., **arguments}``."""
    arguments = dict(spec)
    kind = arguments.pop("kind", None)
    if kind in ("tiny", "hf"):
        from agents.hf import HFAgent

        path = TINY_DIR / arguments.pop("role") if kind == "tiny" else arguments.pop("path")
        return HFAgent.from_pretrained(path, **sampling_arguments(kind, arguments))
    if kind == "checkpoint":
        return self_play_checkpoint(**arguments)
    if kind == "openai":
        from agents.openai_compat import OpenAIAgent

        return OpenAIAgent(**arguments)
    if kind == "scripted":
        from agents.scripted import ScriptedAdversary

        return ScriptedAdversary(**{k: tuple(v) if isinstance(v, list) else v for k, v in arguments.items()})
    if kind == "keyword":
        from agents.scripted import KeywordFC

        return KeywordFC()
    if kind == "python":
        module_name, _, class_name = arguments.pop("target").partition(":")
        return getattr(importlib.import_module(module_name), class_name)(**arguments)
    raise ValueError(f"unknown agent kind {kind!r}; choose from tiny, hf, checkpoint, openai, scripted, keyword, "
                     "python")


def sampling_arguments(kind: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The `HFAgent` arguments of a ``tiny`` or ``hf`` spec without its path: the tiny models' own defaults."""
    if kind == "tiny":  # the form and length of reply that agents/train_tiny.py taught them
        return {"call_style": "python", "max_new_tokens": TINY_MAX_NEW_TOKENS, **arguments}
    return dict(arguments)


def self_play_checkpoint(run: str, role: str, round: int | None = None, **sampling: Any) -> Agent:
    """The ``role`` model of the self-play run in ``run`` after ``round`` (see the module docstring)."""
    from omegaconf import OmegaConf

    from agents.hf import AgentLoadError, HFAgent
    from agents.runs import saved_rounds

    run_dir = Path(run)
    if not (run_dir / "config.yaml").exists():
        raise AgentLoadError(f"{run_dir} is not a self-play run directory: it has no config.yaml")
    if role not in ("fc", "query"):
        raise ValueError(f"unknown role {role!r}; choose fc or query")
    start = OmegaConf.to_container(OmegaConf.load(run_dir / "config.yaml"), resolve=True)[role]
    saved = saved_rounds(run_dir)
    round = saved if round is None else round
    if round == 0:
        return build_agent({**start, **sampling})
    if not 1 <= round <= saved:
        raise AgentLoadError(f"{run_dir} has checkpoints of rounds 1 to {saved}, not of round {round}")
    kind = start.pop("kind")
    if kind not in ("tiny", "hf"):
        raise AgentLoadError(f"{run_dir} started its {role} model from a {kind!r} agent, which self-play cannot train")
    start = {key: value for key, value in start.items() if key not in ("role", "path", "gguf_file")}
    directory = run_dir / "checkpoints" / f"round_{round}" / role
    return HFAgent.from_pretrained(directory, **{**sampling_arguments(kind, start), **sampling})
