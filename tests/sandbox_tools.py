"""Tool implementations for the subprocess-sandbox tests and benchmark: importable by qualified name."""

from __future__ import annotations

import ctypes
import os
import time

from fcgym import tool


@tool("Add to a counter.", key={"type": "string"}, amount={"type": "integer"})
def add(state, key, amount):
    state.setdefault("counters", {})[key] = state.get("counters", {}).get(key, 0) + amount
    return {"key": key, "value": state["counters"][key]}


def noop(state):
    return 1


def echo(state, **arguments):
    return arguments


def sleep(state, seconds=60.0):
    state["slept"] = True
    time.sleep(seconds)


def spin(state):
    state["spun"] = True
    while True:
        pass


def exit_hard(state, status=7):
    state["exited"] = True
    os._exit(status)


def segfault(state):
    ctypes.string_at(0)


def allocate(state):
    blocks = []
    while True:
        blocks.append(bytes(64 << 20))  # calloc: address space grows without touching pages (fast)


def fail(state, message="disk full"):
    state["touched"] = True
    raise RuntimeError(message)


def pid(state):
    return os.getpid()


def unpicklable(state):
    return lambda: None


def custom_object(state):
    import fractions
    return fractions.Fraction(1, 3)  # picklable, but not a plain value: the parent refuses to build it


def plain_values(state):
    import datetime
    import decimal
    state["when"] = datetime.date(2024, 1, 2)
    return {"tuple": (1, 2), "set": {3}, "bytes": b"x", "price": decimal.Decimal("1.50"), "none": None}


def network(state):
    import socket
    outcome = {}
    try:
        socket.create_connection(("127.0.0.1", 9), timeout=1).close()
        outcome["socket.socket"] = "allowed"
    except OSError as error:
        outcome["socket.socket"] = type(error).__name__
    import _socket
    try:
        _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM).close()
        outcome["_socket"] = "allowed"
    except OSError as error:
        outcome["_socket"] = type(error).__name__
    return outcome


def fork(state):
    outcome = {}
    try:
        child = os.fork()
        if child == 0:
            os._exit(0)
        outcome["os.fork"] = "allowed"
    except OSError as error:
        outcome["os.fork"] = type(error).__name__
    libc = ctypes.CDLL(None, use_errno=True)
    child = libc.fork()
    if child == 0:
        libc._exit(0)
    outcome["libc.fork"] = "allowed" if child > 0 else os.strerror(ctypes.get_errno())
    import subprocess
    try:
        subprocess.run(["true"], check=False)
        outcome["subprocess"] = "allowed"
    except OSError as error:
        outcome["subprocess"] = type(error).__name__
    return outcome


def write_files(state, outside):
    outcome = {}
    with open("inside.txt", "w") as handle:
        handle.write("ok")
    outcome["inside"] = open("inside.txt").read()
    outcome["cwd"] = os.getcwd()
    try:
        with open(outside, "w") as handle:
            handle.write("escaped")
        outcome["outside"] = "allowed"
    except OSError as error:
        outcome["outside"] = type(error).__name__
    return outcome


def list_cwd(state):
    return sorted(os.listdir("."))


def kill_parent(state):
    try:
        os.kill(os.getppid(), 0)
        return "allowed"
    except OSError as error:
        return type(error).__name__
