"""``python -m envs.domains``: a Markdown table of the built-in domains, their tools and the task kinds."""

from __future__ import annotations

from envs.domains import DOMAINS, TASK_KINDS


def table() -> str:
    kinds = ", ".join(TASK_KINDS)
    rows = ["| domain | tools | tool names | task kinds |", "|---|---|---|---|"]
    for name, module in DOMAINS.items():
        rows.append(f"| {name} | {len(module.TOOLS)} | {', '.join(t.name for t in module.TOOLS)} | {kinds} |")
    total = sum(len(m.TOOLS) for m in DOMAINS.values())
    rows.append(f"| **total** | **{total}** | | |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(table())
