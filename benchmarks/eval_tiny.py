"""Score the shipped tiny models on held-out tasks (test split: recipient names and notes unseen in training).

    python benchmarks/eval_tiny.py --n 300

* FC model: exact match (`fcgym.check` verdict valid) with greedy decoding on seed queries, overall and by
  task kind, and on `ScriptedAdversary` rewrites; the keyword baseline (`KeywordFC`) runs side by side; and
  how well it copies values (`copy_profile`: teacher-forced accuracy by character position within a value).
* Query model: validity rate (`fcgym.validity.check_query`) of its greedy rewrites, how often it just copies
  the seed query, the validity of rewrites sampled at ``--query-temperatures`` (self-play samples the query
  model), and the FC model's exact match on its valid greedy rewrites.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agents.base import act_batch  # noqa: E402
from agents.factory import TINY_MAX_NEW_TOKENS  # noqa: E402
from agents.hf import HFAgent  # noqa: E402
from agents.scripted import KeywordFC, ScriptedAdversary  # noqa: E402
from agents.train_tiny import encode, fc_target  # noqa: E402
from envs.domains import DomainTasks  # noqa: E402
from envs.tool_duel import fc_messages, query_messages  # noqa: E402
from fcgym import ParseError, Task, check, parse_calls  # noqa: E402
from fcgym.checker import Verdict  # noqa: E402
from fcgym.validity import check_query  # noqa: E402

TINY = Path(__file__).resolve().parents[1] / "agents" / "tiny"


def fc_prompt(task: Task, query: str) -> tuple[list[dict], list[dict]]:
    return fc_messages(query), [t.schema() for t in task.tools]


def verdict(text: str, task: Task) -> Verdict:
    try:
        return check(parse_calls(text), task)
    except ParseError as error:
        return Verdict.failed("parse_error", str(error))


def answer(agent, prompts: list, batch_size: int) -> list[str]:
    replies = []
    for start in range(0, len(prompts), batch_size):
        replies += act_batch(agent, prompts[start:start + batch_size])
    return replies


def rates(groups: dict[str, list[bool]]) -> dict[str, tuple[float, int]]:
    return {k: (sum(v) / len(v), len(v)) for k, v in sorted(groups.items())}


def score_fc(agent, tasks: list[Task], queries: list[str], batch_size: int) -> tuple[float, dict, dict, Counter]:
    """Exact match overall, by task kind and by domain, and the error types of the misses."""
    replies = answer(agent, [fc_prompt(t, q) for t, q in zip(tasks, queries)], batch_size)
    by_kind, by_domain, errors = defaultdict(list), defaultdict(list), Counter()
    for task, reply in zip(tasks, replies):
        result = verdict(reply, task)
        by_kind[task.kind].append(result.valid)
        by_domain[task.domain].append(result.valid)
        if not result.valid:
            errors[result.error_type] += 1
    total = [v for values in by_kind.values() for v in values]
    return sum(total) / len(total), rates(by_kind), rates(by_domain), errors


@torch.no_grad()
def copy_profile(fc: HFAgent, tasks: list[Task], positions: int = 4) -> list[float]:
    """Teacher-forced, over the quoted string values of the target replies: how often the FC model predicts the
    1st, 2nd, ... character of a value right (the last entry pools every later character). The tiny models'
    tokenizer is character level, so one token is one character."""
    right, seen = [0] * (positions + 1), [0] * (positions + 1)
    quote = fc.tokenizer.convert_tokens_to_ids('"')
    for task in tasks:
        ids, labels = encode(fc.tokenizer, *fc_prompt(task, task.query), fc_target(task))
        predicted = fc.model(torch.tensor([ids])).logits[0].argmax(-1).tolist()
        inside, position = False, 0
        for index in range(labels.count(-100), len(ids)):  # the reply's tokens: only the prompt is masked
            if ids[index] == quote:
                inside, position = not inside, 0
            elif inside:
                slot = min(position, positions)
                seen[slot] += 1
                right[slot] += predicted[index - 1] == ids[index]
                position += 1
    return [r / max(1, n) for r, n in zip(right, seen)]


def pct(x: float) -> str:
    return f"{100 * x:5.1f}%"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fc", default=str(TINY / "fc"), help="FC model directory")
    parser.add_argument("--query", default=str(TINY / "query"), help="query model directory")
    parser.add_argument("--n", type=int, default=300, help="held-out tasks per measurement")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split", default="test", choices=["train", "test"])
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--show", type=int, default=3, help="print this many example replies per model")
    parser.add_argument("--query-temperatures", type=float, nargs="*", default=[0.7, 1.0],
                        help="also measure the query model's validity when it samples at these temperatures")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    rng = random.Random(args.seed)
    source = DomainTasks(split=args.split)
    tasks = [source.sample(rng) for _ in range(args.n)]
    adversary = ScriptedAdversary(seed=args.seed)
    rewrites = [adversary.rewrite(task)[0] for task in tasks]
    print(f"{args.n} tasks from DomainTasks(split={args.split!r}), seed {args.seed}; kinds "
          f"{dict(sorted(Counter(t.kind for t in tasks).items()))}")

    fc = HFAgent.from_pretrained(args.fc, temperature=0.0, max_new_tokens=TINY_MAX_NEW_TOKENS, seed=args.seed)
    print(f"\nFC model {args.fc} ({fc.model.num_parameters():,} parameters), greedy")
    print(f"{'':28}{'tiny FC':>10}{'KeywordFC':>11}")
    for label, queries in (("seed queries", [t.query for t in tasks]), ("scripted rewrites", rewrites)):
        start = time.time()
        em, by_kind, by_domain, errors = score_fc(fc, tasks, queries, args.batch_size)
        seconds = time.time() - start
        base_em, base_kind, base_domain, _ = score_fc(KeywordFC(), tasks, queries, args.batch_size)
        print(f"exact match, {label:15}{pct(em):>10}{pct(base_em):>11}   ({seconds:.0f} s)")
        for kind, (value, count) in by_kind.items():
            print(f"  {kind:12} (n={count:3}){'':8}{pct(value):>10}{pct(base_kind[kind][0]):>11}")
        for domain, (value, count) in by_domain.items():
            print(f"  {domain:14}(n={count:3}){'':8}{pct(value):>10}{pct(base_domain[domain][0]):>11}")
        print(f"  errors: {dict(errors.most_common())}")
    profile = copy_profile(fc, [t for t in tasks if t.answers])
    print("value characters predicted right, teacher-forced, by position: "
          + ", ".join(f"{i + 1}{'th' if i > 2 else ('st', 'nd', 'rd')[i]} {pct(p).strip()}"
                      for i, p in enumerate(profile[:-1])) + f", later {pct(profile[-1]).strip()}")
    if args.show:
        shown = fc.act_batch([fc_prompt(t, t.query) for t in tasks[:args.show]])
        for task, reply in zip(tasks, shown):
            print(f"  {task.query!r}\n    -> {reply!r}")

    query = HFAgent.from_pretrained(args.query, temperature=0.0, max_new_tokens=TINY_MAX_NEW_TOKENS,
                                    seed=args.seed)
    print(f"\nQuery model {args.query} ({query.model.num_parameters():,} parameters), greedy")
    tools = [[t.schema() for t in task.tools] for task in tasks]
    prompts = [(query_messages(t), tool_list) for t, tool_list in zip(tasks, tools)]
    start = time.time()
    written = answer(query, prompts, args.batch_size)
    seconds = time.time() - start
    valid = [check_query(q, t).valid for q, t in zip(written, tasks)]
    copies = sum(q.strip() == t.query.strip() for q, t in zip(written, tasks))
    print(f"validity rate                {pct(sum(valid) / len(valid))}   ({seconds:.0f} s)")
    by_kind = defaultdict(list)
    for task, ok in zip(tasks, valid):
        by_kind[task.kind].append(ok)
    for kind, values in sorted(by_kind.items()):
        print(f"  {kind:12} (n={len(values):3}) {pct(sum(values) / len(values))}")
    print(f"copies the seed query        {pct(copies / len(tasks))}")
    for temperature in args.query_temperatures:
        sampler = HFAgent(query.model, query.tokenizer, temperature=temperature, max_new_tokens=TINY_MAX_NEW_TOKENS,
                          seed=args.seed)
        sampled = answer(sampler, prompts, args.batch_size)
        rate = sum(check_query(q, t).valid for q, t in zip(sampled, tasks)) / len(tasks)
        print(f"validity rate, sampled at temperature {temperature:g}  {pct(rate)}")
    kept = [(t, q) for t, q, ok in zip(tasks, written, valid) if ok]
    if kept:
        em, _, _, _ = score_fc(fc, [t for t, _ in kept], [q for _, q in kept], args.batch_size)
        print(f"tiny FC exact match on its valid rewrites {pct(em)} (n={len(kept)})")
    for task, reply in list(zip(tasks, written))[:args.show]:
        print(f"  {task.query!r}\n    -> {reply!r}")


if __name__ == "__main__":
    main()
