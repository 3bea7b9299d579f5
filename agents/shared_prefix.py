"""Attention over a prompt prefix that a group of batch rows shares, kept once per group (cascade attention).

`agents.hf.HFAgent.sample` prefills each group's shared prefix once, into a cache of one row per group; every
prompt's own suffix and reply go into a cache of one row per prompt. Each query then attends to its group's
prefix and to its own row separately, and the two softmaxes are merged by their maxima and sums: the prefix's
keys and values are read once for the whole group (one matrix product over its rows' queries) instead of once
per row from copies. The result is attention over the concatenated keys, up to float rounding.

The function is registered with transformers' `AttentionInterface` as `ATTENTION_NAME`; a forward made while a
model uses it must pass ``shared_prefix=SharedPrefix(...)`` (transformers hands extra forward arguments to the
attention function).
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from transformers import AttentionInterface, PreTrainedModel, StaticCache

ATTENTION_NAME = "fcgym_shared_prefix"


class SharedPrefix:
    """The groups' prefixes (keys and values per layer, one row per group) and, for the next forward, which
    positions of its own row each query sees.

    ``prefix_mask`` (groups x prefix positions) marks the prefixes' real (not padding) positions;
    ``group_of_row`` gives each batch row's group, in non-decreasing order (a group's rows are consecutive)."""

    def __init__(self, prefix_cache: StaticCache, prefix_mask: torch.Tensor, group_of_row: torch.Tensor):
        self.keys = [layer.keys for layer in prefix_cache.layers]
        self.values = [layer.values for layer in prefix_cache.layers]
        self.prefix_mask = prefix_mask.bool()
        self._seen: tuple[torch.Tensor, torch.Tensor] | None = None
        self._own_mask: torch.Tensor | None = None
        self._set_rows(group_of_row)

    def keep(self, rows: torch.Tensor) -> None:
        """Only these rows stay in the batch (finished ones left): groups left without rows are dropped."""
        self._set_rows(self.group_of_row[rows])

    def _set_rows(self, group_of_row: torch.Tensor) -> None:
        """Each row gets a slot in a groups x widest-group layout."""
        groups, group_of_row = torch.unique_consecutive(group_of_row, return_inverse=True)
        if len(groups) < len(self.prefix_mask):
            self.keys = [keys.index_select(0, groups) for keys in self.keys]
            self.values = [values.index_select(0, groups) for values in self.values]
            self.prefix_mask = self.prefix_mask.index_select(0, groups)
        self.group_of_row = group_of_row
        sizes = torch.bincount(group_of_row, minlength=len(groups))
        self.width = int(sizes.max())
        first_row = torch.cumsum(sizes, 0) - sizes
        self.slot = group_of_row * self.width + torch.arange(len(group_of_row)) - first_row[group_of_row]

    def see(self, attention_mask: torch.Tensor, cache_position: torch.Tensor) -> None:
        """For the next forward: each query attends to the positions of its own row that ``attention_mask`` (rows x
        positions so far) keeps, up to its own (``cache_position``)."""
        self._seen, self._own_mask = (attention_mask.bool(), cache_position), None

    def own_mask(self, capacity: int) -> torch.Tensor:
        """rows x 1 x 1 x queries x ``capacity``: the positions of its own row's cache that each query attends to
        (made once per forward, for the first layer)."""
        if self._own_mask is None:
            attention_mask, cache_position = self._seen
            kept = torch.zeros((attention_mask.shape[0], capacity), dtype=torch.bool)
            kept[:, : attention_mask.shape[1]] = attention_mask
            causal = torch.arange(capacity)[None, :] <= cache_position[:, None]
            self._own_mask = (kept[:, None, :] & causal[None])[:, None, None]
        return self._own_mask


def shared_prefix_attention(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                            attention_mask: torch.Tensor | None, scaling: float, shared_prefix: SharedPrefix,
                            **_) -> tuple[torch.Tensor, None]:
    """Softmax attention of ``query`` (rows x heads x queries x dim) over its group's prefix and its own row's
    ``key``/``value`` (rows x key heads x positions x dim), in transformers' attention-function form. Heads that
    share a key head (grouped-query attention) go side by side in one product."""
    rows, heads, length, dim = query.shape
    key_heads = key.shape[1]
    together = heads // key_heads * length  # the queries that meet each key head
    minimum = torch.finfo(query.dtype).min
    queries = query.reshape(rows, key_heads, together, dim)

    own = torch.matmul(queries, key.transpose(-1, -2)) * scaling  # rows x key heads x together x positions
    positions = key.shape[2]
    own = own.view(rows, key_heads, -1, length, positions).masked_fill(~shared_prefix.own_mask(positions), minimum)
    own = own.view(rows, key_heads, together, positions)

    slots = shared_prefix.width
    groups = len(shared_prefix.prefix_mask)
    layer = module.layer_idx
    grouped = queries.new_zeros((groups * slots, key_heads, together, dim))
    grouped[shared_prefix.slot] = queries
    grouped = grouped.view(groups, slots, key_heads, together, dim).transpose(1, 2).reshape(groups, key_heads, -1, dim)
    prefix = torch.matmul(grouped, shared_prefix.keys[layer].transpose(-1, -2)) * scaling
    prefix = prefix.masked_fill(~shared_prefix.prefix_mask[:, None, None, :], minimum)

    own_max, prefix_max = own.amax(-1, keepdim=True), prefix.amax(-1, keepdim=True)
    own_weights, prefix_weights = torch.exp(own - own_max), torch.exp(prefix - prefix_max)
    own_out = torch.matmul(own_weights, value)
    prefix_out = torch.matmul(prefix_weights, shared_prefix.values[layer])

    def per_row(grouped_tensor: torch.Tensor) -> torch.Tensor:
        """groups x key heads x (slots x together) x n -> rows x key heads x together x n"""
        size = grouped_tensor.shape[-1]
        by_slot = grouped_tensor.view(groups, key_heads, slots, together, size).transpose(1, 2)
        return by_slot.reshape(groups * slots, key_heads, together, size)[shared_prefix.slot]

    prefix_max, prefix_sum = per_row(prefix_max), per_row(prefix_weights.sum(-1, keepdim=True))
    prefix_out = per_row(prefix_out)
    top = torch.maximum(own_max, prefix_max)
    own_scale, prefix_scale = torch.exp(own_max - top), torch.exp(prefix_max - top)
    out = (own_out * own_scale + prefix_out * prefix_scale) / (own_weights.sum(-1, keepdim=True) * own_scale
                                                                 + prefix_sum * prefix_scale)
    return out.view(rows, heads, length, dim).transpose(1, 2), None


AttentionInterface.register(ATTENTION_NAME, shared_prefix_attention)


@contextmanager
def attending_shared_prefixes(model: PreTrainedModel):
    """Within the block, ``model`` attends with `shared_prefix_attention`; its own attention comes back after."""
    own = model.config._attn_implementation
    model.set_attn_implementation(ATTENTION_NAME)
    try:
        yield
    finally:
        model.set_attn_implementation(own)
