"""BFCL as a task source: the Python categories of the Berkeley Function-Calling Leaderboard as `fcgym.Task`s.

The data comes from the ``bfcl-eval`` wheel, which must be installed **without its dependencies** (they are
~6 GB of model SDKs that nothing here needs)::

    pip install --no-deps bfcl-eval==2026.3.23

Only the JSON files the wheel ships are read; ``bfcl_eval`` code is never imported by this module. Loading every
category takes about a second and each category is read once per process.

What a loaded task holds
------------------------
=================  ==========================================================================================
``id``             BFCL's id (``simple_python_0``, ``live_multiple_12-4-2``, ...)
``tools``          one `fcgym.Tool` per BFCL function, parameters converted to JSON Schema (below); no ``fn``
``query``          the content of the last user message of the question
``messages``       the whole question as chat messages (BFCL questions may start with a system message)
``answers``        BFCL's possible answers as-is: ``{func: {param: [accepted values]}}``, ``""`` = may be omitted;
                   ``()`` for the irrelevance categories (the right answer is no call)
``kind``           the BFCL category; ``domain`` is ``"bfcl"``; ``ordered`` is False (BFCL matches parallel calls
                   in any order)
=================  ==========================================================================================

Schema dialect
--------------
BFCL writes ``"type": "dict"`` at the top level and uses the Python-ish types ``float``, ``tuple`` and ``any``.
Each schema is converted recursively (``properties`` and ``items``) to valid JSON Schema (draft 2020-12):

==========  ====================  =====================================================================
BFCL type   JSON-Schema ``type``  kept as ``"x-bfcl-type"``
==========  ====================  =====================================================================
dict        object                ``"dict"``
float       number                ``"float"`` (the checker then wants a float; an int is accepted only with
                                  ``CheckOptions.int_as_float``, the default, as BFCL does)
tuple       array                 ``"tuple"``
any         (no ``type`` key)     ``"any"``
others      unchanged             (absent)
==========  ====================  =====================================================================

``x-bfcl-type`` is an annotation keyword: JSON-Schema validators ignore it, `fcgym.checker` reads it first, so a
converted tool is checked with BFCL's stricter semantics while a model or validator sees plain JSON Schema.

Categories
----------
``CATEGORIES`` lists all eleven Python categories. ``live_relevance`` (16 tasks, "any call is right") has
``answers=()`` and ``Task.any_call=True``: `fcgym.check` accepts any call of a tool on offer and rejects no call.
"""

from __future__ import annotations

import functools
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fcgym import Task, Tool

#: Every BFCL Python category (the multi-turn, agentic, Java and JavaScript ones are out of scope).
CATEGORIES = (
    "simple_python", "multiple", "parallel", "parallel_multiple", "irrelevance",
    "live_simple", "live_multiple", "live_parallel", "live_parallel_multiple", "live_irrelevance", "live_relevance",
)
#: Categories without a possible-answer file.
NO_ANSWER_CATEGORIES = ("irrelevance", "live_irrelevance", "live_relevance")

#: BFCL type -> JSON-Schema type (None: no type constraint).
_TYPE_MAP: dict[str, str | None] = {"dict": "object", "float": "number", "tuple": "array", "any": None}

_INSTALL_HINT = "BFCL tasks need the bfcl-eval wheel: pip install --no-deps bfcl-eval==2026.3.23"


@dataclass(frozen=True, eq=False)
class BFCLTask(Task):
    """A `Task` that also carries BFCL's full question."""

    messages: tuple[dict[str, str], ...] = ()


def data_dir() -> Path:
    """The ``data`` folder of the installed bfcl-eval wheel (found without importing bfcl_eval)."""
    import importlib.util

    spec = importlib.util.find_spec("bfcl_eval")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(_INSTALL_HINT)
    path = Path(next(iter(spec.submodule_search_locations))) / "data"
    if not path.is_dir():
        raise ImportError(f"bfcl_eval has no data folder at {path}. {_INSTALL_HINT}")
    return path


def to_json_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Convert one BFCL parameter schema (any depth) to JSON Schema, keeping BFCL's type as ``x-bfcl-type``."""
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "type" and isinstance(value, str):
            json_type = _TYPE_MAP.get(value, value)
            if json_type is not None:
                out["type"] = json_type
            if json_type != value:
                out["x-bfcl-type"] = value
        elif key == "properties" and isinstance(value, dict):
            out[key] = {name: to_json_schema(prop) for name, prop in value.items()}
        elif key == "items" and isinstance(value, dict):
            out[key] = to_json_schema(value)
        else:
            out[key] = value
    return out


def to_tool(function: dict[str, Any]) -> Tool:
    """A BFCL function description as an `fcgym.Tool` (no implementation)."""
    parameters = to_json_schema(function.get("parameters") or {"type": "dict", "properties": {}})
    parameters.setdefault("properties", {})
    return Tool(name=function["name"], description=function.get("description", ""), parameters=parameters)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@functools.lru_cache(maxsize=None)
def _load(category: str) -> tuple[BFCLTask, ...]:
    if category not in CATEGORIES:
        raise ValueError(f"unknown BFCL category {category!r}; choose from {CATEGORIES}")
    root = data_dir()
    questions = _read_jsonl(root / f"BFCL_v4_{category}.json")
    answers: dict[str, list] = {}
    if category not in NO_ANSWER_CATEGORIES:
        answer_file = root / "possible_answer" / f"BFCL_v4_{category}.json"
        answers = {a["id"]: a["ground_truth"] for a in _read_jsonl(answer_file)}
        missing = [q["id"] for q in questions if q["id"] not in answers]
        if missing:
            raise ValueError(f"BFCL {category}: no possible answer for {missing[:5]}")
    tasks = []
    for entry in questions:
        messages = tuple(message for turn in entry["question"] for message in turn)
        query = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
        tasks.append(BFCLTask(
            id=entry["id"], tools=tuple(to_tool(f) for f in entry["function"]), query=query,
            answers=tuple(answers.get(entry["id"], ())), domain="bfcl", kind=category, ordered=False,
            messages=messages, any_call=category == "live_relevance",
        ))
    return tuple(tasks)


def load(category: str) -> list[BFCLTask]:
    """Every task of one BFCL category, in BFCL's order (read once per process, then served from memory)."""
    return list(_load(category))


@dataclass(frozen=True)
class BFCLTasks:
    """A task source over BFCL categories: ``sample(rng)`` draws uniformly from all tasks of ``categories``.

    Same protocol as `envs.domains.DomainTasks`. Data is loaded on the first ``sample``.
    """

    categories: tuple[str, ...] = CATEGORIES

    def __post_init__(self) -> None:
        object.__setattr__(self, "categories", tuple(self.categories))  # a list from a config file is fine too
        unknown = [c for c in self.categories if c not in CATEGORIES]
        if unknown:
            raise ValueError(f"unknown BFCL categories {unknown}; choose from {CATEGORIES}")
        if not self.categories:
            raise ValueError("BFCLTasks needs at least one category")

    def load(self, category: str) -> list[BFCLTask]:
        return load(category)

    @functools.cached_property
    def _pool(self) -> tuple[BFCLTask, ...]:
        return tuple(task for category in self.categories for task in _load(category))

    def sample(self, rng: random.Random) -> Task:
        return rng.choice(self._pool)
