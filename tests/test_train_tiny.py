"""The tiny models' SFT data: synthetic values keep every task consistent and answerable."""

import random
import re

import jsonschema
import pytest

from agents.train_tiny import _WORDS, Examples, fc_target, synthetic_like, with_synthetic_strings
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
