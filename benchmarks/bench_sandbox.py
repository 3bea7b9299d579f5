"""Calls per second of `SubprocessSandbox` (a pool of long-lived workers) versus a fresh subprocess per call.

    python benchmarks/bench_sandbox.py [--seconds 2] [--workers 2]

Both sides run the same trivial tool, `trivial(state, x)` below, sent by reference, with the same state and
arguments, and return the result and the changed state to this process. The baseline is measured in the same run:

* fresh subprocess: ``subprocess.run([python, -c, ...])`` per call; the child imports the tool's module (this
  file, so also `fcgym`, as a fresh-process sandbox must), reads the call as JSON on stdin and prints the result;
* fresh bare subprocess: the same with ``python -I -S`` and the tool's code inline, a lower bound on any
  fresh-process design (it imports nothing but ``json``).

The pool is measured through ``sandbox.run`` from one thread and from ``--workers`` threads at once, and through
`fcgym.execute` (schema validation, deep copy of the state, JSON result) from one thread.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fcgym import Call, Tool, execute  # noqa: E402
from fcgym.sandbox import SubprocessSandbox  # noqa: E402


def trivial(state, x=0):
    state["calls"] = state.get("calls", 0) + 1
    return {"x": x, "calls": state["calls"]}


TOOL = Tool("trivial", "Count calls.", {"type": "object", "properties": {"x": {"type": "integer"}}}, fn=trivial)

FRESH = """import json, runpy, sys
fn = runpy.run_path({path!r}, run_name="bench_tool")["trivial"]
request = json.load(sys.stdin)
result = fn(request["state"], **request["arguments"])
print(json.dumps({{"result": result, "state": request["state"]}}))
"""
BARE = """import json, sys
def trivial(state, x=0):
    state["calls"] = state.get("calls", 0) + 1
    return {"x": x, "calls": state["calls"]}
request = json.load(sys.stdin)
result = trivial(request["state"], **request["arguments"])
print(json.dumps({"result": result, "state": request["state"]}))
"""


def timed(seconds: float, call) -> tuple[float, int]:
    """(calls per second, calls) of ``call`` repeated for about ``seconds``."""
    n, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        call()
        n += 1
    return n / elapsed, n


def fresh_call(argv: list[str]) -> None:
    request = json.dumps({"state": {"calls": 0}, "arguments": {"x": 1}})
    done = subprocess.run(argv, input=request, capture_output=True, text=True, check=True)
    assert json.loads(done.stdout)["result"] == {"x": 1, "calls": 1}


def threaded(sandbox: SubprocessSandbox, threads: int, seconds: float) -> tuple[float, int]:
    counts = [0] * threads
    stop = time.perf_counter() + seconds

    def work(index: int) -> None:
        state = {}
        while time.perf_counter() < stop:
            sandbox.run(TOOL, {"x": 1}, state)
            counts[index] += 1

    start = time.perf_counter()
    pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return sum(counts) / (time.perf_counter() - start), sum(counts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time spent on each measurement")
    parser.add_argument("--workers", type=int, default=2, help="pool size and number of client threads")
    args = parser.parse_args()
    print(f"cpus: {os.cpu_count()}, python {sys.version.split()[0]}, workers: {args.workers}")

    fresh_rate, fresh_n = timed(args.seconds, lambda: fresh_call(
        [sys.executable, "-c", FRESH.format(path=str(Path(__file__).resolve()))]))
    bare_rate, bare_n = timed(args.seconds, lambda: fresh_call([sys.executable, "-I", "-S", "-c", BARE]))

    start = time.perf_counter()
    with SubprocessSandbox(workers=args.workers) as sandbox:
        started = time.perf_counter() - start
        state: dict = {}
        assert sandbox.run(TOOL, {"x": 1}, state) == {"x": 1, "calls": 1} and state == {"calls": 1}
        one_rate, one_n = timed(args.seconds, lambda: sandbox.run(TOOL, {"x": 1}, {}))
        many_rate, many_n = threaded(sandbox, args.workers, args.seconds)
        calls = [Call("trivial", {"x": 1})]
        execute_rate, execute_n = timed(args.seconds, lambda: execute(calls, (TOOL,), {"calls": 0}, sandbox))
        layers = ", ".join(f"{name}: {'on' if not value.startswith('unavailable') else 'off'}"
                           for name, value in sandbox.isolation.items())

    print(f"pool start ({args.workers} workers):           {started * 1000:8.1f} ms   [{layers}]")
    print(f"fresh subprocess per call:          {fresh_rate:10.1f} calls/s  ({fresh_n} calls)")
    print(f"fresh bare subprocess (-I -S):      {bare_rate:10.1f} calls/s  ({bare_n} calls)")
    print(f"pool, sandbox.run, 1 thread:        {one_rate:10.1f} calls/s  ({one_n} calls)")
    print(f"pool, sandbox.run, {args.workers} threads:       {many_rate:10.1f} calls/s  ({many_n} calls)")
    print(f"pool, fcgym.execute, 1 thread:      {execute_rate:10.1f} calls/s  ({execute_n} calls)")
    best = max(one_rate, many_rate)
    print(f"ratio pool (best) / fresh subprocess:      {best / fresh_rate:8.1f}x")
    print(f"ratio pool (best) / fresh bare subprocess: {best / bare_rate:8.1f}x")
    print(f"ratio pool (1 thread) / fresh subprocess:  {one_rate / fresh_rate:8.1f}x")
    goal = best >= 2000 and best / fresh_rate >= 20
    print(f"goal (>= 2,000 calls/s and >= 20x the fresh subprocess): {'met' if goal else 'NOT met'}")


if __name__ == "__main__":
    main()
