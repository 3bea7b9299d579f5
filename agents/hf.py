"""Any transformers causal LM as an agent, prompted through the tokenizer's own chat template with ``tools=``
(a template that ignores them gets the tools' JSON schemas in its system message).

`HFAgent` samples a batch of replies, seeded, and keeps each reply's token ids and log-probabilities, so it is
also a `TrainableAgent` for the PPO trainers. A batch prefills the prefix its prompts share (a group's) once,
attends to it from one copy, decodes only the replies still running and attends over the positions in use
(`HFAgent.sample`).
`HFAgent.demonstration` gives the tokens of a reply it should have written (the target calls in its
``call_style``), for imitation.
"""

from __future__ import annotations

import inspect
import itertools
import json
import math
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase, StaticCache
from transformers.cache_utils import StaticLayer

from agents.base import Prompt, Sample
from agents.shared_prefix import SharedPrefix, attending_shared_prefixes
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
        # some chat templates (SmolLM2's) ignore tools=: their prompts get the tools in the system message
        self.template_renders_tools = _renders_tools(tokenizer)
        # the sampler reshapes its KV cache (rows, positions) where every layer is a plain full-attention one;
        # sliding-window and other layers keep a layout of their own, so with them it samples in one plain batch
        probe = StaticCache(config=model.config, max_cache_len=1)  # allocates nothing before its first use
        self.reshapes_cache = all(type(layer) is StaticLayer for layer in probe.layers)
        # transformers 5.24 renamed the KV-cache argument and output field from past_key_values to cache
        parameters = inspect.signature(model.forward).parameters
        self.cache_name = "cache" if "cache" in parameters else "past_key_values"
        # the vocabulary's logits at the last position only, where the model can (a prompt's would be large)
        self.last_logits_only = {"logits_to_keep": 1} if "logits_to_keep" in parameters else {}
        # prompts' shared prefixes are kept once where its attention can be given one (agents.shared_prefix)
        with torch.no_grad():
            self.shares_prefixes = self.reshapes_cache and self._attends_shared_prefixes()
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
        if tools and not self.template_renders_tools:
            messages, tools = _with_tools_in_system_message(messages, tools), []
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
        """Sample one reply per prompt, batched, with the ids and log-probabilities of every reply token.

        Consecutive prompts that share a prefix (a group: the same task's prompt, or the same tools) prefill it
        once (`_split_prompts`) and attend to that one copy (`agents.shared_prefix`); replies that have finished
        leave the batch (`FINISHED_SHARE_TO_DROP`), and the cache grows as replies do (`CACHE_HEADROOM`), so each
        step attends over the rows and positions in use."""
        prompt_ids = [self.encode(prompt) for prompt in prompts]
        groups, prefix_lengths, prefix_width = _split_prompts(prompt_ids) if self.shares_prefixes else ([], [], 0)
        if not prefix_width:
            return self._decode(prompt_ids, prompt_ids, torch.zeros(len(prompt_ids), dtype=torch.long), None)
        group_of_row = torch.tensor([g for g, members in enumerate(groups) for _ in members])
        prefixes = [prompt_ids[members[0]][:length] for members, length in zip(groups, prefix_lengths)]
        prefix_ids, prefix_mask = _left_padded(prefixes, prefix_width, self.pad_id)
        prefix_cache = StaticCache(config=self.model.config, max_cache_len=prefix_width)
        self._forward(prefix_ids, prefix_mask, (prefix_mask.cumsum(-1) - 1).clamp(min=0), 0, prefix_cache)
        shared = SharedPrefix(prefix_cache, prefix_mask, group_of_row)
        suffixes = [prompt_ids[row][prefix_lengths[g]:] for row, g in enumerate(group_of_row.tolist())]
        with attending_shared_prefixes(self.model):
            return self._decode(prompt_ids, suffixes, prefix_mask.sum(-1)[group_of_row], shared)

    def _decode(self, prompt_ids: list[list[int]], rows_ids: list[list[int]], first_positions: torch.Tensor,
                shared: SharedPrefix | None) -> list[Sample]:
        """Prefill each row's ids (``rows_ids``: the prompt, or its suffix after the ``shared`` prefix; row ``i``'s
        first position is ``first_positions[i]``), then sample the replies."""
        width = max(map(len, rows_ids))
        capacity = width + (min(self.max_new_tokens, CACHE_HEADROOM) if self.reshapes_cache else self.max_new_tokens)
        # preallocated: a cache that grows at every step copies itself at every step, which dominates at these sizes
        cache = StaticCache(config=self.model.config, max_cache_len=capacity)
        input_ids, prompt_mask = _left_padded(rows_ids, width, self.pad_id)
        attention_mask = torch.zeros((len(rows_ids), width + self.max_new_tokens), dtype=torch.long)
        attention_mask[:, :width] = prompt_mask
        position_ids = first_positions[:, None] + (prompt_mask.cumsum(-1) - 1).clamp(min=0)
        logits = self._forward(input_ids, prompt_mask, position_ids, 0, cache, shared)
        rows = torch.arange(len(rows_ids))  # the prompt of each row still in the batch
        finished = torch.zeros(len(rows_ids), dtype=torch.bool)
        replies: list[list[int]] = [[] for _ in rows_ids]
        logprobs: list[list[float]] = [[] for _ in rows_ids]
        for step in range(self.max_new_tokens):
            token, token_logprobs = self._next_tokens(logits)
            for row, tok, logprob in zip(rows[~finished].tolist(), token[~finished].tolist(),
                                         token_logprobs[~finished].tolist()):
                replies[row].append(tok)
                logprobs[row].append(logprob)
            finished |= token == self.eos_id
            if finished.all() or step == self.max_new_tokens - 1:
                break
            filled = width + step
            dropping = self.reshapes_cache and bool(finished.sum() >= FINISHED_SHARE_TO_DROP * len(rows))
            if dropping or filled == capacity:
                kept = torch.nonzero(~finished).squeeze(1) if dropping else torch.arange(len(rows))
                capacity = max(capacity, filled + min(CACHE_HEADROOM, self.max_new_tokens - step))
                _reallocate(cache, kept, filled, capacity)
                if shared is not None:
                    shared.keep(kept)
                rows, token, finished = rows[kept], token[kept], finished[kept]
                attention_mask, position_ids = attention_mask[kept], position_ids[kept]
            attention_mask[:, filled] = 1
            position_ids = position_ids[:, -1:] + 1
            logits = self._forward(token[:, None], attention_mask[:, : filled + 1], position_ids, filled, cache, shared)
        return [Sample(text=self.tokenizer.decode(reply, skip_special_tokens=True), prompt_ids=ids,
                       response_ids=reply, logprobs=lps) for ids, reply, lps in zip(prompt_ids, replies, logprobs)]

    def _forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, position_ids: torch.Tensor,
                 start: int, cache: StaticCache, shared: SharedPrefix | None = None) -> torch.Tensor:
        """The logits after ``input_ids``, written into ``cache`` from position ``start`` (attending to the
        ``shared`` prefixes too, if given)."""
        cache_position = torch.arange(start, start + input_ids.shape[1])
        extra = {}
        if shared is not None:
            shared.see(attention_mask, cache_position)
            extra["shared_prefix"] = shared
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                         cache_position=cache_position, use_cache=True, **{self.cache_name: cache},
                         **self.last_logits_only, **extra)
        return out.logits[:, -1, :].float()

    def _attends_shared_prefixes(self) -> bool:
        """Whether the model's attention goes through transformers' attention functions, so that a prefix can be
        kept once for several rows: a short prompt's logits must be the same with its prefix shared."""
        ids = torch.tensor([[1, 2, 3, 4]]) % self.model.config.get_text_config().vocab_size
        ones = torch.ones_like(ids)

        def cache(positions: int) -> StaticCache:
            return StaticCache(config=self.model.config, max_cache_len=positions)

        whole = self._forward(ids, ones, torch.arange(4)[None], 0, cache(4))
        prefix_cache = cache(3)
        self._forward(ids[:, :3], ones[:, :3], torch.arange(3)[None], 0, prefix_cache)
        shared = SharedPrefix(prefix_cache, ones[:, :3].bool(), torch.zeros(1, dtype=torch.long))
        try:
            with attending_shared_prefixes(self.model):
                split = self._forward(ids[:, 3:], ones[:, 3:], torch.tensor([[3]]), 0, cache(1), shared)
        except ValueError:  # a model class that takes no attention function but its own
            return False
        return bool((whole - split).abs().max() <= 1e-4 * whole.abs().max() + 1e-5)

    def _next_tokens(self, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One token per row, sampled at ``temperature`` (greedy at 0), and its log-probability."""
        if self.temperature > 0:
            step_logprobs = torch.log_softmax(logits / self.temperature, dim=-1)
            token = torch.multinomial(step_logprobs.exp(), 1, generator=self.generator).squeeze(1)
        else:
            step_logprobs = torch.log_softmax(logits, dim=-1)
            token = logits.argmax(-1)
        return token, step_logprobs.gather(1, token[:, None]).squeeze(1)


#: Replies that have finished leave the decoding batch once they are this share of it (a step costs about its
#: rows, and leaving copies the cache once).
FINISHED_SHARE_TO_DROP = 0.125
#: Positions the KV cache holds beyond those filled, and grows by when they are (each growth copies it once).
CACHE_HEADROOM = 32
#: Prompts' shared prefixes are prefilled apart when that saves at least this share of the positions prefilled.
MIN_PREFILL_SAVING = 0.1


def shared_prefix_length(first: list[int], other: list[int]) -> int:
    """How many leading ids the two lists share."""
    shared = 0
    for a, b in zip(first, other):
        if a != b:
            break
        shared += 1
    return shared


def _split_prompts(prompt_ids: list[list[int]]) -> tuple[list[list[int]], list[int], int]:
    """``(groups of consecutive prompts, each group's prefix length, prefix width)`` for prefilling each group's
    shared prefix once (one row per group, left-padded to the prefix width), then each prompt's suffix (one row
    per prompt, left-padded to the suffix width). The two widths add up to the longest prompt; every prompt keeps
    at least its last id in its suffix (its logits start the reply). Of the suffix widths that change the grouping,
    the one whose two prefills take the fewest positions wins, if it saves `MIN_PREFILL_SAVING` of one pass over
    whole prompts and its decoding steps attend over no more positions than one left-padded batch's: each group's
    prefix is attended to by as many query slots as the largest group has rows (`agents.shared_prefix`), so
    uneven groups (a large one among singletons) would cost more than they save."""
    longest = max(map(len, prompt_ids))
    # a run of consecutive prompts shares the least of its neighbours' shared prefixes, less its shortest's last id
    shared = [min(shared_prefix_length(a, b), len(a) - 1, len(b) - 1) for a, b in itertools.pairwise(prompt_ids)]

    def grouped(suffix_width: int) -> list[list[int]]:
        groups, common, widest = [[0]], len(prompt_ids[0]) - 1, len(prompt_ids[0])
        for index, overlap in enumerate(shared, start=1):
            common, widest = min(common, overlap), max(widest, len(prompt_ids[index]))
            if widest - common <= suffix_width:
                groups[-1].append(index)
            else:
                groups.append([index])
                common, widest = len(prompt_ids[index]) - 1, len(prompt_ids[index])
        return groups

    candidates = {longest} | {max(len(a), len(b)) - overlap
                              for (a, b), overlap in zip(itertools.pairwise(prompt_ids), shared)}

    def positions(suffix_width: int, prefix_rows: int) -> int:
        """Positions in a pass over ``prefix_rows`` prefixes and one over every prompt's suffix."""
        return prefix_rows * (longest - suffix_width) + len(prompt_ids) * suffix_width

    groupings = {w: grouped(w) for w in candidates}
    # decoding attends to each group's prefix from as many query slots as the largest group has rows
    admissible = [w for w, groups in groupings.items()
                  if positions(w, len(groups) * max(map(len, groups))) <= len(prompt_ids) * longest]
    suffix_width = min(admissible, key=lambda w: (positions(w, len(groupings[w])), -w))
    if positions(suffix_width, len(groupings[suffix_width])) > (1 - MIN_PREFILL_SAVING) * len(prompt_ids) * longest:
        suffix_width = longest
    groups = groupings[suffix_width]
    prefix_lengths = [max(0, max(len(prompt_ids[i]) for i in members) - suffix_width) for members in groups]
    return groups, prefix_lengths, longest - suffix_width


def _left_padded(sequences: list[list[int]], width: int, pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ids, attention mask)`` of ``sequences`` left-padded to ``width``."""
    ids = torch.tensor([[pad_id] * (width - len(s)) + list(s) for s in sequences], dtype=torch.long)
    mask = torch.tensor([[0] * (width - len(s)) + [1] * len(s) for s in sequences], dtype=torch.long)
    return ids, mask


def _reallocate(cache: StaticCache, rows: torch.Tensor, filled: int, capacity: int) -> None:
    """Make ``rows`` of the cache (in that order) its whole batch, holding ``capacity`` positions of which the
    first ``filled`` are kept."""
    for layer in cache.layers:
        for name in ("keys", "values"):
            old = getattr(layer, name)
            new = old.new_empty((len(rows), old.shape[1], capacity, old.shape[3]))
            torch.index_select(old[:, :, :filled], 0, rows, out=new[:, :, :filled])
            new[:, :, filled:] = 0  # never attended to, but a NaN there would reach the outputs through the mask
            setattr(layer, name, new)
        layer.batch_size, layer.max_cache_len = len(rows), capacity


#: What precedes the tools' JSON schemas in the system message of a chat template that does not write them.
TOOLS_PREAMBLE = "You can call these tools (JSON schemas):"


def _renders_tools(tokenizer: PreTrainedTokenizerBase) -> bool:
    """Whether the tokenizer's chat template writes the tools it is given."""
    name = "fcgym_probe_tool"
    probe = {"type": "function", "function": {"name": name, "description": "", "parameters": {"type": "object"}}}
    text = tokenizer.apply_chat_template([{"role": "user", "content": "Hi"}], tools=[probe], tokenize=False,
                                         add_generation_prompt=True)
    return name in text


def _with_tools_in_system_message(messages: list[dict], tools: list[dict]) -> list[dict]:
    """``messages`` with the tools' schemas at the end of the system message (a new one if there is none)."""
    listing = "\n".join([TOOLS_PREAMBLE, *map(json.dumps, tools)])
    if messages and messages[0]["role"] == "system":
        return [{**messages[0], "content": messages[0]["content"] + "\n\n" + listing}, *messages[1:]]
    return [{"role": "system", "content": listing}, *messages]


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
