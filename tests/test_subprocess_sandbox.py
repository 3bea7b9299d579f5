"""fcgym.sandbox.SubprocessSandbox: typed errors for every way tool code can fail, worker replacement, isolation."""

from __future__ import annotations

import copy
import os
import random
import threading
import time

import pytest
import sandbox_tools as T

from fcgym import Call, InProcessSandbox, Tool, ToolExecutionError, execute
from fcgym.errors import ToolCrashedError, ToolMemoryError, ToolTimeoutError
from fcgym.sandbox import SubprocessSandbox


def as_tool(fn, name=None):
    return Tool(name or fn.__name__, "", {"type": "object"}, fn=fn)


@pytest.fixture(scope="module")
def sandbox():
    with SubprocessSandbox(workers=2, timeout=1.0, memory_bytes=256 << 20) as pool:
        yield pool


def worker_pids(sandbox):
    return {worker.process.pid for worker in sandbox._live}


def still_works(sandbox):
    state = {}
    assert sandbox.run(T.add, {"key": "k", "amount": 3}, state) == {"key": "k", "value": 3}
    assert state == {"counters": {"k": 3}}


def test_state_changes_come_back_and_results_match_in_process(sandbox):
    state = {"counters": {"a": 1}}
    results = execute([Call("add", {"key": "a", "amount": 2}), Call("add", {"key": "b", "amount": 5})],
                      (T.add,), state, sandbox)
    assert [r.output for r in results] == ['{"key": "a", "value": 3}', '{"key": "b", "value": 5}']
    assert state == {"counters": {"a": 3, "b": 5}}


def test_plain_values_cross_the_boundary(sandbox):
    import datetime
    import decimal

    state = {}
    result = sandbox.run(as_tool(T.plain_values), {}, state)
    assert result == {"tuple": (1, 2), "set": {3}, "bytes": b"x", "price": decimal.Decimal("1.50"), "none": None}
    assert state == {"when": datetime.date(2024, 1, 2)}


def test_raising_is_a_typed_error_with_the_message_and_state_is_untouched(sandbox):
    state = {"counters": {}}
    (result,) = execute([Call("fail", {"message": "disk full"})], (as_tool(T.fail),), state, sandbox)
    assert result.error_type == "ToolExecutionError"
    assert "RuntimeError" in result.error and "disk full" in result.error
    assert state == {"counters": {}}
    still_works(sandbox)


def test_hang_times_out_and_the_next_call_works(sandbox):
    state = {}
    start = time.monotonic()
    with pytest.raises(ToolTimeoutError, match="timed out after 1 s"):
        sandbox.run(as_tool(T.sleep), {"seconds": 60}, state)
    assert time.monotonic() - start < 3
    assert state == {}
    still_works(sandbox)
    assert len(worker_pids(sandbox)) == 2


@pytest.mark.parametrize("fn, match", [(T.exit_hard, "exit with status 7"), (T.segfault, "SIGSEGV")])
def test_crash_is_typed_and_the_worker_is_replaced(sandbox, fn, match):
    before = worker_pids(sandbox)
    (result,) = execute([Call(fn.__name__, {})], (as_tool(fn),), state := {"a": 1}, sandbox)
    assert result.error_type == "ToolCrashedError" and match in result.error
    assert state == {"a": 1}
    after = worker_pids(sandbox)
    assert len(after) == 2 and after != before
    still_works(sandbox)


def test_unbounded_allocation_is_out_of_memory(sandbox):
    with pytest.raises(ToolMemoryError, match="out of memory"):
        sandbox.run(as_tool(T.allocate), {}, {})
    still_works(sandbox)


def test_cpu_time_limit():
    with SubprocessSandbox(workers=1, timeout=20, cpu_seconds=1) as pool:
        start = time.monotonic()
        with pytest.raises(ToolTimeoutError, match="CPU-time limit"):
            pool.run(as_tool(T.spin), {}, {})
        assert time.monotonic() - start < 10
        still_works(pool)


def test_values_that_cannot_leave_the_worker(sandbox):
    for fn, match in [(T.unpicklable, "cannot be sent back"), (T.custom_object, "cannot leave the sandbox")]:
        pids = worker_pids(sandbox)
        with pytest.raises(ToolExecutionError, match=match) as caught:
            sandbox.run(as_tool(fn), {}, {})
        assert type(caught.value) is ToolExecutionError
        assert worker_pids(sandbox) == pids  # a plain tool error: the worker is kept


def impostor(state):
    return "not the real noop"


impostor.__module__, impostor.__qualname__ = "sandbox_tools", "noop"


def test_tools_go_by_reference_only(sandbox):
    def local(state):
        return 1

    for fn in (lambda state: 1, local, impostor):  # no importable name; a name that leads to another object
        with pytest.raises(ToolExecutionError, match="not importable|another object|cannot import"):
            sandbox.run(as_tool(fn, "f"), {}, {})
    with pytest.raises(ToolExecutionError, match="no implementation"):
        sandbox.run(Tool("schema_only", "", {"type": "object"}), {}, {})


def test_concurrent_calls_from_two_threads(sandbox):
    errors, states = [], [{}, {}]

    def work(index):
        try:
            for _ in range(200):
                sandbox.run(T.add, {"key": f"t{index}", "amount": 1}, states[index])
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert states == [{"counters": {"t0": 200}}, {"counters": {"t1": 200}}]


def test_a_hanging_call_does_not_block_another_thread(sandbox):
    outcome = {}

    def hang():
        try:
            sandbox.run(as_tool(T.sleep), {"seconds": 60}, {})
        except ToolTimeoutError:
            outcome["hang"] = time.monotonic()

    thread = threading.Thread(target=hang)
    thread.start()
    time.sleep(0.1)
    for _ in range(50):
        still_works(sandbox)
    outcome["others"] = time.monotonic()
    thread.join()
    assert outcome["others"] < outcome["hang"]


def test_built_in_domain_tools_behave_as_in_process(sandbox):
    try:
        from envs.domains import banking
    except ImportError as error:  # pragma: no cover - the domains package is being edited
        pytest.skip(f"envs.domains does not import: {error}")

    rng = random.Random(0)
    for _ in range(30):
        state = banking.initial_state(rng)
        tool = rng.choice(banking.TOOLS)
        calls = [Call(tool.name, banking.sample_arguments(tool.name, rng, "train"))]
        here, there = copy.deepcopy(state), copy.deepcopy(state)
        expected = execute(calls, banking.TOOLS, here, InProcessSandbox())
        assert execute(calls, banking.TOOLS, there, sandbox) == expected
        assert there == here


def test_temp_dir_is_private_and_emptied_after_each_call(sandbox, tmp_path):
    outside = tmp_path / "escape.txt"
    result = sandbox.run(as_tool(T.write_files), {"outside": str(outside)}, {})
    assert result["inside"] == "ok" and os.path.basename(result["cwd"]).startswith("fcgym-sandbox-")
    assert os.path.realpath(result["cwd"]) != os.path.realpath(os.getcwd())
    if sandbox.isolation["landlock"].startswith("ABI"):
        assert result["outside"] == "PermissionError" and not outside.exists()
    for _ in range(2):  # whichever worker answers, its temp dir is empty again
        assert sandbox.run(as_tool(T.list_cwd), {}, {}) == []


def test_no_network(sandbox):
    outcome = sandbox.run(as_tool(T.network), {}, {})
    assert outcome["socket.socket"] == "PermissionError"  # the best-effort Python layer
    if sandbox.isolation["seccomp"].startswith("unavailable"):
        pytest.skip(f"seccomp: {sandbox.isolation['seccomp']}")
    assert outcome["_socket"] == "PermissionError"  # the kernel layer


def test_no_new_processes(sandbox):
    outcome = sandbox.run(as_tool(T.fork), {}, {})
    assert outcome["os.fork"] == "PermissionError" and outcome["subprocess"] == "PermissionError"
    if sandbox.isolation["seccomp"].startswith("unavailable"):
        pytest.skip(f"seccomp: {sandbox.isolation['seccomp']}")
    assert outcome["libc.fork"] == "Operation not permitted"  # ctypes does not get around the kernel filter


def test_no_signals_to_the_parent(sandbox):
    if "no signals" not in sandbox.isolation["landlock"]:
        pytest.skip(f"landlock: {sandbox.isolation['landlock']}")
    assert sandbox.run(as_tool(T.kill_parent), {}, {}) == "PermissionError"


def _zombies_of(pids):
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] == "Z" and int(fields[1]) in pids:
                found.append(int(entry))
    return found


def test_close_kills_reaps_and_cleans_up():
    pool = SubprocessSandbox(workers=2, timeout=1.0)
    still_works(pool)
    with pytest.raises(ToolCrashedError):
        pool.run(as_tool(T.exit_hard), {}, {})
    pids = worker_pids(pool)
    dirs = [worker.tmpdir for worker in pool._live]
    assert len(pids) == 2 and all(os.path.isdir(d) for d in dirs)
    pool.close()
    pool.close()  # idempotent
    time.sleep(0.2)
    assert not pool._live
    assert not any(os.path.exists(f"/proc/{pid}") for pid in pids)  # gone, and reaped (no zombie left)
    assert not any(os.path.exists(d) for d in dirs)
    assert not _zombies_of({os.getpid()})
    with pytest.raises(ToolExecutionError, match="closed"):
        pool.run(T.add, {"key": "a", "amount": 1}, {})
