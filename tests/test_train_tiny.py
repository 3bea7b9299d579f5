"""The tiny models' SFT data: synthetic values keep every task consistent and answerable."""

import random
import re

import jsonschema
import pytest

from agents.scripted import ScriptedAdversary
from agents.train_tiny import (
    _WORDS,
    Examples,
    fc_target,
    focus_operators,
    own_rewrites,
    parse_args,
    synthetic_like,
    with_synthetic_strings,
)
from envs.domains import DomainTasks
from fcgym import check, parse_calls
from fcgym.validity import check_query


@pytest.mark.parametrize("value, shape", [
    ("Hotel Adler", r"[A-Z][a-z]+ [A-Z][a-z]+"),
    ("/drafts/poem.md", r"/[a-z]+/[a-z]+\.[a-z]+"),
    ("NZ2", r"[A-Z]{2}\d"),
    ("ORD-9001", r"[A-Z]{3}-[1-9]\d{3}"),
    ("77 Harbor Drive", r"[1-9]\d [A-Z][a-z]+ [A-Z][a-z]+"),
])
def test_synthetic_value_keeps_the_shape(value, shape):
    rng = random.Random(0)
    made = [synthetic_like(value, rng) for _ in range(20)]
    assert all(re.fullmatch(shape, m) for m in made), made
    assert len(set(made)) > 10


def test_synthetic_tasks_stay_answerable_and_valid():
    rng, tasks, swapped = random.Random(1), DomainTasks(split="train"), 0
    for _ in range(300):
        task = tasks.sample(rng)
        new = with_synthetic_strings(task, rng)
        swapped += new.query != task.query
        assert check_query(new.query, new).valid, new.query
        calls = parse_calls(fc_target(new))
        assert check(calls, new).valid
        for call in calls:
            schema = new.tool(call.name).parameters
            jsonschema.validate(call.arguments, schema)
        for old_call, new_call in zip(task.target_calls(), new.target_calls()):
            assert old_call.name == new_call.name and old_call.arguments.keys() == new_call.arguments.keys()
    assert swapped > 150  # most tasks carry a free-form string


def test_examples_are_seeded():
    def draw(seed):
        examples = Examples("fc", seed, 0.5, 0.8)
        return [next(examples) for _ in range(20)]

    assert draw(7) == draw(7) != draw(8)


def test_half_the_synthetic_values_are_random_letters():
    rng = random.Random(3)
    words = [synthetic_like("lunch", rng) for _ in range(400)]
    from_the_word_list = sum(w in _WORDS for w in words)
    assert 150 < from_the_word_list < 250
    assert len(set(words) - set(_WORDS)) > 150  # random letters, hardly ever the same twice


def test_copy_drills_repeat_their_sentence():
    examples = Examples("fc", 0, 0.5, 0.8, copy_fraction=0.5)
    drills = [(m, r) for m, _, r in (next(examples) for _ in range(100)) if m[-1]["content"].startswith("Repeat: ")]
    assert 30 < len(drills) < 70
    assert all(messages[-1]["content"] == "Repeat: " + reply for messages, reply in drills)
    no_drills = Examples("fc", 0, 0.5, 0.8)
    assert not any(m[-1]["content"].startswith("Repeat: ") for m, _, _ in (next(no_drills) for _ in range(100)))


def test_own_rewrites_keep_the_valid_ones_that_change_the_seed_query(monkeypatch):
    from agents.factory import TINY_DIR
    from agents.hf import HFAgent
    from envs.tool_duel import task_from_query_prompt

    agent = HFAgent.from_pretrained(TINY_DIR / "query")
    examples = Examples("query", 0, 0.5, 0.8, own_fraction=0.5)
    kept = own_rewrites(agent.model, agent.tokenizer, examples, 12, temperature=0.7, seed=0, batch_size=6)
    assert 0 < len(kept) <= 12
    for messages, tools, reply in kept:
        task = task_from_query_prompt(messages, tools)
        assert check_query(reply, task).valid and reply != task.query

    def replies(self, prompts):  # per prompt: the seed query, an invalid query, the seed query with a suffix
        seeds = [task_from_query_prompt(*prompt).query for prompt in prompts]
        return [[seed, "Do something.", seed + " Thanks!"][i % 3] for i, seed in enumerate(seeds)]

    monkeypatch.setattr(HFAgent, "act_batch", replies)
    kept = own_rewrites(agent.model, agent.tokenizer, examples, 9, temperature=0.7, seed=0)
    assert [reply.endswith(" Thanks!") for _, _, reply in kept] == [True] * 3


def test_own_rewrites_are_drawn_at_their_fraction():
    examples = Examples("query", 0, 0.5, 0.8, own_fraction=0.5)
    own = ([{"role": "user", "content": "own"}], [], "own rewrite")
    examples.own = [own]
    drawn = [next(examples) for _ in range(200)]
    assert 70 < drawn.count(own) < 130
    assert all(reply != "own rewrite" for _, _, reply in (next(Examples("query", 0, 0.5, 0.8)) for _ in range(50)))


def test_own_fraction_needs_an_initial_query_model():
    with pytest.raises(SystemExit):
        parse_args(["--role", "fc", "--init", "agents/tiny/fc", "--own-samples", "8", "--own-fraction", "0.5"])
    with pytest.raises(SystemExit):
        parse_args(["--role", "query", "--own-samples", "8", "--own-fraction", "0.5"])
    assert parse_args(["--role", "query", "--init", "x", "--own-samples", "8", "--own-fraction", "0.5"]).own_fraction


def test_focus_operators_write_their_share_of_the_rewrites(monkeypatch):
    rewrites = []  # (written by the focus adversary, operators applied)
    rewrite = ScriptedAdversary.rewrite

    def recorded(self, task):
        query, applied = rewrite(self, task)
        rewrites.append((self is examples.focus, applied))
        return query, applied

    monkeypatch.setattr(ScriptedAdversary, "rewrite", recorded)
    focus = ("spelled_out_number", "twelve_hour_clock")
    examples = Examples("fc", 0, 1.0, 0.0, focus_operators=focus, focus_fraction=0.5)
    for _ in range(200):
        next(examples)
    focused = [applied for by_focus, applied in rewrites if by_focus and applied]
    assert 20 < len(focused) < 100  # half the draws, less those where neither operator applies (most)
    assert all(len(applied) == 1 and applied[0] in focus for applied in focused)
    assert any(len(applied) > 1 for by_focus, applied in rewrites if not by_focus)  # the rest compose any operator


def test_focus_operators_are_checked():
    with pytest.raises(SystemExit):
        parse_args(["--focus-operators", "spelled_out_number"])
    with pytest.raises(SystemExit):
        parse_args(["--focus-operators", "long_context", "--focus-fraction", "0.5"])
    args = parse_args(["--focus-operators", "typo, written_date", "--focus-fraction", "0.5"])
    assert focus_operators(args) == ("typo", "written_date")
    examples = Examples("fc", 0, 1.0, 0.0, focus_operators=focus_operators(args), focus_fraction=args.focus_fraction)
    assert examples.focus.operators == ("typo", "written_date") and examples.focus.max_operators == 1
