"""Files: a small in-memory file tree to read, write, copy, move, delete, list and search.

The world is a tree of folders (``/`` and the split's folders) holding every file of the split's pool, each with
random text. Paths are absolute (``/docs/report.txt``). Reading, moving or deleting a missing file, writing into
a missing folder and overwriting by a move or copy are refused.
"""

from __future__ import annotations

import posixpath
import random
from typing import Any

from envs.domains.multi_step import MultiStep
from fcgym import Call, tool

NAME = "files"
WRITE_MODES = ["overwrite", "append"]
SORT_KEYS = ["name", "size"]
EXTENSIONS = ["txt", "md", "csv", "py", "json"]
PATH = {"type": "string", "pattern": r"^/[A-Za-z0-9_./-]*$", "description": "Absolute path, e.g. /docs/report.txt."}
_DIRS = {"train": ["/docs", "/notes", "/projects", "/music"], "test": ["/archive", "/drafts", "/invoices"]}
_FILES = {
    "train": ["/docs/report.txt", "/docs/budget.csv", "/docs/summary.md", "/notes/todo.md", "/notes/ideas.txt",
              "/projects/main.py", "/projects/config.json", "/projects/readme.md", "/music/playlist.txt"],
    "test": ["/archive/old_taxes.csv", "/drafts/letter.txt", "/drafts/poem.md", "/invoices/march.csv",
             "/invoices/client.json"],
}
_NEW_FILES = {"train": ["plan.txt", "data.csv", "script.py", "log.txt", "draft_v2.md", "settings.json", "agenda.md"],
              "test": ["memo.txt", "sketch.md", "results.csv", "notes_final.txt"]}
_NEW_DIRS = {"train": ["backup", "photos", "temp", "reports", "old"], "test": ["scans", "exports", "shared"]}
_WORDS = {
    "train": ["buy milk", "call the plumber", "meeting notes for monday", "hello world", "version 2 released",
              "renew the lease", "fix the login bug", "pick up the kids"],
    "test": ["pack the tent", "renew passport", "water the plants", "book the venue"],
}
_QUERIES = {"train": ["budget", "meeting", "todo", "config", "report", "ideas"],
            "test": ["taxes", "letter", "invoice", "poem"]}


def _parent(path: str) -> str:
    return posixpath.dirname(path.rstrip("/")) or "/"


def _require_dir(state: dict[str, Any], path: str) -> None:
    if path not in state["dirs"]:
        raise ValueError(f"no folder {path}")


def _require_file(state: dict[str, Any], path: str) -> None:
    if path not in state["files"]:
        raise ValueError(f"no file {path}")


def _require_free(state: dict[str, Any], path: str) -> None:
    if path in state["files"] or path in state["dirs"]:
        raise ValueError(f"{path} already exists")
    _require_dir(state, _parent(path))


@tool("Read a text file.", path=PATH)
def read_file(state, path):
    _require_file(state, path)
    return {"path": path, "content": state["files"][path]}


@tool("Write text to a file, creating it if needed; mode says whether to replace or extend its text.",
      path=PATH,
      content={"type": "string", "description": "The text to write."},
      mode={"type": "string", "enum": WRITE_MODES, "default": "overwrite"})
def write_file(state, path, content, mode="overwrite"):
    if path in state["dirs"]:
        raise ValueError(f"{path} is a folder")
    _require_dir(state, _parent(path))
    if mode == "append" and path in state["files"]:
        state["files"][path] += "\n" + content
    else:
        state["files"][path] = content
    return {"status": "written", "path": path, "size": len(state["files"][path])}


@tool("Move (or rename) a file; the destination must not exist yet.", source=PATH, destination=PATH)
def move_file(state, source, destination):
    _require_file(state, source)
    _require_free(state, destination)
    state["files"][destination] = state["files"].pop(source)
    return {"status": "moved", "source": source, "destination": destination}


@tool("Copy a file; the destination must not exist yet.", source=PATH, destination=PATH)
def copy_file(state, source, destination):
    _require_file(state, source)
    _require_free(state, destination)
    state["files"][destination] = state["files"][source]
    return {"status": "copied", "source": source, "destination": destination}


@tool("Delete a file.", path=PATH)
def delete_file(state, path):
    _require_file(state, path)
    del state["files"][path]
    return {"status": "deleted", "path": path}


@tool("Search files whose name or text contains a word.",
      query={"type": "string", "minLength": 1, "description": "Word to look for (case-insensitive)."},
      folder={"type": "string", "default": "", "description": "Only search below this folder; empty: everywhere."},
      extensions={"type": "array", "items": {"type": "string", "enum": EXTENSIONS}, "uniqueItems": True,
                  "default": [], "description": "Only files with these extensions; empty: any."})
def search_files(state, query, folder="", extensions=()):
    if folder:
        _require_dir(state, folder.rstrip("/") or "/")
    prefix = folder.rstrip("/") + "/"
    word = query.lower()
    return sorted(path for path, text in state["files"].items()
                  if path.startswith(prefix) and (not extensions or path.rsplit(".", 1)[-1] in extensions)
                  and (word in posixpath.basename(path).lower() or word in text.lower()))


@tool("List a folder's files and subfolders.",
      path=PATH,
      sort_by={"type": "string", "enum": SORT_KEYS, "default": "name"})
def list_directory(state, path, sort_by="name"):
    path = path.rstrip("/") or "/"
    _require_dir(state, path)
    entries = [{"name": posixpath.basename(p), "type": "file", "size": len(t)}
               for p, t in state["files"].items() if _parent(p) == path]
    entries += [{"name": posixpath.basename(d), "type": "folder", "size": 0}
                for d in state["dirs"] if d != "/" and _parent(d) == path]
    return sorted(entries, key=lambda e: (e[sort_by], e["name"]))


@tool("Create a folder; its parent must exist.", path=PATH)
def create_directory(state, path):
    path = path.rstrip("/")
    _require_free(state, path)
    state["dirs"] = sorted(state["dirs"] + [path])
    return {"status": "created", "path": path}


TOOLS = (read_file, write_file, move_file, copy_file, delete_file, search_files, list_directory, create_directory)

TEMPLATES: dict[str, list[str]] = {
    "read_file": [
        "Show me what's in {path}.",
        "Open {path} and read it to me.",
        "What does the file {path} say?",
    ],
    "write_file": [
        "Write \"{content}\" to {path} in {mode} mode.",
        "Save the text \"{content}\" into {path} ({mode}).",
        "Write \"{content}\" into {path}, mode: {mode}.",
    ],
    "move_file": [
        "Move {source} to {destination}.",
        "Rename {source} to {destination}.",
        "Please relocate {source} so it becomes {destination}.",
    ],
    "copy_file": [
        "Copy {source} to {destination}.",
        "Make a copy of {source} at {destination}.",
        "Duplicate {source} as {destination}.",
    ],
    "delete_file": [
        "Delete {path}.",
        "Remove the file {path}.",
        "Get rid of {path}, I don't need it.",
    ],
    "search_files": [
        "Find files mentioning '{query}'.",
        "Search my files for \"{query}\".",
        "Find files mentioning '{query}' in {folder}.",
        "Search {folder} for \"{query}\".",
        "Find {extensions} files mentioning '{query}'.",
        "Search my {extensions} files for \"{query}\".",
        "Look in {folder} for {extensions} files containing '{query}'.",
    ],
    "list_directory": [
        "List the contents of {path}, sorted by {sort_by}.",
        "What's in the folder {path}? Sort by {sort_by}.",
        "Show {path} ordered by {sort_by}.",
    ],
    "create_directory": [
        "Create a folder {path}.",
        "Make a new directory at {path}.",
        "I need a folder called {path}.",
    ],
}

IRRELEVANT_QUERIES = [
    "What's the capital of Canada?",
    "Tell me a fun fact about octopuses.",
    "How many calories are in a banana?",
    "Recommend a board game for four players.",
    "What year did the Berlin Wall fall?",
    "How do I say thank you in Japanese?",
]


def initial_state(rng: random.Random, split: str = "train") -> dict[str, Any]:
    files = {path: " ".join(rng.sample(_WORDS[split], rng.randint(1, 3))) for path in _FILES[split]}
    return {"files": files, "dirs": sorted(["/"] + _DIRS[split])}


def _new_path(rng: random.Random, split: str) -> str:
    return f"{rng.choice(_DIRS[split])}/{rng.choice(_NEW_FILES[split])}"


def sample_arguments(tool_name: str, rng: random.Random, split: str) -> dict[str, Any]:
    """Random arguments for ``tool_name``; string values come from the ``split``'s own pool."""
    if tool_name in ("read_file", "delete_file"):
        return {"path": rng.choice(_FILES[split])}
    if tool_name == "write_file":
        path = rng.choice(_FILES[split]) if rng.random() < 0.5 else _new_path(rng, split)
        return {"path": path, "content": rng.choice(_WORDS[split]), "mode": rng.choice(WRITE_MODES)}
    if tool_name in ("move_file", "copy_file"):
        return {"source": rng.choice(_FILES[split]), "destination": _new_path(rng, split)}
    if tool_name == "search_files":
        arguments: dict[str, Any] = {"query": rng.choice(_QUERIES[split])}
        if rng.random() < 0.4:
            arguments["folder"] = rng.choice(_DIRS[split])
        if rng.random() < 0.4:
            arguments["extensions"] = rng.sample(EXTENSIONS, rng.randint(1, 2))
        return arguments
    if tool_name == "list_directory":
        return {"path": rng.choice(_DIRS[split] + ["/"]), "sort_by": rng.choice(SORT_KEYS)}
    if tool_name == "create_directory":
        parent = rng.choice(_DIRS[split] + [""])
        return {"path": f"{parent}/{rng.choice(_NEW_DIRS[split])}"}
    raise KeyError(tool_name)


def _read_the_match(rng: random.Random, state: dict[str, Any], split: str) -> MultiStep:
    word = rng.choice(state["files"][rng.choice(sorted(state["files"]))].split())
    query = rng.choice([f"Find the file that mentions '{word}' and show me what is in it.",
                        f"Search my files for \"{word}\" and read me the one it finds."])

    def only_hit(paths: list[str]) -> Call:
        if len(paths) != 1:
            raise LookupError(f"{len(paths)} files mention {word!r}")
        return Call("read_file", {"path": paths[0]})

    return MultiStep(query, Call("search_files", {"query": word}), only_hit, derived=("path",))


def _read_the_largest(rng: random.Random, state: dict[str, Any], split: str) -> MultiStep:
    folder = rng.choice(_DIRS[split])
    query = rng.choice([f"List {folder} by size and open its largest file.",
                        f"Sort {folder} by size and read me the biggest file in it."])

    def largest(entries: list[dict[str, Any]]) -> Call:
        sizes = sorted((e["size"], e["name"]) for e in entries if e["type"] == "file")
        if not sizes or (len(sizes) > 1 and sizes[-1][0] == sizes[-2][0]):
            raise LookupError(f"no single largest file in {folder}")
        return Call("read_file", {"path": f"{folder}/{sizes[-1][1]}"})

    return MultiStep(query, Call("list_directory", {"path": folder, "sort_by": "size"}), largest, derived=("path",))


#: Requests whose second call needs the first call's result (see `envs.domains.multi_step`).
MULTI_STEP = [_read_the_match, _read_the_largest]
