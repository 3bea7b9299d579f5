"""fcgym's checker against bfcl-eval's own ``ast_checker``: agreement on every BFCL Python entry, and speed.

    pip install --no-deps bfcl-eval==2026.3.23
    python benchmarks/bench_checker.py [--rounds 3] [--show 40]

Inputs: every entry of the BFCL Python categories that have possible answers (simple_python, multiple, parallel,
parallel_multiple, live_simple, live_multiple, live_parallel, live_parallel_multiple), each checked as
its canonical answer (first accepted value of every parameter, resolved recursively) and as systematic
corruptions of it (see ``CORRUPTIONS``). Both checkers see the same calls: bfcl in its decoded form
``[{name: {arg: value}}]`` with the raw BFCL function descriptions, fcgym as `Call`s with the converted tools.

Printed: the agreement count (same ``valid``), every disagreement with its reason (``BFCL bug`` where BFCL is
wrong), agreement of error types where both reject, and the speed ratio, timed side by side in this process.

bfcl-eval is imported as ../shared/FACTS.md describes: ``BFCL_PROJECT_ROOT`` set to a temp dir (or the import
creates folders inside site-packages) and a stub ``bfcl_eval.constants.model_config`` (the real one imports every
model SDK).
"""

from __future__ import annotations

import argparse
import copy
import gc
import os
import sys
import tempfile
import time
import types
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from envs import bfcl  # noqa: E402
from fcgym import Call, Task, check  # noqa: E402
from fcgym.checker import _assignment  # noqa: E402

ANSWERED_CATEGORIES = tuple(c for c in bfcl.CATEGORIES if c not in bfcl.NO_ANSWER_CATEGORIES)
EXTRA = "zz_extra"


# ------------------------------------------------------------------------------------------ bfcl-eval import

def import_bfcl_checker() -> Callable[..., dict]:
    """bfcl-eval's ``ast_checker`` bound to Python, imported without its SDK dependencies."""
    if "bfcl_eval.eval_checker.ast_eval.ast_checker" not in sys.modules:
        os.environ.setdefault("BFCL_PROJECT_ROOT", tempfile.mkdtemp(prefix="bfcl_root_"))

        class _ModelConfigs(dict):
            def __missing__(self, key: str) -> Any:
                return types.SimpleNamespace(underscore_to_dot=False)

        stub = types.ModuleType("bfcl_eval.constants.model_config")
        stub.MODEL_CONFIG_MAPPING = _ModelConfigs()
        sys.modules["bfcl_eval.constants.model_config"] = stub
    from bfcl_eval.constants.enums import Language
    from bfcl_eval.eval_checker.ast_eval.ast_checker import ast_checker

    def bfcl_check(functions: list[dict], model_output: list[dict], answers: list[dict], category: str) -> dict:
        return ast_checker(functions, model_output, answers, Language.PYTHON, category, "stub_model")

    return bfcl_check


def raw_entries(category: str) -> dict[str, dict]:
    """The raw BFCL question entries of ``category`` by id (function descriptions in BFCL's dialect)."""
    return {e["id"]: e for e in bfcl._read_jsonl(bfcl.data_dir() / f"BFCL_v4_{category}.json")}


# ---------------------------------------------------------------------------------------------- corruptions

def _changed(value: Any, accepted: list[Any]) -> Any:
    """A value of the same type as ``value`` that none of ``accepted`` equals (where the type allows)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, str):
        return value + "zz"
    if isinstance(value, (int, float)):
        new = value + (1 if isinstance(value, int) else 1.5)
        while any(new == o for o in accepted if not isinstance(o, bool)):
            new += 7
        return new
    if isinstance(value, list):
        return [_changed(value[0], [])] + value[1:] if value else ["zz"]
    if isinstance(value, dict):
        if not value:
            return {EXTRA: "zz"}
        key = next(iter(value))
        return {**value, key: _changed(value[key], [])}
    return "zz"


def _with_args(calls: list[Call], index: int, arguments: dict) -> list[Call]:
    return [Call(c.name, arguments) if i == index else c for i, c in enumerate(calls)]


def _first_param(task: Task, calls: list[Call], want: Callable[[Any, list], bool]) -> tuple[int, str] | None:
    for index, (call, answer) in enumerate(zip(calls, task.answers)):
        accepted_params = answer[call.name]
        for param, value in call.arguments.items():
            if want(value, accepted_params.get(param, [])):
                return index, param
    return None


def corrupt_wrong_value(task, calls):
    found = _first_param(task, calls, lambda v, a: True)
    if found:
        i, p = found
        accepted = task.answers[i][calls[i].name][p]
        return _with_args(calls, i, {**calls[i].arguments, p: _changed(calls[i].arguments[p], accepted)})


def corrupt_missing_param(task, calls):
    found = _first_param(task, calls, lambda v, a: "" not in a)
    if found:
        i, p = found
        return _with_args(calls, i, {k: v for k, v in calls[i].arguments.items() if k != p})


def corrupt_omit_optional(task, calls):
    """Leave out every parameter that the answer marks omittable (``""``)."""
    if _first_param(task, calls, lambda v, a: "" in a):
        return [Call(c.name, {k: v for k, v in c.arguments.items() if "" not in a[c.name].get(k, [])})
                for c, a in zip(calls, task.answers)]


def corrupt_extra_param(task, calls):
    return _with_args(calls, 0, {**calls[0].arguments, EXTRA: "zz"})


def corrupt_schema_only_param(task, calls):
    """Give a parameter that the schema has but the possible answer does not list."""
    tool = task.tool(calls[0].name)
    answered = task.answers[0][calls[0].name]
    spare = [p for p in tool.parameters.get("properties", {}) if p not in answered] if tool else []
    if spare:
        prop = tool.parameters["properties"][spare[0]]
        return _with_args(calls, 0, {**calls[0].arguments, spare[0]: prop.get("default", "zz")})


def corrupt_wrong_function(task, calls):
    others = [t.name for t in task.tools if t.name != calls[0].name]
    return [Call(others[0] if others else calls[0].name + "_v2", calls[0].arguments)] + calls[1:]


def corrupt_swapped(task, calls):
    if len(calls) > 1:
        return calls[::-1]


def corrupt_extra_call(task, calls):
    return calls + [calls[0]]


def corrupt_stringified_number(task, calls):
    found = _first_param(task, calls, lambda v, a: isinstance(v, (int, float)) and not isinstance(v, bool))
    if found:
        i, p = found
        return _with_args(calls, i, {**calls[i].arguments, p: str(calls[i].arguments[p])})


def corrupt_int_for_float(task, calls):
    found = _first_param(task, calls, lambda v, a: isinstance(v, float) and v.is_integer() and abs(v) < 1e15)
    if found:
        i, p = found
        return _with_args(calls, i, {**calls[i].arguments, p: int(calls[i].arguments[p])})


CORRUPTIONS: dict[str, Callable[[Task, list[Call]], list[Call] | None]] = {
    "canonical": lambda task, calls: calls,
    "wrong_value": corrupt_wrong_value,
    "missing_param": corrupt_missing_param,
    "omit_optional": corrupt_omit_optional,
    "extra_param": corrupt_extra_param,
    "schema_only_param": corrupt_schema_only_param,
    "wrong_function": corrupt_wrong_function,
    "swapped": corrupt_swapped,
    "extra_call": corrupt_extra_call,
    "stringified_number": corrupt_stringified_number,
    "int_for_float": corrupt_int_for_float,
}


def cases(categories: tuple[str, ...] = ANSWERED_CATEGORIES) -> list[dict]:
    """Every (entry, corruption) input: the fcgym task and calls, and the same in bfcl's form."""
    out = []
    for category in categories:
        raw = raw_entries(category)
        for task in bfcl.load(category):
            canonical = task.target_calls()
            for label, corrupt in CORRUPTIONS.items():
                calls = corrupt(task, canonical)
                if calls is None:
                    continue
                calls = [Call(c.name, copy.deepcopy(c.arguments)) for c in calls]
                out.append({
                    "id": task.id, "category": category, "label": label, "task": task, "calls": calls,
                    "functions": raw[task.id]["function"], "answers": list(task.answers),
                    "model_output": [{c.name: copy.deepcopy(c.arguments)} for c in calls],
                })
    return out


# ------------------------------------------------------------------------------------------------- compare

def run_bfcl(bfcl_check, case: dict) -> dict:
    try:
        return bfcl_check(case["functions"], case["model_output"], case["answers"], case["category"])
    except Exception as error:  # noqa: BLE001 - a crash is a verdict to report
        return {"valid": False, "error": [f"{type(error).__name__}: {error}"], "error_type": "crash"}


_BFCL_TO_FCGYM = {
    "wrong_count": "wrong_count", "wrong_func_name": "wrong_function", "missing_required": "missing_required",
    "missing_optional": "missing_required", "unexpected_param": "unexpected_param",
}


def bfcl_error_type(result: dict) -> str | None:
    """bfcl's error type in fcgym's vocabulary (None for the parallel matcher's catch-all and crashes)."""
    error_type = result.get("error_type", "")
    tail = error_type.rsplit(":", 1)[-1]
    if tail in _BFCL_TO_FCGYM:
        return _BFCL_TO_FCGYM[tail]
    if error_type.startswith("type_error"):
        return "type_error"
    if error_type.startswith(("value_error", "dict_checker", "list_dict_checker")):
        return "value_error"
    return None


def _contains_empty_list(value: Any) -> bool:
    if isinstance(value, list):
        return not value or any(_contains_empty_list(v) for v in value)
    if isinstance(value, dict):
        return any(_contains_empty_list(v) for v in value.values())
    return False


def explain(bfcl_check, case: dict, bfcl_result: dict, verdict) -> str:
    """Why the two checkers disagree on ``case``: a BFCL bug, a data quirk, or an fcgym difference."""
    task, calls = case["task"], case["calls"]
    if bfcl_result.get("error_type") == "crash":
        return f"BFCL bug: ast_checker crashed ({bfcl_result['error'][0]})"
    if verdict.valid and "parallel" in case["category"] and len(calls) > 1:
        single = [[check([c], replace(task, answers=(a,))).valid for a in task.answers] for c in calls]
        pairs = dict(_assignment(single))
        aligned = [None] * len(calls)
        for call_index, answer_index in pairs.items():
            aligned[answer_index] = case["model_output"][call_index]
        if run_bfcl(bfcl_check, {**case, "model_output": aligned})["valid"]:
            return ("BFCL bug: greedy parallel matching; BFCL accepts the same calls in the order "
                    f"{[i for i, _ in sorted(pairs.items(), key=lambda p: p[1])]}, so a full assignment exists")
    if bfcl_result["valid"] and not verdict.valid and any(_contains_empty_list(c.arguments) for c in calls):
        return ('BFCL bug: an empty list matches the omittable marker "" (list_checker/list_dict_checker compare '
                'len("") == 0); fcgym: ' + verdict.errors[0])
    if verdict.valid:
        return "fcgym accepts; BFCL: " + "; ".join(map(str, bfcl_result.get("error", [])))[:300]
    return "BFCL accepts; fcgym: " + verdict.errors[0][:300]


def compare(bfcl_check, all_cases: list[dict]) -> dict:
    agree, disagreements, by_label, type_pairs = 0, [], Counter(), Counter()
    for case in all_cases:
        result = run_bfcl(bfcl_check, case)
        verdict = check(case["calls"], case["task"])
        if result["valid"] == verdict.valid:
            agree += 1
            by_label[case["label"], "agree"] += 1
            if not verdict.valid:
                type_pairs[bfcl_error_type(result), verdict.error_type] += 1
        else:
            by_label[case["label"], "disagree"] += 1
            disagreements.append((case, result, verdict, explain(bfcl_check, case, result, verdict)))
    return {"agree": agree, "disagreements": disagreements, "by_label": by_label, "type_pairs": type_pairs}


def time_side_by_side(bfcl_check, all_cases: list[dict], rounds: int) -> tuple[float, float]:
    """Best-of-``rounds`` seconds for one pass over all cases, bfcl and fcgym interleaved (GC off, as timeit does)."""
    from bfcl_eval.constants.enums import Language
    from bfcl_eval.eval_checker.ast_eval.ast_checker import ast_checker

    bfcl_args = [(c["functions"], c["model_output"], c["answers"], Language.PYTHON, c["category"], "stub_model")
                 for c in all_cases]
    fcgym_args = [(c["calls"], c["task"]) for c in all_cases]
    best_bfcl = best_fcgym = float("inf")
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(rounds):
            start = time.perf_counter()
            for args in bfcl_args:
                try:
                    ast_checker(*args)
                except Exception:  # noqa: BLE001,S112 - crashes are reported by compare(), timed here all the same
                    continue
            best_bfcl = min(best_bfcl, time.perf_counter() - start)
            start = time.perf_counter()
            for calls, task in fcgym_args:
                check(calls, task)
            best_fcgym = min(best_fcgym, time.perf_counter() - start)
    finally:
        if gc_was_enabled:
            gc.enable()
    return best_bfcl, best_fcgym


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="timing rounds (best is reported)")
    parser.add_argument("--show", type=int, default=0, help="print at most this many disagreements (0: all)")
    args = parser.parse_args(argv)

    bfcl_check = import_bfcl_checker()
    start = time.perf_counter()
    all_cases = cases()
    print(f"{len(all_cases)} inputs from {len(ANSWERED_CATEGORIES)} categories "
          f"({sum(c['label'] == 'canonical' for c in all_cases)} entries), "
          f"built in {time.perf_counter() - start:.1f} s")

    report = compare(bfcl_check, all_cases)
    total = len(all_cases)
    disagreements = report["disagreements"]
    print(f"\nagreement (same valid): {report['agree']} / {total} ({100 * report['agree'] / total:.2f}%)")
    print("\nby input kind:               agree  disagree")
    for label in CORRUPTIONS:
        print(f"  {label:24s} {report['by_label'][label, 'agree']:8d} {report['by_label'][label, 'disagree']:9d}")
    typed = {k: v for k, v in report["type_pairs"].items() if k[0] is not None}
    same = sum(v for (b, f), v in typed.items() if b == f)
    print(f"\nerror type agreement where both reject (bfcl's type mappable): {same} / {sum(typed.values())}")
    for (b, f), v in sorted(typed.items(), key=lambda kv: -kv[1]):
        if b != f:
            print(f"  bfcl {b} / fcgym {f}: {v}")

    reasons = Counter(("BFCL bug" if r.startswith("BFCL bug") else "other") for *_, r in disagreements)
    print(f"\ndisagreements: {len(disagreements)} ({reasons['BFCL bug']} BFCL bugs, {reasons['other']} other)")
    shown = disagreements if args.show == 0 else disagreements[:args.show]
    for case, result, verdict, reason in shown:
        print(f"  {case['id']} [{case['label']}] bfcl={'valid' if result['valid'] else 'invalid'} "
              f"fcgym={'valid' if verdict.valid else 'invalid'}: {reason}")
    if len(shown) < len(disagreements):
        print(f"  ... {len(disagreements) - len(shown)} more")

    bfcl_s, fcgym_s = time_side_by_side(bfcl_check, all_cases, args.rounds)
    print(f"\nspeed (best of {args.rounds}, {total} checks): bfcl {bfcl_s * 1e6 / total:.1f} us/check, "
          f"fcgym {fcgym_s * 1e6 / total:.1f} us/check -> fcgym is {bfcl_s / fcgym_s:.2f}x bfcl")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
