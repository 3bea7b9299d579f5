"""ToolDuel's speed with scripted agents, and its overhead over doing the same work without it.

All sides get the same pre-drawn tasks and pre-computed FC replies (so agent time is excluded) and run side by
side in this process:

* parse + check: ``check(parse_calls(reply), task)`` per episode;
* the checks by hand: fresh state, validity gate, parse, sandbox execution, check;
* the episode by hand: the same, plus the observation texts the two agents read (the query model's prompt, the
  FC model's chat, the tools, as the JSON text the env sends), built with the env module's own functions;
* env: ``reset`` + the query step (validity gate) + the FC step (parse, schema validation, sandbox, check).

The env's overhead is its time over the episode by hand: what the env costs beyond the work it must do.
Prints checked episodes per second for each, the env's steps per second (two per episode: the query, which the
validity gate checks, and the FC reply, whose calls are checked), and the overheads.
Goal: >= 20,000 checked steps/s with overhead under 20 %.
Run: ``python benchmarks/bench_env.py [--episodes N] [--chunk C] [--repeats R]``
"""

from __future__ import annotations

import argparse
import random
import time

from agents.scripted import KeywordFC
from envs.domains import DomainTasks
from envs.tool_duel import FC, QUERY, fc_messages, messages_json, parallel_env, query_messages, query_prompt, tools_json
from fcgym import check, execute, parse_calls
from fcgym.validity import check_query


class ReplayTasks:
    """A task source that hands out pre-drawn tasks in order."""

    def __init__(self, tasks):
        self.tasks, self.index = tasks, 0

    def sample(self, rng):
        task = self.tasks[self.index % len(self.tasks)]
        self.index += 1
        return task


def best_rates(fns: dict, chunks: list[list], repeats: int) -> dict:
    """Episodes per second of each function over all ``chunks`` (lists of ``(task, reply)``): the sum of its best
    time on each chunk, over ``repeats`` rounds that run the functions in turn. Load on a busy machine then hits
    them alike, and short chunks let each find a quiet moment: one best time over whole long runs varied by tens of
    percent between runs here, the sum of short chunks' best times by a few."""
    seconds = dict.fromkeys(fns, 0.0)
    for chunk in chunks:
        best = dict.fromkeys(fns, float("inf"))
        for _ in range(repeats):
            for name, fn in fns.items():
                started = time.perf_counter()
                fn(chunk)
                best[name] = min(best[name], time.perf_counter() - started)
        for name in fns:
            seconds[name] += best[name]
    episodes = sum(map(len, chunks))
    return {name: episodes / total for name, total in seconds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--episodes", type=int, default=2000)
    parser.add_argument("--chunk", type=int, default=100, help="episodes timed at a time")
    parser.add_argument("--repeats", type=int, default=10, help="rounds per chunk (each function's best counts)")
    args = parser.parse_args()
    rng = random.Random(0)
    source = DomainTasks()
    tasks = [source.sample(rng) for _ in range(args.episodes)]
    fc = KeywordFC()
    replies = [fc.act([{"role": "user", "content": t.query}], [tool.schema() for tool in t.tools]) for t in tasks]
    pairs = list(zip(tasks, replies))
    chunks = [pairs[start:start + args.chunk] for start in range(0, len(pairs), args.chunk)]

    def baseline(chunk):
        for task, reply in chunk:
            check(parse_calls(reply), task)

    def checks(chunk):
        for task, reply in chunk:
            state = task.fresh_state()
            check_query(task.query, task)
            calls = parse_calls(reply)
            execute(calls, task.tools, state)
            check(calls, task)

    query_system, fc_system = messages_json(query_messages(tasks[0])[:1]), messages_json(fc_messages("")[:1])

    def episode(chunk):  # the observation texts, as fast as the env's encoders allow (system prompts encoded once)
        for task, reply in chunk:
            state = task.fresh_state()
            tools = tools_json(task.tools)
            query_text = messages_json([{"role": "user", "content": query_prompt(task)}])
            query_observation = {"messages": query_system[:-1] + ", " + query_text[1:], "tools": tools}
            check_query(task.query, task)
            fc_text = messages_json([{"role": "user", "content": task.query}])
            fc_observation = {"messages": fc_system[:-1] + ", " + fc_text[1:], "tools": tools}
            calls = parse_calls(reply)
            execute(calls, task.tools, state)
            check(calls, task)
            del query_observation, fc_observation

    env = parallel_env()

    def through_env(chunk):
        env.tasks = ReplayTasks([task for task, _ in chunk])  # the env draws this chunk's tasks
        for task, reply in chunk:
            env.reset()
            env.step({QUERY: task.query, FC: ""})
            env.step({QUERY: "", FC: reply})

    rates = best_rates({"direct": baseline, "checks": checks, "episode": episode, "wrapped": through_env},
                       chunks, args.repeats)
    direct, by_hand, wrapped = rates["direct"], rates["episode"], rates["wrapped"]
    print(f"episodes: {args.episodes} (pre-drawn tasks, pre-computed keyword-FC replies), each chunk of "
          f"{args.chunk} timed {args.repeats} times (the best counts)")
    print(f"parse + check only:                   {direct:10,.0f} checked episodes/s")
    print(f"checks by hand (gate, exec, check):   {rates['checks']:10,.0f} checked episodes/s")
    print(f"episode by hand (checks + obs. text): {by_hand:10,.0f} checked episodes/s")
    print(f"ToolDuel reset + 2 steps:             {wrapped:10,.0f} checked episodes/s")
    print(f"ToolDuel env steps (query + FC):      {2 * wrapped:10,.0f} steps/s (each checked: gate, then calls)")
    print(f"env overhead over the episode by hand:{100 * (by_hand / wrapped - 1):10.1f} %")
    print(f"env time / checks-by-hand time:       {rates['checks'] / wrapped:10.2f}x")
    print(f"env time / parse + check time:        {direct / wrapped:10.2f}x")


if __name__ == "__main__":
    main()
