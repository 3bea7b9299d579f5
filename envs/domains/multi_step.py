"""Multi-step requests: the second call needs a value that only the first call's result holds.

A domain offers them as ``MULTI_STEP``, a list of functions ``(rng, state, split) -> MultiStep``. Each returns
the user's request, the first call, and ``then``: a function from the first call's result (decoded JSON) to the
second call. ``derived`` names the second call's parameters whose values come from that result; the request
does not state them, so the FC model must call, read the tool's reply and call again (``max_turns`` >= 2).

    def move_whole_balance(rng, state, split):
        source, target = rng.sample(ACCOUNTS, 2)
        return MultiStep(
            query=f"Move everything in my {source} account to {target}.",
            first=Call("get_balance", {"account": source}),
            then=lambda result: Call("transfer", {"from_account": source, "to_account": target,
                                                  "amount": result["balance"]}),
            derived=("amount",),
        )

``then`` may raise `LookupError` (or `ValueError`) when the result does not support the request (an empty search);
`draw` then raises `RequestDoesNotFit` and the generator draws again.
"""

from __future__ import annotations

import json
import random
from typing import Any, Callable, NamedTuple

from fcgym import Call, execute
from fcgym.tasks import PossibleAnswer, copy_state, possible_answer


class MultiStep(NamedTuple):
    """A request whose second call takes values from the first call's result."""

    query: str
    first: Call
    then: Callable[[Any], Call]
    derived: tuple[str, ...]


class RequestDoesNotFit(Exception):
    """The drawn world does not support the drawn request (its first call fails, or ``then`` finds no answer)."""


def draw(module: Any, rng: random.Random, state: dict[str, Any],
         split: str) -> tuple[str, tuple[PossibleAnswer, ...], frozenset[tuple[int, str]]]:
    """``(query, answers, derived)`` for one of the module's multi-step requests on ``state``.

    Raises `RequestDoesNotFit` when the first call fails or its result does not support the request.
    """
    chains = getattr(module, "MULTI_STEP", ())
    if not chains:
        raise ValueError(f"domain {module.NAME!r} defines no MULTI_STEP requests")
    request = rng.choice(chains)(rng, state, split)
    tools = {tool.name: tool for tool in module.TOOLS}
    (result,) = execute([request.first], module.TOOLS, copy_state(state))
    if not result.ok:
        raise RequestDoesNotFit(result.error)
    try:
        second = request.then(json.loads(result.output))
    except (LookupError, ValueError) as error:
        raise RequestDoesNotFit(str(error)) from None
    answers = tuple(possible_answer(tools[call.name], call.arguments) for call in (request.first, second))
    return request.query, answers, frozenset((1, param) for param in request.derived)
