"""Train the embedded tiny default models from scratch: one small causal LM per ToolDuel role.

    python -m agents.train_tiny --role fc    --out agents/tiny/fc    --minutes 8 --seed 0
    python -m agents.train_tiny --role query --out agents/tiny/query --minutes 8 --seed 0

Top to bottom, as in CleanRL: arguments, seeding, a character-level tokenizer with a compact chat
template, a ~2M-parameter Llama config, seeded SFT data generated on the fly from the built-in domains
(train split), a training loop with the loss on reply tokens only, and `save_pretrained`.

* ``fc``: the prompt is what ToolDuel shows ``fc_0`` (system prompt, the user query, the tools); the query
  is the seed query or a `ScriptedAdversary` rewrite (half each); the reply is the canonical target calls in
  Python call syntax (``[f(x=1, y="a")]``) or, for irrelevance tasks, `fcgym.calls.ABSTENTION`.
* ``query``: the prompt is what ToolDuel shows ``query_0`` (target calls and seed query); the reply is a
  `ScriptedAdversary` rewrite of the seed query, valid by construction, or (``--own-fraction``) one of the
  model's own rewrites that passed the validity gate: rejection-sampling fine-tuning on ``--own-samples``
  rewrites drawn from ``--init`` before training, which sharpens what it already writes toward its valid part.

Free-form string values (names, notes, codes, paths, ids) are often swapped for synthetic ones of the same
shape so that the models learn to copy values they have never seen instead of memorising the train pools.
The query model's chat template leaves the tool list out: its user message already names the target calls.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import math
import os
import random
import re
import shlex
import string
import sys
import time
from dataclasses import dataclass, replace

import jsonschema
import numpy as np
import torch
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from tqdm import tqdm
from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from agents.factory import TINY_MAX_NEW_TOKENS
from agents.hf import HFAgent
from agents.scripted import OPERATORS, ScriptedAdversary
from envs.domains import DomainTasks
from envs.tool_duel import fc_messages, query_messages
from fcgym import Task, format_calls, parse_calls
from fcgym.validity import check_query

PAD, EOS, UNK = "<|pad|>", "<|eos|>", "<|unk|>"
ROLE_MARKERS = {"user": "<|user|>", "assistant": "<|assistant|>", "tool": "<|tool|>"}
TOOLS_MARKER = "<|tools|>"
SPECIAL_TOKENS = [PAD, EOS, UNK, TOOLS_MARKER, *ROLE_MARKERS.values()]

#: Compact prompt: tool names, then every non-system message as role marker + content, then the assistant
#: marker. Assistant turns end with the eos token. Unknown roles are shown as user turns.
TOOL_NAMES = (
    "{%- if tools %}" + TOOLS_MARKER
    + "{%- for t in tools %}{{ t.function.name if t.function is defined else t.name }}"
      "{%- if not loop.last %},{% endif %}{%- endfor %}{%- endif %}"
)
MESSAGES = (
    "{%- for m in messages %}{%- if m.role != 'system' %}"
    "{%- if m.role == 'assistant' %}<|assistant|>{{ m.content or '' }}" + EOS
    + "{%- elif m.role == 'tool' %}<|tool|>{{ m.content }}"
      "{%- else %}<|user|>{{ m.content }}{%- endif %}{%- endif %}{%- endfor %}"
      "{%- if add_generation_prompt %}<|assistant|>{%- endif %}"
)
#: The query model's user message already names the target calls, so its prompt leaves the tool list out.
CHAT_TEMPLATES = {"fc": TOOL_NAMES + MESSAGES, "query": MESSAGES}

#: Every perturbation but long_context, whose 600-1,200-character preambles do not fit the tiny models' context.
SHORT_OPERATORS = tuple(name for name in OPERATORS if name != "long_context")


@dataclass
class Args:
    role: str = "fc"
    """Which ToolDuel role to train: ``fc`` or ``query``."""
    out: str = "agents/tiny/fc"
    """Output directory (config, safetensors weights, tokenizer, training.json)."""
    minutes: float = 8.0
    """Stop after this many wall-clock minutes of training."""
    steps: int = 0
    """Stop after this many optimizer steps (0: no step limit)."""
    seed: int = 0
    """Seeds Python, NumPy, torch and the data generator."""
    batch_size: int = 32
    """Sequences per step."""
    lr: float = 2e-3
    """Peak learning rate (linear warmup, then cosine decay to 10% over the time/step budget)."""
    warmup_steps: int = 30
    """Linear warmup steps."""
    weight_decay: float = 0.01
    """AdamW weight decay."""
    hidden_size: int = 192
    """Model width."""
    layers: int = 4
    """Transformer blocks."""
    heads: int = 4
    """Attention heads."""
    intermediate_size: int = 512
    """MLP width."""
    adversarial_fraction: float = 0.5
    """fc role: share of queries rewritten by the scripted adversary (the rest are seed queries)."""
    synthetic_fraction: float = 0.8
    """Share of tasks whose string values are replaced by synthetic ones (teaches copying)."""
    copy_fraction: float = 0.0
    """Share of examples that are a copy drill: ``Repeat: <a synthetic sentence>``, the reply that sentence."""
    focus_operators: str = ""
    """Comma-separated operators to practise more: the perturbations a model reads worst."""
    focus_fraction: float = 0.0
    """Share of rewrites that apply one of --focus-operators alone (where none applies, and in the other
    rewrites, the scripted adversary composes any of SHORT_OPERATORS)."""
    own_samples: int = 0
    """query role: rewrites sampled from the --init model before training; those that pass the validity gate
    and change the seed query are the own-rewrite pool."""
    own_fraction: float = 0.0
    """query role: share of examples drawn from the own-rewrite pool (needs --own-samples)."""
    own_temperature: float = 0.7
    """Temperature the own rewrites are sampled at (self-play's query temperature)."""
    threads: int = 2
    """torch CPU threads."""
    bf16: bool = True
    """bf16 autocast on CPU (weights stay fp32); fast where the CPU has avx512_bf16."""
    log_every: int = 25
    """Print a loss line every this many steps."""
    init: str = ""
    """Continue from this model directory instead of a fresh model (its tokenizer is reused)."""
    save_every: float = 5.0
    """Also save to --out every this many minutes (0: only at the end)."""
    max_length: int = 1024
    """Skip examples longer than this many tokens."""


def parse_args(argv: list[str] | None = None) -> Args:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for name, default in vars(Args()).items():
        flag = "--" + name.replace("_", "-")
        if isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
        else:
            parser.add_argument(flag, type=type(default), default=default)
    args = Args(**vars(parser.parse_args(argv)))
    if args.role not in ("fc", "query"):
        parser.error("--role must be fc or query")
    if args.minutes <= 0 and args.steps <= 0:
        parser.error("give --minutes or --steps a positive value")
    if args.own_fraction and (args.role != "query" or not args.init or args.own_samples <= 0):
        parser.error("--own-fraction needs --role query, --init and --own-samples")
    if bool(args.focus_fraction) != bool(args.focus_operators):
        parser.error("--focus-fraction and --focus-operators go together")
    unknown = set(focus_operators(args)) - set(SHORT_OPERATORS)
    if unknown:
        parser.error(f"unknown --focus-operators {sorted(unknown)}; available: {', '.join(SHORT_OPERATORS)}")
    return args


def focus_operators(args: Args) -> tuple[str, ...]:
    return tuple(name.strip() for name in args.focus_operators.split(",") if name.strip())


# ---------------------------------------------------------------- tokenizer


def build_tokenizer(role: str) -> PreTrainedTokenizerFast:
    """Character-level: one token per printable ASCII character; anything else is unk."""
    vocab = {token: i for i, token in enumerate(SPECIAL_TOKENS)}
    for char in string.printable:
        vocab.setdefault(char, len(vocab))
    core = Tokenizer(models.WordLevel(vocab, unk_token=UNK))
    core.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    core.decoder = decoders.Fuse()
    core.add_special_tokens(SPECIAL_TOKENS)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token=PAD, eos_token=EOS, unk_token=UNK,
        additional_special_tokens=[TOOLS_MARKER, *ROLE_MARKERS.values()], padding_side="left",
        clean_up_tokenization_spaces=False, model_max_length=1024,
    )
    tokenizer.chat_template = CHAT_TEMPLATES[role]
    return tokenizer


# ---------------------------------------------------------------- data

_SYLLABLES = ["ka", "lo", "mi", "ra", "ne", "to", "su", "be", "ri", "an", "el", "or", "vi", "da", "zu", "fe",
              "ly", "qu", "ho", "ja", "wen", "xa", "yo", "ce", "ix", "pa", "gu", "sti", "mar", "ton"]
_WORDS = ["lunch", "parking", "lamp", "repair", "course", "gift", "train", "hotel", "trip", "class", "bill",
          "fees", "paint", "garden", "piano", "lesson", "ticket", "shoes", "phone", "fuel", "cake", "market",
          "water", "power", "tennis", "boat", "movie", "camp", "doctor", "vet", "laptop", "chair"]


#: Runs a synthetic value replaces: capitalised words, lowercase words, capital codes, digit runs.
_RUN = re.compile(r"[A-Z][a-z]+|[a-z]+|[A-Z]+|\d+")
#: Values left alone: dates and times must stay real calendar values for tools and date operators.
_DATE_OR_TIME = re.compile(r"\d{4}-\d{2}-\d{2}|\d{1,2}:\d{2}")


def synthetic_like(value: str, rng: random.Random) -> str:
    """A made-up string shaped like ``value``: names, words, codes and digits swapped, punctuation kept.

    ``"Hotel Adler"`` -> ``"Rimi Kalo"``, ``"/drafts/poem.md"`` -> ``"/garden/lamp.fuel"``, ``"NZ2"`` -> ``"QD7"``.
    Half the values use random letters instead of syllables and words (``"Hotel Adler"`` -> ``"Qzkv Wobhe"``):
    those cannot be guessed from the start, so only copying them from the request lowers the loss.
    """
    letters_only = rng.random() < 0.5

    def run(match: re.Match) -> str:
        text = match.group()
        if text.isdigit():
            digits = "".join(rng.choice(string.digits) for _ in text)
            return digits if len(text) == 1 else rng.choice("123456789") + digits[1:]
        if text.isupper():
            return "".join(rng.choice(string.ascii_uppercase) for _ in text)
        if letters_only:
            word = "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(3, 9)))
            return word.capitalize() if text[0].isupper() else word
        if text[0].isupper():
            return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()
        return rng.choice(_WORDS)
    return _RUN.sub(run, value)


def with_synthetic_strings(task: Task, rng: random.Random) -> Task:
    """Replace free-form string arguments (not enums, dates or times) in the query and the answers.

    Only values that occur exactly once in the query, and whose replacement still passes the parameter's
    schema, are replaced, so the task stays unambiguous and well-formed.
    """
    query = task.query

    def swap(value, prop):
        nonlocal query
        if isinstance(value, list):
            return [swap(v, prop.get("items", {})) for v in value]
        if isinstance(value, dict):
            return {k: swap(v, prop.get("properties", {}).get(k, {})) for k, v in value.items()}
        if not isinstance(value, str) or "enum" in prop or _DATE_OR_TIME.search(value):
            return value
        in_query = re.compile(rf"(?<!\w){re.escape(value)}(?!\w)")
        if len(in_query.findall(query)) != 1:
            return value
        new = synthetic_like(value, rng)
        if new == value or new in query or not jsonschema.Draft202012Validator(prop).is_valid(new):
            return value
        query = in_query.sub(lambda _: new, query)
        return new

    answers = []
    for answer in task.answers:
        (name, params), = answer.items()
        properties = task.tool(name).parameters.get("properties", {})
        new_params = {}
        for param, accepted in params.items():
            if len(accepted) == 1:
                accepted = [swap(accepted[0], properties.get(param, {}))]
            new_params[param] = accepted
        answers.append({name: new_params})
    return replace(task, query=query, answers=tuple(answers))


def fc_target(task: Task) -> str:
    """The FC reply the tiny model learns: the target calls in Python call syntax (or `ABSTENTION`)."""
    calls = task.target_calls()
    text = format_calls(calls, "python")
    assert [c.to_dict() for c in parse_calls(text)] == [c.to_dict() for c in calls], text
    return text


class Examples:
    """Seeded SFT examples ``(messages, tools, reply)`` for one role."""

    def __init__(self, role: str, seed: int, adversarial_fraction: float, synthetic_fraction: float,
                 copy_fraction: float = 0.0, own_fraction: float = 0.0,
                 focus_operators: tuple[str, ...] = (), focus_fraction: float = 0.0):
        self.role, self.adversarial_fraction, self.synthetic_fraction = role, adversarial_fraction, synthetic_fraction
        self.copy_fraction, self.own_fraction, self.focus_fraction = copy_fraction, own_fraction, focus_fraction
        self.own: list[tuple[list[dict], list[dict], str]] = []  # the model's own valid rewrites (`own_rewrites`)
        self.rng = random.Random(seed)
        self.tasks = DomainTasks(split="train")
        self.adversary = ScriptedAdversary(operators=SHORT_OPERATORS, seed=seed + 1)
        self.focus = (ScriptedAdversary(operators=focus_operators, max_operators=1, seed=seed + 2)
                      if focus_operators else None)

    def task(self) -> Task:
        task = self.tasks.sample(self.rng)
        if self.rng.random() < self.synthetic_fraction:
            task = with_synthetic_strings(task, self.rng)
        return task

    def rewrite(self, task: Task) -> str:
        """A scripted rewrite of the task's query: by a focus operator when one is drawn and applies, else
        by the full adversary (three tries; the seed query if none applies)."""
        adversaries = [self.adversary] * 3
        if self.focus and self.rng.random() < self.focus_fraction:
            adversaries.insert(0, self.focus)
        for adversary in adversaries:
            query, applied = adversary.rewrite(task)
            if applied:
                return query
        return query

    def copy_drill(self, task: Task) -> tuple[list[dict], list[dict], str]:
        """A request to repeat a synthetic version of the task's query: dense practice in exact copying."""
        sentence = synthetic_like(self.rewrite(task) if self.rng.random() < 0.5 else task.query, self.rng)
        return [{"role": "user", "content": "Repeat: " + sentence}], [], sentence

    def __next__(self) -> tuple[list[dict], list[dict], str]:
        task = self.task()
        if self.rng.random() < self.copy_fraction:
            return self.copy_drill(task)
        if self.own and self.rng.random() < self.own_fraction:
            return self.rng.choice(self.own)
        tools = [t.schema() for t in task.tools]
        if self.role == "fc":
            query = self.rewrite(task) if self.rng.random() < self.adversarial_fraction else task.query
            return fc_messages(query), tools, fc_target(task)
        return query_messages(task), tools, self.rewrite(task)


def own_rewrites(model, tokenizer, examples: Examples, count: int, temperature: float, seed: int,
                 batch_size: int = 64) -> list[tuple[list[dict], list[dict], str]]:
    """Rejection sampling: the model's rewrites of ``count`` train tasks, kept where the validity gate passes them
    and they differ from the seed query, as ``(messages, tools, reply)`` examples."""
    model.eval()  # before HFAgent probes it, as `HFAgent.from_pretrained` does
    agent = HFAgent(model, tokenizer, temperature=temperature, max_new_tokens=TINY_MAX_NEW_TOKENS, seed=seed)
    kept = []
    for start in tqdm(range(0, count, batch_size), desc="own rewrites", unit="batch"):
        tasks = [examples.task() for _ in range(min(batch_size, count - start))]
        prompts = [(query_messages(task), [tool.schema() for tool in task.tools]) for task in tasks]
        for task, prompt, reply in zip(tasks, prompts, agent.act_batch(prompts)):
            if reply.strip() != task.query.strip() and check_query(reply, task).valid:
                kept.append((*prompt, reply))
    model.train()
    return kept


def encode(tokenizer, messages: list[dict], tools: list[dict], reply: str) -> tuple[list[int], list[int]]:
    """Token ids of prompt + reply + eos, and labels with the prompt masked (-100)."""
    prompt = tokenizer.apply_chat_template(messages, tools=tools, add_generation_prompt=True, tokenize=False)
    prompt_ids = tokenizer.encode(prompt, add_special_tokens=False)
    reply_ids = tokenizer.encode(reply, add_special_tokens=False) + [tokenizer.eos_token_id]
    return prompt_ids + reply_ids, [-100] * len(prompt_ids) + reply_ids


def batches(examples: Examples, tokenizer, size: int, max_length: int, pool: int = 8):
    """Endless right-padded batches; ``pool`` batches at a time are grouped by length to cut padding.

    No attention mask is needed: with right padding and causal attention no real token sees a pad.
    """
    while True:
        rows = (encode(tokenizer, *next(examples)) for _ in range(size * pool))
        rows = sorted((r for r in rows if len(r[0]) <= max_length), key=lambda r: len(r[0]))
        groups = [rows[i:i + size] for i in range(0, len(rows), size)]
        examples.rng.shuffle(groups)
        for group in groups:
            length = -(-max(len(ids) for ids, _ in group) // 32) * 32  # few distinct shapes: less allocator churn
            input_ids = torch.full((len(group), length), tokenizer.pad_token_id)
            labels = torch.full((len(group), length), -100)
            for i, (ids, labs) in enumerate(group):
                input_ids[i, :len(ids)] = torch.tensor(ids)
                labels[i, :len(ids)] = torch.tensor(labs)
            yield {"input_ids": input_ids, "labels": labels}


# ---------------------------------------------------------------- model


def build_model(args: Args, tokenizer) -> LlamaForCausalLM:
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=args.hidden_size, num_hidden_layers=args.layers,
        num_attention_heads=args.heads, num_key_value_heads=args.heads, intermediate_size=args.intermediate_size,
        max_position_embeddings=1024, tie_word_embeddings=True, rms_norm_eps=1e-5, rope_theta=10000.0,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id, bos_token_id=None,
    )
    return LlamaForCausalLM(config).to(torch.float32)


def learning_rate(args: Args, step: int, progress: float) -> float:
    if step < args.warmup_steps:
        return args.lr * (step + 1) / args.warmup_steps
    return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


def save(args: Args, model, tokenizer, step: int, minutes: float, loss: float | None, argv, previous: dict,
         own_kept: int = 0) -> None:
    """Weights (safetensors), tokenizer, generation config and training.json into ``args.out``."""
    os.makedirs(args.out, exist_ok=True)
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, do_sample=False,
        max_new_tokens=TINY_MAX_NEW_TOKENS,
    )
    model.save_pretrained(args.out)
    tokenizer.save_pretrained(args.out)
    record = {
        "role": args.role, "steps": step, "minutes": round(minutes, 2), "seed": args.seed,
        "final_loss": round(loss, 5) if loss is not None else None,
        "parameters": sum(p.numel() for p in model.parameters()),
        "command": "python -m agents.train_tiny " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])),
        "args": vars(args), "torch": torch.__version__,
    }
    if args.own_fraction:
        record["own_rewrites_kept"] = own_kept
    if previous:
        record["continued_from"] = previous
        record["total_steps"] = previous.get("total_steps", previous.get("steps", 0)) + step
        record["total_minutes"] = round(previous.get("total_minutes", previous.get("minutes", 0)) + minutes, 2)
    with open(os.path.join(args.out, "training.json"), "w") as f:
        json.dump(record, f, indent=2)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)

    previous = {}
    if args.init and os.path.exists(os.path.join(args.init, "training.json")):
        with open(os.path.join(args.init, "training.json")) as f:
            previous = json.load(f)
    if args.init:
        tokenizer = PreTrainedTokenizerFast.from_pretrained(args.init)
        tokenizer.chat_template = CHAT_TEMPLATES[args.role]
        model = LlamaForCausalLM.from_pretrained(args.init, dtype=torch.float32)
    else:
        tokenizer = build_tokenizer(args.role)
        model = build_model(args, tokenizer)
    print(f"{args.role}: {sum(p.numel() for p in model.parameters()):,} parameters, vocabulary {len(tokenizer)}")
    examples = Examples(args.role, args.seed, args.adversarial_fraction, args.synthetic_fraction,
                        args.copy_fraction, args.own_fraction, focus_operators(args), args.focus_fraction)
    if args.own_fraction:
        examples.own = own_rewrites(model, tokenizer, examples, args.own_samples, args.own_temperature, args.seed)
        print(f"own rewrites: {len(examples.own)} of {args.own_samples} pass the gate and change the seed query")
    libc = ctypes.CDLL("libc.so.6") if sys.platform.startswith("linux") else None
    stream = batches(examples, tokenizer, args.batch_size, args.max_length)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay, betas=(0.9, 0.95))

    budget = args.minutes * 60
    start, step, smoothed, last_save = time.time(), 0, None, 0.0
    bar = tqdm(total=args.steps or None, unit="step", mininterval=5)
    model.train()
    while True:
        elapsed = time.time() - start
        progress = max(elapsed / budget if budget else 0.0, step / args.steps if args.steps else 0.0)
        if progress >= 1.0:
            break
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(args, step, progress)
        inputs = next(stream)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            loss = model(**inputs, use_cache=False).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        step += 1
        if step % 10 == 0 and libc is not None:
            libc.malloc_trim(0)  # hand freed activation memory back to the OS (RSS otherwise creeps up)
        smoothed = loss.item() if smoothed is None else 0.9 * smoothed + 0.1 * loss.item()
        bar.update(1)
        bar.set_postfix(loss=f"{smoothed:.4f}")
        if args.save_every and elapsed - last_save >= args.save_every * 60:
            save(args, model, tokenizer, step, elapsed / 60, smoothed, argv, previous, len(examples.own))
            model.train()
            last_save = elapsed
        if step % args.log_every == 0:
            tqdm.write(f"step {step} loss {smoothed:.4f} lr {optimizer.param_groups[0]['lr']:.2e} "
                       f"elapsed {elapsed / 60:.1f} min tokens/batch {inputs['input_ids'].numel()}")
    bar.close()

    minutes = (time.time() - start) / 60
    save(args, model, tokenizer, step, minutes, smoothed, argv, previous, len(examples.own))
    print(f"saved {args.out}: {step} steps in {minutes:.1f} min, loss {smoothed:.4f}")


if __name__ == "__main__":
    main()
