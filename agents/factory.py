"""Build any agent from a small config mapping, so every player is one Hydra override away.

| ``kind``             | arguments                                     | what it is                              |
|----------------------|-----------------------------------------------|-----------------------------------------|
| ``tiny``             | ``role`` (fc or query), sampling arguments    | the embedded tiny model of that role    |
| ``hf``               | ``path``, ``gguf_file``, sampling arguments   | any local transformers causal LM        |
| ``openai``           | ``base_url``, ``model``, ``api_key``, ...       | any OpenAI-compatible endpoint          |
| ``scripted``         | ``operators``, ``max_operators``              | the rule-based adversary                |
| ``keyword``          |                                               | the rule-based FC baseline              |
| ``python``           | ``target`` ("package.module:Class"), kwargs   | your own class with ``act``             |

Sampling arguments of LM agents: ``temperature``, ``max_new_tokens``, ``seed``; ``call_style`` (``json``, or
``python`` for the tiny models) is the form of calls imitation teaches. On the command line, a key
that the default spec lacks is added with Hydra's ``+``: ``agent.kind=python +agent.target=my_module:MyAgent``.
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

        if kind == "tiny":
            arguments.setdefault("call_style", "python")  # the form agents/train_tiny.py taught it
            arguments.setdefault("max_new_tokens", TINY_MAX_NEW_TOKENS)
        path = TINY_DIR / arguments.pop("role") if kind == "tiny" else arguments.pop("path")
        return HFAgent.from_pretrained(path, **arguments)
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
    raise ValueError(f"unknown agent kind {kind!r}; choose from tiny, hf, openai, scripted, keyword, python")
