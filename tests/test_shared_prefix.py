"""Attention over prefixes kept once per group equals attention over each row's whole keys."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import repeat_kv

from agents.factory import TINY_DIR
from agents.hf import HFAgent
from agents.shared_prefix import ATTENTION_NAME, SharedPrefix, shared_prefix_attention


class Layer(torch.nn.Module):
    layer_idx = 0


def prefix_of(keys: torch.Tensor, values: torch.Tensor) -> SimpleNamespace:
    """A stand-in for a prefilled cache: one layer holding these keys and values."""
    return SimpleNamespace(layers=[SimpleNamespace(keys=keys, values=values)])


@pytest.mark.parametrize("heads,key_heads,length", [(4, 4, 1), (6, 2, 1), (4, 2, 3)])
def test_each_row_attends_to_its_groups_prefix_and_its_own_positions(heads, key_heads, length):
    torch.manual_seed(0)
    group_of_row = torch.tensor([0, 0, 0, 1, 2, 2])  # groups of 3, 1 and 2 rows
    groups, rows, dim, prefix_width, capacity = 3, 6, 8, 5, 7
    prefix_mask = torch.tensor([[0, 1, 1, 1, 1], [0, 0, 0, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)  # left-padded
    prefix_keys, prefix_values = torch.randn(groups, key_heads, prefix_width, dim), torch.randn(groups, key_heads,
                                                                                             prefix_width, dim)
    keys, values = torch.randn(rows, key_heads, capacity, dim), torch.randn(rows, key_heads, capacity, dim)
    query = torch.randn(rows, heads, length, dim)
    filled = 4  # the queries sit at positions 4 .. 4 + length - 1 of their rows; row 1 is left-padded by one
    own_mask = torch.ones(rows, filled + length, dtype=torch.long)
    own_mask[1, 0] = 0
    shared = SharedPrefix(prefix_of(prefix_keys, prefix_values), prefix_mask, group_of_row)
    shared.see(own_mask, torch.arange(filled, filled + length))
    out, _ = shared_prefix_attention(Layer(), query, keys, values, None, dim ** -0.5, shared_prefix=shared)

    # the same attention over each row's prefix and own keys side by side, masked
    whole_keys = torch.cat([prefix_keys[group_of_row], keys], 2)
    whole_values = torch.cat([prefix_values[group_of_row], values], 2)
    causal = torch.arange(capacity)[None, :] <= torch.arange(filled, filled + length)[:, None]
    own = torch.zeros(rows, capacity, dtype=torch.bool)
    own[:, : filled + length] = own_mask.bool()
    mask = torch.cat([prefix_mask[group_of_row][:, None, :].expand(-1, length, -1), own[:, None] & causal[None]], 2)
    expected = torch.nn.functional.scaled_dot_product_attention(
        query, repeat_kv(whole_keys, heads // key_heads), repeat_kv(whole_values, heads // key_heads),
        attn_mask=mask[:, None])
    assert out.shape == (rows, length, heads, dim)
    torch.testing.assert_close(out, expected.transpose(1, 2), atol=1e-5, rtol=1e-5)

    # rows leave: the groups left without rows are dropped, the others keep their prefixes
    kept = torch.tensor([1, 4])
    shared.keep(kept)
    assert len(shared.prefix_mask) == 2 and shared.keys[0].shape[0] == 2
    shared.see(own_mask[kept], torch.arange(filled, filled + length))
    out, _ = shared_prefix_attention(Layer(), query[kept], keys[kept], values[kept], None, dim ** -0.5,
                                     shared_prefix=shared)
    torch.testing.assert_close(out, expected.transpose(1, 2)[kept], atol=1e-5, rtol=1e-5)


def test_the_sampler_shares_prefixes_only_where_the_model_attends_through_the_attention_function():
    assert HFAgent.from_pretrained(TINY_DIR / "fc").shares_prefixes
    # a model whose attention never reaches the prefix (as one that ignores transformers' attention functions)
    AttentionInterface.register(ATTENTION_NAME, lambda module, query, key, value, mask, scaling, **_: (
        torch.nn.functional.scaled_dot_product_attention(query, key, value, scale=scaling).transpose(1, 2), None))
    try:
        assert not HFAgent.from_pretrained(TINY_DIR / "fc").shares_prefixes
    finally:
        AttentionInterface.register(ATTENTION_NAME, shared_prefix_attention)
