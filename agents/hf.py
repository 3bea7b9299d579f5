"""Any transformers causal LM as an agent, prompted through the tokenizer's own chat template with ``tools=``.

`HFAgent` samples a batch of replies with a preallocated KV cache, seeded, and keeps each reply's token ids and
log-probabilities, so it is also a `TrainableAgent` for the PPO trainers; `HFAgent.demonstration` gives the
tokens of a reply it should have written (the target calls in its ``call_style``), for imitation.
"""

from __future__ import annotations

import inspect
import math
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase, StaticCache

from agents.base import Prompt, Sample
from fcgym import Call, FCGymError, format_calls


class AgentLoadError(FCGymError):
    """A model or tokenizer that cannot be loaded."""


class HFAgent:
    """A causal LM that answers chats; ``temperature=0`` decodes greedily. ``call_style`` (``json`` or
    ``python``, see `fcgym.format_calls`) is the form of tool calls it is taught in demonstrations."""

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, *, temperature: float = 1.0,
                 max_new_tokens: int = 128, seed: int | None = None, call_style: str = "json"):
        self.model, self.tokenizer = model, tokenizer
        self.temperature, self.max_new_tokens, self.call_style = temperature, max_new_tokens, call_style
        format_calls([], call_style)  # an unknown style fails here, not in the middle of training
        self.eos_id = tokenizer.eos_token_id
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.eos_id
        self.max_length = getattr(model.config, "max_position_embeddings", 2048)
        # transformers 5.24 renamed the KV-cache argument and output field from past_key_values to cache
        self.cache_name = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
        self.generator = torch.Generator()
        self.reset(seed)

    @classmethod
    def from_pretrained(cls, path: str | Path, *, gguf_file: str | None = None, **kwargs) -> HFAgent:
        """Load a local model directory (or a GGUF file inside it) and its tokenizer."""
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(path), gguf_file=gguf_file)
            model = AutoModelForCausalLM.from_pretrained(str(path), gguf_file=gguf_file)
        except (OSError, ValueError) as error:
            raise AgentLoadError(f"cannot load a causal LM from {path!s}: {error}") from None
        model.eval()
        return cls(model, tokenizer, **kwargs)

    def reset(self, seed: int | None) -> None:
        self.generator.manual_seed(seed if seed is not None else torch.seed())

    def encode(self, prompt: Prompt) -> list[int]:
        """Prompt token ids from the chat template, leaving room for the reply. A prompt too long loses the middle
        of its longest message, so the template's header, the tools and the request's two ends stay; if even that
        is not enough, it is cut from the left."""
        messages, tools = prompt
        budget = self.max_length - self.max_new_tokens
        ids = self._template(messages, tools)
        for _ in range(4):
            if len(ids) <= budget:
                return ids
            messages = _shortened(messages, excess=len(ids) - budget, tokens=len(ids))
            if messages is None:
                break
            ids = self._template(messages, tools)
        return ids[-budget:]

    def _template(self, messages: list[dict], tools: list[dict]) -> list[int]:
        ids = self.tokenizer.apply_chat_template(messages, tools=tools or None, add_generation_prompt=True,
                                                 tokenize=True, return_dict=False)
        if isinstance(ids, dict) or hasattr(ids, "input_ids"):
            ids = ids["input_ids"]
        return list(ids)

    def act(self, messages: list[dict], tools: list[dict]) -> str:
        return self.sample([(messages, tools)])[0].text

    def act_batch(self, prompts: list[Prompt]) -> list[str]:
        return [sample.text for sample in self.sample(prompts)]

    def demonstration(self, prompt: Prompt, calls: list[Call]) -> Sample:
        """The reply to ``prompt`` that makes ``calls`` (`fcgym.format_calls` in ``call_style``), as a `Sample`
        whose log-probabilities are left at zero: what imitation trains on."""
        text = format_calls(calls, self.call_style)
        reply = self.tokenizer(text, add_special_tokens=False)["input_ids"] + [self.eos_id]
        return Sample(text=text, prompt_ids=self.encode(prompt), response_ids=reply, logprobs=[0.0] * len(reply))

    @torch.no_grad()
    def sample(self, prompts: list[Prompt]) -> list[Sample]:
        """Sample one reply per prompt, batched, with the ids and log-probabilities of every reply token."""
        prompt_ids = [self.encode(prompt) for prompt in prompts]
        width = max(map(len, prompt_ids))
        total = width + self.max_new_tokens
        input_ids = torch.tensor([[self.pad_id] * (width - len(p)) + p for p in prompt_ids])
        attention_mask = torch.zeros((len(prompts), total), dtype=torch.long)
        for row, ids in enumerate(prompt_ids):
            attention_mask[row, width - len(ids):width] = 1
        position_ids = (attention_mask[:, :width].cumsum(-1) - 1).clamp(min=0)
        # a preallocated cache: a growing one copies itself at every step, which dominates at these sizes
        cache = StaticCache(config=self.model.config, max_cache_len=total)
        cache_position = torch.arange(width)
        finished = torch.zeros(len(prompts), dtype=torch.bool)
        tokens, logprobs = [], []
        for step in range(self.max_new_tokens):
            out = self.model(input_ids=input_ids, attention_mask=attention_mask[:, : width + step],
                             position_ids=position_ids, cache_position=cache_position, use_cache=True,
                             **{self.cache_name: cache})
            logits = out.logits[:, -1, :].float()
            if self.temperature > 0:
                step_logprobs = torch.log_softmax(logits / self.temperature, dim=-1)
                token = torch.multinomial(step_logprobs.exp(), 1, generator=self.generator).squeeze(1)
            else:
                step_logprobs = torch.log_softmax(logits, dim=-1)
                token = logits.argmax(-1)
            token = torch.where(finished, torch.full_like(token, self.pad_id), token)
            tokens.append(token)
            logprobs.append(step_logprobs.gather(1, token[:, None]).squeeze(1))
            finished |= token == self.eos_id
            if finished.all():
                break
            input_ids = token[:, None]
            attention_mask[:, width + step] = 1
            position_ids = position_ids[:, -1:] + 1
            cache_position = cache_position[-1:] + 1
        token_matrix, logprob_matrix = torch.stack(tokens, 1).tolist(), torch.stack(logprobs, 1).tolist()
        samples = []
        for prompt, ids, lps in zip(prompt_ids, token_matrix, logprob_matrix):
            length = ids.index(self.eos_id) + 1 if self.eos_id in ids else len(ids)
            reply = ids[:length]
            text = self.tokenizer.decode(reply, skip_special_tokens=True)
            samples.append(Sample(text=text, prompt_ids=prompt, response_ids=reply, logprobs=lps[:length]))
        return samples


ELISION = " [...] "


def _shortened(messages: list[dict], excess: int, tokens: int) -> list[dict] | None:
    """``messages`` with about ``excess`` of the prompt's ``tokens`` cut from the middle of the longest text
    message (marked with `ELISION`), or None when no message has text left to cut."""
    texts = [len(m["content"]) if isinstance(m.get("content"), str) else 0 for m in messages]
    index = max(range(len(messages)), key=texts.__getitem__, default=None)
    if index is None or texts[index] <= len(ELISION):
        return None
    content = messages[index]["content"]
    chars_per_token = max(1.0, sum(texts) / tokens)
    keep = max(0, len(content) - math.ceil(excess * chars_per_token) - len(ELISION))
    shortened = content[: keep - keep // 2] + ELISION + content[len(content) - keep // 2:]
    return [*messages[:index], {**messages[index], "content": shortened}, *messages[index + 1:]]
