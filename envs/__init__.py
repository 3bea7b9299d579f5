"""fcgym environments: ToolDuel (PettingZoo) and its Gymnasium single-agent views."""

from __future__ import annotations

from typing import Any

import gymnasium

TOOL_DUEL_ID = "fcgym/ToolDuel-v0"

gymnasium.register("fcgym/FCvsAdversary-v0", entry_point="envs.single_agent:FCvsAdversary")
gymnasium.register("fcgym/AdversaryVsFC-v0", entry_point="envs.single_agent:AdversaryVsFC")


def make(env_id: str, parallel: bool = True, **kwargs: Any):
    """Build any fcgym env by id: ToolDuel (parallel or AEC) or a registered Gymnasium view."""
    if env_id == TOOL_DUEL_ID:
        from envs import tool_duel

        return tool_duel.parallel_env(**kwargs) if parallel else tool_duel.env(**kwargs)
    return gymnasium.make(env_id, **kwargs)
