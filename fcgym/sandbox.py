"""Run tool implementations on an episode's state.

`execute` is the one entry point: it dispatches each call by name among the episode's tools, validates the
arguments against the tool's JSON Schema, runs the tool through a sandbox backend and returns one
`ToolResult` per call. A failing call leaves the state exactly as it was.

Backends: `InProcessSandbox` runs trusted built-in tools in this process; `SubprocessSandbox` runs untrusted
tool code in a pool of long-lived, resource-limited and (where the kernel allows it) kernel-confined worker
processes. Both raise `ToolExecutionError` (or one of its subclasses) when the tool fails.
"""

from __future__ import annotations

import ctypes
import importlib
import json
import math
import multiprocessing
import os
import pickle
import resource
import shutil
import signal
import struct
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any, Protocol

from fcgym.errors import (
    FCGymError,
    ToolCrashedError,
    ToolExecutionError,
    ToolMemoryError,
    ToolTimeoutError,
    UnknownToolError,
)
from fcgym.tasks import State
from fcgym.tools import Call, Tool

MAX_RESULT_CHARS = 4_000


@dataclass(frozen=True)
class ToolResult:
    """What one call returned (``output``, JSON text) or why it failed (``error``, with its type)."""

    call: Call
    output: str | None = None
    error: str | None = None
    error_type: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def message(self) -> dict[str, str]:
        """The result as an OpenAI-style ``tool`` chat message."""
        content = self.output if self.ok else json.dumps({"error": self.error_type, "message": self.error})
        return {"role": "tool", "name": self.call.name, "content": content}


class Sandbox(Protocol):
    """A backend that runs one tool call; it raises `ToolExecutionError` when the tool fails."""

    def run(self, tool: Tool, arguments: dict[str, Any], state: dict[str, Any]) -> Any: ...


class InProcessSandbox:
    """Runs trusted tools in this process; any exception becomes a `ToolExecutionError`."""

    def run(self, tool: Tool, arguments: dict[str, Any], state: dict[str, Any]) -> Any:
        if tool.fn is None:
            raise ToolExecutionError(f"{tool.name} has no implementation")
        try:
            return tool.fn(state, **arguments)
        except FCGymError:
            raise
        except Exception as error:  # tool code is arbitrary: every failure becomes a typed error
            raise ToolExecutionError(f"{tool.name} failed: {type(error).__name__}: {error}") from None


_RESULT_ENCODER = json.JSONEncoder(default=str)  # one encoder: json.dumps(..., default=str) builds one per call


def _to_json(tool: Tool, output: Any) -> str:
    try:
        return _RESULT_ENCODER.encode(output)
    except (TypeError, ValueError) as error:
        raise ToolExecutionError(f"{tool.name} returned a result that is not JSON: {error}") from None


def _commit(scratch: State, state: dict[str, Any]) -> None:
    """Apply a successful call's changes to ``state``: the keys it removed and the values it read or set."""
    for key in [key for key in state if key not in scratch]:
        del state[key]
    for key, value in dict.items(scratch):
        if dict.get(state, key, _ABSENT) is not value:
            state[key] = value


_ABSENT = object()


def execute(
    calls: list[Call], tools: tuple[Tool, ...], state: dict[str, Any], sandbox: Sandbox | None = None
) -> list[ToolResult]:
    """Run ``calls`` in order on ``state`` (changed in place by successful calls only)."""
    sandbox = sandbox or InProcessSandbox()
    by_name = {tool.name: tool for tool in tools}
    results = []
    for call in calls:
        try:
            tool = by_name.get(call.name)
            if tool is None:
                raise UnknownToolError(f"unknown tool {call.name!r}; available: {', '.join(by_name)}")
            tool.validate(call.arguments)
            scratch = State(state)  # the call works on copies of what it reads: a failure leaves state as it was
            text = _to_json(tool, sandbox.run(tool, call.arguments, scratch))
            if len(text) > MAX_RESULT_CHARS:
                text = text[:MAX_RESULT_CHARS] + "...(truncated)"
            _commit(scratch, state)
            results.append(ToolResult(call, output=text))
        except FCGymError as error:
            results.append(ToolResult(call, error=str(error), error_type=type(error).__name__))
    return results


# ---------------------------------------------------------------------------------------------------------------
# SubprocessSandbox: a pool of long-lived, confined worker processes for untrusted tool code.
# ---------------------------------------------------------------------------------------------------------------

_HEADER = struct.Struct("!Q")
_MIB = 1 << 20


class SubprocessSandbox:
    """Runs untrusted tool code in a pool of long-lived worker processes, one call per worker at a time.

    ``run(tool, arguments, state)`` sends the tool *by reference* (``module:qualname`` of ``tool.fn``, which must be
    importable, e.g. a module-level function or ``@tool``), the arguments and the state to an idle worker; the
    worker imports the function, runs it and sends back the result and the changed state, which `execute` commits
    only when the call succeeded. No code is ever pickled: tool code is the user's, and model text only picks a
    tool by name from the episode's tool list. Replies from a worker are untrusted too: they are read with a
    size cap and a restricted unpickler that builds only plain values (None, bool, int, float, str, bytes, list,
    tuple, dict, set, frozenset, datetime, Decimal) and never imports or calls anything else.

    Failures are typed and never reach the caller as anything but a `ToolExecutionError`:

    ==========================================  ====================  ==================================
    what the tool did                           error                 worker
    ==========================================  ====================  ==================================
    raised an exception                         ToolExecutionError    kept
    ran past ``timeout`` (wall clock)           ToolTimeoutError      killed (SIGKILL, process group)
    used more than ``cpu_seconds`` of CPU       ToolTimeoutError      killed by the kernel (RLIMIT_CPU)
    allocated past ``memory_bytes``             ToolMemoryError       replaced
    crashed (segfault, abort, ``os._exit``)     ToolCrashedError      replaced
    returned a non-plain or too large value     ToolExecutionError    kept (too large: replaced)
    ==========================================  ====================  ==================================

    A replaced worker is restarted at once; other workers and their calls are not touched. Workers are forked
    from a multiprocessing fork server (fast, and safe in a threaded parent) and started when the pool is made.
    `close()` (or leaving the ``with`` block, or garbage collection) kills and reaps every worker and removes their
    temp dirs; nothing is left behind, zombies included. As in any multiprocessing program, a script that makes a
    pool must guard its entry point with ``if __name__ == "__main__":`` (workers import the main module).

    Isolation of each worker, strongest first (``self.isolation`` says which layers this kernel accepted):

    - Landlock (Linux >= 5.13, no root needed): the worker can create, write, truncate, rename or delete files
      only inside its private temp dir (its cwd, ``TMPDIR`` and ``HOME``; emptied after every call); it can
      execute no file, bind or connect no TCP socket (ABI >= 4), and (ABI >= 6) send no signal to and connect
      to no abstract Unix socket of a process outside its sandbox. Landlock also forbids ptrace of (and so
      ``/proc/<pid>/mem`` access to) processes outside the sandbox, the parent included.
    - seccomp-BPF (x86-64 and aarch64; no root needed thanks to ``PR_SET_NO_NEW_PRIVS``): ``socket()``,
      ``io_uring_setup``, ``fork``/``vfork``/``clone`` of a new process (threads are allowed), ``execve``/``execveat``,
      ``ptrace`` and ``process_vm_readv/writev`` fail with ``EPERM``; foreign syscall ABIs (i386, x32) kill the worker.
      So tool code can open no socket of any kind (no network, UDP and DNS included) and start no process.
    - All capabilities are dropped (bounding, ambient, effective, permitted, inheritable), so a worker of a
      root parent cannot mount, change owners, load modules, override file permissions or raise its rlimits.
    - rlimits: ``RLIMIT_AS`` = ``memory_bytes``, ``RLIMIT_CPU`` = ``cpu_seconds`` per call (soft; SIGKILL one second
      later), ``RLIMIT_FSIZE`` = ``max_file_bytes``, ``RLIMIT_NOFILE`` = 256, ``RLIMIT_CORE`` = 0.
    - Best effort, and the only layer where the kernel ones are missing: ``socket.socket``, ``os.fork``,
      ``os.system``, ``os.exec*``, ``os.posix_spawn*`` and ``subprocess`` are replaced in the worker by functions
      that raise ``PermissionError``. ctypes or a C extension bypass this layer, not the kernel ones.
    - Each worker runs in its own session / process group, which is killed as a whole when the worker is replaced.

    Not isolated: a worker runs as the same user as this process, so it can *read* every file that user can read
    (source, data, credentials in ``$HOME``) and see other processes in ``/proc``; ``RLIMIT_NPROC`` is per user
    and ignored for root (it is not used: fork is stopped by seccomp instead, and where seccomp is unavailable
    a forked child that leaves the process group escapes the cleanup); module globals and threads that tool
    code leaves behind live on in its worker across calls and episodes (tools should keep their data in
    ``state``); disk use inside the temp dir is bounded per file (``max_file_bytes``), not in total; and there is
    no namespace, cgroup or container. For hostile code, run the whole process as an unprivileged user in a
    container or VM as well.
    """

    def __init__(
        self,
        workers: int = 2,
        *,
        timeout: float = 10.0,
        cpu_seconds: int | None = None,
        memory_bytes: int = 1024 * _MIB,
        max_file_bytes: int = 64 * _MIB,
        max_message_bytes: int = 64 * _MIB,
        worker_cpu_budget: int = 3600,
        start_timeout: float = 60.0,
    ):
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.size, self.timeout = workers, float(timeout)
        self.cpu_seconds = max(1, math.ceil(timeout)) if cpu_seconds is None else int(cpu_seconds)
        self.max_message_bytes, self.start_timeout = max_message_bytes, start_timeout
        self._config = {"memory_bytes": int(memory_bytes), "max_file_bytes": int(max_file_bytes),
                        "cpu_budget": int(worker_cpu_budget)}
        self._ctx = multiprocessing.get_context("forkserver")
        self._ctx.set_forkserver_preload(["fcgym.sandbox"])
        self._lock = threading.Condition()
        self._idle: list[_Worker] = []
        self._live: set[_Worker] = set()
        self._free_slots = workers
        self._closed = False
        self._refs: dict[Any, str] = {}
        self.isolation: dict[str, str] = {}
        self._finalizer = weakref.finalize(self, _kill_all, self._live)
        try:
            for _ in range(workers):
                self._release(self._spawn(), broken=False, fresh=True)
        except BaseException:
            self.close()
            raise

    # -- the Sandbox protocol --------------------------------------------------------------------------------
    def run(self, tool: Tool, arguments: dict[str, Any], state: dict[str, Any]) -> Any:
        if tool.fn is None:
            raise ToolExecutionError(f"{tool.name} has no implementation")
        payload = pickle.dumps((self._reference(tool), tool.name, arguments, state, self.cpu_seconds), protocol=5)
        for attempt in range(2):
            worker = self._acquire()
            broken = True
            try:
                try:
                    worker.send(payload)
                except OSError:  # the worker died while idle (killed from outside): not this call's fault
                    if attempt == 0:
                        continue
                    raise ToolCrashedError(f"{tool.name}: the sandbox worker died before the call") from None
                reply = worker.receive(self.timeout, self.max_message_bytes, tool.name)
                broken = reply[0] != "ok" and reply[0] != "error"
                return self._unpack(tool, reply, state)
            finally:
                self._release(worker, broken=broken)
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Kill and reap every worker and remove their temp dirs. Calls in flight fail with a typed error."""
        with self._lock:
            self._closed = True
            workers, self._idle = list(self._live), []
            self._lock.notify_all()
        for worker in workers:
            worker.kill()
        with self._lock:
            self._live.difference_update(workers)

    def __enter__(self) -> SubprocessSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -------------------------------------------------------------------------------------------
    def _reference(self, tool: Tool) -> str:
        fn = tool.fn
        try:
            return self._refs[fn]
        except (KeyError, TypeError):
            pass
        module, qualname = getattr(fn, "__module__", None), getattr(fn, "__qualname__", None)
        if not module or not qualname or "<" in qualname:
            raise ToolExecutionError(f"{tool.name}: its implementation is not importable by name ({fn!r}); the "
                                     "subprocess sandbox runs only module-level functions")
        ref = f"{module}:{qualname}"
        try:
            found = _resolve(ref)
        except Exception as error:
            raise ToolExecutionError(f"{tool.name}: cannot import {ref}: {type(error).__name__}: {error}") from None
        if found is not fn:
            raise ToolExecutionError(f"{tool.name}: {ref} names another object than the tool's implementation")
        self._refs[fn] = ref
        return ref

    def _spawn(self) -> _Worker:
        worker = _Worker(self._ctx, self._config, self.start_timeout)
        with self._lock:
            self._live.add(worker)
        try:
            layers = worker.handshake(self.start_timeout)
        except BaseException:
            self._discard(worker)
            raise
        self.isolation = layers
        return worker

    def _discard(self, worker: _Worker) -> None:
        worker.kill()
        with self._lock:
            self._live.discard(worker)

    def _acquire(self) -> _Worker:
        with self._lock:
            while True:
                if self._closed:
                    raise ToolExecutionError("the sandbox is closed")
                if self._idle:
                    worker = self._idle.pop()
                    if worker.cpu_used + self.cpu_seconds + 2 < worker.cpu_budget:
                        return worker
                    self._free_slots += 1  # spent its lifetime CPU budget: replace it
                    self._live.discard(worker)
                    worker.kill()
                if self._free_slots:
                    self._free_slots -= 1
                    break
                self._lock.wait()
        try:
            return self._spawn()
        except BaseException as error:
            with self._lock:
                self._free_slots += 1
                self._lock.notify()
            if isinstance(error, FCGymError):
                raise
            raise ToolExecutionError(f"could not start a sandbox worker: {type(error).__name__}: {error}") from None

    def _release(self, worker: _Worker, broken: bool, fresh: bool = False) -> None:
        if broken:
            self._discard(worker)
            with self._lock:
                closed = self._closed
            if not closed:
                try:
                    worker = self._spawn()  # replace it now, so the next call does not wait for a start
                except Exception:
                    with self._lock:
                        self._free_slots += 1
                        self._lock.notify()
                    return
        with self._lock:
            if fresh:
                self._free_slots -= 1
            if self._closed:
                self._live.discard(worker)
                worker.kill()
            else:
                self._idle.append(worker)
            self._lock.notify()

    def _unpack(self, tool: Tool, reply: tuple, state: dict[str, Any]) -> Any:
        kind = reply[0]
        if kind == "ok":
            result, new_state = reply[1], reply[2]
            state.clear()
            state.update(new_state)
            return result
        if kind == "error":
            raise _ERROR_TYPES.get(reply[1], ToolExecutionError)(reply[2])
        raise reply[1]  # "fail": an exception made in this process


class _Worker:
    """One worker process seen from the parent: its process, its socket and its temp dir."""

    def __init__(self, ctx: Any, config: dict[str, int], start_timeout: float):
        import socket

        self.tmpdir = tempfile.mkdtemp(prefix="fcgym-sandbox-")
        self.cpu_used, self.cpu_budget = 0.0, config["cpu_budget"]
        self.process = None
        self.sock = None
        self._kill_lock = threading.Lock()
        parent_end, child_end = ctx.Pipe(duplex=True)
        try:
            self.process = ctx.Process(target=_worker_main, args=(child_end, self.tmpdir, config), daemon=True,
                                       name="fcgym-sandbox-worker")
            self.process.start()
            self.sock = socket.socket(fileno=os.dup(parent_end.fileno()))
        finally:
            child_end.close()
            parent_end.close()
            if self.sock is None:
                self.kill()

    def handshake(self, timeout: float) -> dict[str, str]:
        reply = self.receive(timeout, _MIB, "sandbox worker start")
        if reply[0] == "fail":
            raise reply[1]
        if reply[0] == "error":
            raise ToolExecutionError(reply[2])
        if reply[0] != "hello" or not isinstance(reply[1], dict):
            raise ToolCrashedError("the sandbox worker did not start")
        return reply[1]

    def send(self, payload: bytes) -> None:
        sock = self.sock
        if sock is None:
            raise OSError("worker is gone")
        sock.settimeout(None)
        sock.sendall(_HEADER.pack(len(payload)) + payload)

    def receive(self, timeout: float, limit: int, name: str) -> tuple:
        """The worker's reply as a tuple; ``("fail", error)`` when the worker must be replaced."""
        deadline = time.monotonic() + timeout
        try:
            (size,) = _HEADER.unpack(self._read(_HEADER.size, deadline))
            if size > limit:
                return ("fail", ToolExecutionError(f"{name} sent back more than {limit} bytes"))
            reply = _safe_loads(self._read(size, deadline))
        except TimeoutError:
            self.kill()
            return ("fail", ToolTimeoutError(f"{name} timed out after {timeout:g} s (wall clock); worker replaced"))
        except (EOFError, OSError):
            return ("fail", self._death(name))
        except pickle.UnpicklingError as error:
            return ("error", "ToolExecutionError",
                    f"{name} returned a value that cannot leave the sandbox (only plain JSON-like values, tuples, "
                    f"sets, bytes, datetime and Decimal can): {error}")
        except Exception as error:  # a malformed reply: the worker is not trusted
            return ("fail", ToolCrashedError(f"{name}: the sandbox worker sent a malformed reply: {error}"))
        if not isinstance(reply, tuple) or not reply or reply[0] not in _REPLY_SHAPES \
                or len(reply) != _REPLY_SHAPES[reply[0]]:
            return ("fail", ToolCrashedError(f"{name}: the sandbox worker sent a malformed reply"))
        kind = reply[0]
        if kind in ("ok", "error"):
            self.cpu_used = reply[-1] if isinstance(reply[-1], float) else self.cpu_budget
            if kind == "ok" and not isinstance(reply[2], dict):
                return ("fail", ToolCrashedError(f"{name}: the sandbox worker sent back a state that is not a dict"))
            if kind == "error" and not (isinstance(reply[1], str) and isinstance(reply[2], str)):
                return ("fail", ToolCrashedError(f"{name}: the sandbox worker sent a malformed reply"))
            return reply
        if kind == "oom":
            return ("fail", ToolMemoryError(f"{name} ran out of memory (MemoryError at the worker's address-space "
                                            "limit); worker replaced"))
        return reply  # hello

    def _read(self, n: int, deadline: float) -> bytearray:
        sock = self.sock
        if sock is None:
            raise EOFError
        buf = bytearray(n)
        view, got = memoryview(buf), 0
        while got < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            sock.settimeout(remaining)
            k = sock.recv_into(view[got:])
            if not k:
                raise EOFError
            got += k
        return buf

    def _death(self, name: str) -> ToolExecutionError:
        process = self.process
        if process is None:
            return ToolExecutionError(f"{name}: the sandbox was closed during the call")
        try:
            process.join(2)
            code = process.exitcode
        except (ValueError, AssertionError):
            code = None
        self.kill()
        if code is None:
            return ToolCrashedError(f"{name}: the sandbox worker closed its connection; worker replaced")
        if code == -signal.SIGXCPU or code == -signal.SIGKILL and self.cpu_used + 1 >= self.cpu_budget:
            return ToolTimeoutError(f"{name} exceeded its CPU-time limit (RLIMIT_CPU); worker replaced")
        if code < 0:
            try:
                what = signal.Signals(-code).name
            except ValueError:
                what = f"signal {-code}"
            return ToolCrashedError(f"{name} crashed its sandbox worker ({what}); worker replaced")
        return ToolCrashedError(f"{name} made its sandbox worker exit with status {code}; worker replaced")

    def kill(self) -> None:
        """SIGKILL the worker and its process group, reap it, close the socket, remove the temp dir."""
        with self._kill_lock:
            process, self.process = self.process, None
            sock, self.sock = self.sock, None
        if process is not None and process.pid is not None:
            for kill in (lambda: os.killpg(process.pid, signal.SIGKILL), process.kill):
                try:
                    kill()
                except (OSError, ValueError, AttributeError):
                    pass
            try:
                process.join(5)
                process.close()
            except (ValueError, AssertionError):
                pass
        if sock is not None:
            sock.close()
        shutil.rmtree(self.tmpdir, ignore_errors=True)


def _kill_all(live: set[_Worker]) -> None:
    for worker in list(live):
        worker.kill()


_REPLY_SHAPES = {"hello": 2, "ok": 4, "error": 4, "oom": 2}
_ERROR_TYPES = {cls.__name__: cls for cls in (ToolExecutionError, ToolTimeoutError, ToolCrashedError,
                                              ToolMemoryError)}
_SAFE_GLOBALS = {("datetime", "date"), ("datetime", "datetime"), ("datetime", "time"), ("datetime", "timedelta"),
                 ("datetime", "timezone"), ("decimal", "Decimal")}


class _PlainUnpickler(pickle.Unpickler):
    """Builds only plain values: no import, no call, except the few value types in `_SAFE_GLOBALS`."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _SAFE_GLOBALS:
            return getattr(importlib.import_module(module), name)
        raise pickle.UnpicklingError(f"{module}.{name} is not a plain value")

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("persistent ids are not allowed")


def _safe_loads(data: bytes | bytearray) -> Any:
    import io

    return _PlainUnpickler(io.BytesIO(data)).load()


def _resolve(ref: str) -> Any:
    """``module:qualname`` -> the function (a `Tool` found there stands for its ``fn``)."""
    module, _, qualname = ref.partition(":")
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj.fn if isinstance(obj, Tool) else obj


# ---- inside the worker ------------------------------------------------------------------------------------------


def _worker_main(conn: Any, tmpdir: str, config: dict[str, int]) -> None:
    import socket

    sock = socket.socket(fileno=os.dup(conn.fileno()))
    conn.close()
    try:
        os.setsid()
    except OSError:
        pass
    for name in ("SIGINT", "SIGTERM"):
        signal.signal(getattr(signal, name), signal.SIG_DFL if name == "SIGTERM" else signal.SIG_IGN)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too large file is an OSError (EFBIG), not a dead worker
    os.chdir(tmpdir)
    os.environ.update(TMPDIR=tmpdir, HOME=tmpdir)
    tempfile.tempdir = tmpdir
    try:
        layers = _confine(tmpdir, config)
        hello = ("hello", layers)
    except BaseException as error:  # noqa: BLE001 - report, the parent raises
        hello = ("error", "ToolExecutionError", f"sandbox worker setup failed: {type(error).__name__}: {error}", 0.0)
    _send(sock, pickle.dumps(hello, protocol=5))
    if hello[0] != "hello":
        os._exit(1)
    _serve(sock, tmpdir, config)


def _send(sock: Any, payload: bytes) -> None:
    sock.sendall(_HEADER.pack(len(payload)) + payload)


def _recv_exact(sock: Any, n: int) -> bytearray:
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        k = sock.recv_into(view[got:])
        if not k:
            raise EOFError
        got += k
    return buf


def _cpu_used() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _describe(error: BaseException) -> str:
    try:
        return f"{type(error).__name__}: {error}"[:2000]
    except BaseException:  # noqa: BLE001 - a hostile __str__
        return type(error).__name__


def _serve(sock: Any, tmpdir: str, config: dict[str, int]) -> None:
    functions: dict[str, Any] = {}
    hard = math.ceil(_cpu_used()) + config["cpu_budget"]
    last_soft = None
    while True:
        try:
            (size,) = _HEADER.unpack(_recv_exact(sock, _HEADER.size))
            message = pickle.loads(_recv_exact(sock, size))  # from the parent: trusted
        except (EOFError, OSError):
            os._exit(0)
        ref, name, arguments, state, cpu_seconds = message
        soft = min(math.ceil(_cpu_used()) + cpu_seconds, hard - 1)
        if soft != last_soft:
            resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
            last_soft = soft
        try:
            fn = functions.get(ref)
            if fn is None:
                fn = functions[ref] = _resolve(ref)
            reply: tuple = ("ok", fn(state, **arguments), state)
        except MemoryError:
            reply = ("oom", name)
        except FCGymError as error:
            kind = type(error).__name__ if type(error).__name__ in _ERROR_TYPES else "ToolExecutionError"
            reply = ("error", kind, str(error)[:2000])
        except BaseException as error:  # noqa: BLE001 - SystemExit and KeyboardInterrupt from tool code too
            reply = ("error", "ToolExecutionError", f"{name} failed: {_describe(error)}")
        oom = reply[0] == "oom"
        if not oom:
            reply += (_cpu_used(),)
        try:
            payload = pickle.dumps(reply, protocol=5)
        except MemoryError:
            oom, payload = True, pickle.dumps(("oom", name), protocol=5)
        except BaseException as error:  # noqa: BLE001
            payload = pickle.dumps(("error", "ToolExecutionError", f"{name} returned a value that cannot be sent "
                                    f"back: {_describe(error)}", _cpu_used()), protocol=5)
        del reply, state, arguments, message
        try:
            _send(sock, payload)
        except OSError:
            os._exit(0)
        if oom:  # the heap may be in a bad state: let the parent start a fresh worker
            os._exit(3)
        _empty(tmpdir)


def _empty(tmpdir: str) -> None:
    try:
        with os.scandir(tmpdir) as entries:
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        shutil.rmtree(entry.path, ignore_errors=True)
                    else:
                        os.unlink(entry.path)
                except OSError:
                    pass
    except OSError:
        pass


def _confine(tmpdir: str, config: dict[str, int]) -> dict[str, str]:
    """Apply every isolation layer this kernel offers, in the order that works without root."""
    layers: dict[str, str] = {}
    memory, fsize = config["memory_bytes"], config["max_file_bytes"]
    for limit, value in ((resource.RLIMIT_AS, memory), (resource.RLIMIT_FSIZE, fsize),
                         (resource.RLIMIT_NOFILE, 256), (resource.RLIMIT_CORE, 0)):
        resource.setrlimit(limit, (value, value))
    layers["rlimits"] = f"AS={memory // _MIB} MiB, FSIZE={fsize // _MIB} MiB, NOFILE=256, CORE=0, CPU per call"
    _block_python_level()
    layers["python"] = "socket.socket, os.fork/system/exec*/posix_spawn*, subprocess blocked (best effort)"
    libc = ctypes.CDLL(None, use_errno=True)
    layers["capabilities"] = _guard(_drop_capabilities, libc)
    if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        layers["no_new_privs"] = f"unavailable: {os.strerror(ctypes.get_errno())}"
    layers["landlock"] = _guard(_landlock, libc, tmpdir)
    layers["seccomp"] = _guard(_seccomp, libc)
    return layers


def _guard(fn: Any, *args: Any) -> str:
    try:
        return fn(*args)
    except Exception as error:  # noqa: BLE001 - a layer the kernel refuses is reported, not fatal
        return f"unavailable: {_describe(error)}"


def _block_python_level() -> None:
    import _posixsubprocess
    import socket

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise PermissionError("not allowed in the fcgym sandbox")

    class NoSocket(socket.socket):
        def __init__(self, *args: Any, **kwargs: Any):
            raise PermissionError("network access is not allowed in the fcgym sandbox")

    socket.socket = NoSocket  # type: ignore[misc]
    for name in ("fork", "forkpty", "system", "posix_spawn", "posix_spawnp", "execv", "execve", "execvp",
                 "execvpe", "execl", "execle", "execlp", "execlpe", "spawnv", "spawnve", "spawnvp", "spawnvpe",
                 "popen"):
        if hasattr(os, name):
            setattr(os, name, refuse)
    _posixsubprocess.fork_exec = refuse


def _check(result: int, what: str) -> int:
    if result < 0:
        raise OSError(ctypes.get_errno(), f"{what}: {os.strerror(ctypes.get_errno())}")
    return result


def _drop_capabilities(libc: Any) -> str:
    for cap in range(64):
        if libc.prctl(24, cap, 0, 0, 0) != 0 and ctypes.get_errno() == 22:  # PR_CAPBSET_DROP; EINVAL: past last
            break
    libc.prctl(47, 4, 0, 0, 0)  # PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL
    header = ctypes.create_string_buffer(struct.pack("=Ii", 0x20080522, 0))  # _LINUX_CAPABILITY_VERSION_3
    data = ctypes.create_string_buffer(24)
    _check(libc.capset(header, data), "capset")
    return "all dropped"


_LANDLOCK_FS_EXECUTE, _LANDLOCK_FS_WRITE_FILE = 1 << 0, 1 << 1
_LANDLOCK_FS_WRITES = sum(1 << bit for bit in (1, 4, 5, 6, 7, 8, 9, 10, 11, 12))  # write, remove, make *


def _landlock(libc: Any, tmpdir: str) -> str:
    syscall = libc.syscall
    syscall.restype = ctypes.c_long
    abi = _check(syscall(ctypes.c_long(444), None, ctypes.c_size_t(0), ctypes.c_uint32(1)), "landlock ABI")
    writes = _LANDLOCK_FS_WRITES | (1 << 13 if abi >= 2 else 0) | (1 << 14 if abi >= 3 else 0)  # REFER, TRUNCATE
    handled_fs = writes | _LANDLOCK_FS_EXECUTE
    handled_net = 0b11 if abi >= 4 else 0  # BIND_TCP, CONNECT_TCP, granted nowhere
    scoped = 0b11 if abi >= 6 else 0  # ABSTRACT_UNIX_SOCKET, SIGNAL
    size = 8 if abi < 4 else 16 if abi < 6 else 24
    attr = ctypes.create_string_buffer(struct.pack("=QQQ", handled_fs, handled_net, scoped)[:size], size)
    ruleset = _check(syscall(ctypes.c_long(444), attr, ctypes.c_size_t(size), ctypes.c_uint32(0)),
                     "landlock_create_ruleset")
    try:
        for path, allowed in ((tmpdir, writes), ("/dev/null", _LANDLOCK_FS_WRITE_FILE | (1 << 14 if abi >= 3 else 0))):
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            try:
                rule = ctypes.create_string_buffer(struct.pack("=Qi", allowed, fd), 12)
                _check(syscall(ctypes.c_long(445), ctypes.c_int(ruleset), ctypes.c_int(1), rule, ctypes.c_uint32(0)),
                       f"landlock_add_rule {path}")
            finally:
                os.close(fd)
        _check(syscall(ctypes.c_long(446), ctypes.c_int(ruleset), ctypes.c_uint32(0)), "landlock_restrict_self")
    finally:
        os.close(ruleset)
    parts = ["writes only in its temp dir", "no exec"]
    if handled_net:
        parts.append("no TCP bind/connect")
    if scoped:
        parts.append("no signals or abstract sockets outside")
    return f"ABI {abi}: " + ", ".join(parts)


# syscall numbers: (audit arch, {name: number}); fork/vfork do not exist on aarch64.
_SECCOMP_ARCHES = {
    "x86_64": (0xC000003E, {"socket": 41, "clone": 56, "fork": 57, "vfork": 58, "execve": 59, "ptrace": 101,
                            "process_vm_readv": 310, "process_vm_writev": 311, "execveat": 322,
                            "io_uring_setup": 425, "clone3": 435}),
    "aarch64": (0xC00000B7, {"socket": 198, "clone": 220, "execve": 221, "ptrace": 117, "process_vm_readv": 270,
                             "process_vm_writev": 271, "execveat": 281, "io_uring_setup": 425, "clone3": 435}),
}


def _seccomp(libc: Any) -> str:
    machine = os.uname().machine
    if machine not in _SECCOMP_ARCHES:
        raise OSError(f"no syscall table for {machine}")
    arch, numbers = _SECCOMP_ARCHES[machine]
    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    allow, kill, eperm, enosys = 0x7FFF0000, 0x80000000, 0x00050000 | 1, 0x00050000 | 38
    # (op, k, true label, false label); labels are resolved to relative jumps below
    program: list[tuple] = [(ld, 4), (jeq, arch, "nr", "kill"), ("nr",), (ld, 0)]
    if machine == "x86_64":
        program.append((jge, 0x40000000, "eperm", None))  # x32 ABI
    program += [(jeq, numbers["clone3"], "enosys", None), (jeq, numbers["clone"], "clone", None)]
    program += [(jeq, nr, "eperm", None) for name, nr in numbers.items() if name not in ("clone", "clone3")]
    program += [(ret, allow), ("clone",), (ld, 16), (jset, 0x00010000, "allow", "eperm"),  # CLONE_THREAD
                ("allow",), (ret, allow), ("eperm",), (ret, eperm), ("enosys",), (ret, enosys), ("kill",), (ret, kill)]
    labels, index = {}, 0
    for op in program:
        if len(op) == 1:
            labels[op[0]] = index
        else:
            index += 1
    code, index = b"", 0
    for op in program:
        if len(op) == 1:
            continue
        index += 1
        if len(op) == 2:
            code += struct.pack("=HBBI", op[0], 0, 0, op[1])
        else:
            jt = labels[op[2]] - index if op[2] else 0
            jf = labels[op[3]] - index if op[3] else 0
            code += struct.pack("=HBBI", op[0], jt, jf, op[1])
    filters = ctypes.create_string_buffer(code, len(code))
    fprog = struct.pack("@HP", len(code) // 8, ctypes.addressof(filters))
    fprog_buf = ctypes.create_string_buffer(fprog, len(fprog))
    _check(libc.prctl(22, 2, fprog_buf, 0, 0), "PR_SET_SECCOMP")  # SECCOMP_MODE_FILTER
    return "socket, fork/clone (threads allowed), exec, ptrace, process_vm_*, io_uring: EPERM"
