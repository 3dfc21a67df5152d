"""Prefix matching, batch layout and cache assembly, on plain tensors (no model)."""

from __future__ import annotations

import pytest
import torch
from transformers import DynamicCache

from inference.kv_prefix import BatchLayout, Prefix, assemble_cache, extract_prefixes, reusable_length

LAYERS, HEADS, HEAD_DIM = 2, 3, 4


def prefix(tokens: list[int]) -> Prefix:
    """A prefix whose state at (layer, k/v, head, position) encodes the token, to follow it around."""
    kv = torch.zeros(LAYERS, 2, HEADS, len(tokens), HEAD_DIM)
    for position, token in enumerate(tokens):
        kv[:, :, :, position, :] = token
    return Prefix(tuple(tokens), kv)


def test_reuse_is_the_common_run_of_leading_tokens() -> None:
    stored = prefix([9, 9, 2, 5, 6, 7])

    assert reusable_length([9, 9, 2, 5, 8, 8, 8], stored) == 4
    assert reusable_length([9, 9, 3], stored) == 2
    assert reusable_length([1, 9, 2], stored) == 0
    assert reusable_length([9, 9, 2], None) == 0


def test_reuse_always_leaves_the_last_token_to_read() -> None:
    stored = prefix([9, 9, 2, 5])

    assert reusable_length([9, 9, 2, 5], stored) == 3
    assert reusable_length([9, 9], stored) == 1
    assert reusable_length([9, 9, 2, 5, 6, 7], stored) == 4


def test_layout_without_reuse_is_left_padding() -> None:
    layout = BatchLayout.plan([[1, 2, 3], [4]])
    ids, mask = layout.tensors(pad_id=0, device=torch.device("cpu"))

    assert ids.tolist() == [[1, 2, 3], [0, 0, 4]]
    assert mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    assert layout.past_columns == 0


def test_layout_puts_reused_tokens_in_the_past_block_and_the_rest_after() -> None:
    layout = BatchLayout.plan([[1, 2, 3, 4], [5, 6, 7], [8, 9]], reused=[2, 1, 0])
    ids, mask = layout.tensors(pad_id=0, device=torch.device("cpu"))

    assert (layout.past_columns, layout.new_columns) == (2, 2)
    assert ids.tolist() == [[1, 2, 3, 4], [0, 5, 6, 7], [0, 0, 8, 9]]
    assert mask.tolist() == [[1, 1, 1, 1], [0, 1, 1, 1], [0, 0, 1, 1]]
    # The padding can also fall between a row's reused and new tokens.
    gap = BatchLayout.plan([[1, 2, 3, 4, 5], [6, 7, 8]], reused=[1, 2])
    assert gap.tensors(0, torch.device("cpu"))[0].tolist() == [[0, 1, 2, 3, 4, 5], [6, 7, 0, 0, 0, 8]]
    assert gap.columns(1) == [0, 1, 5]


def test_a_row_must_keep_a_token_to_read() -> None:
    with pytest.raises(ValueError, match="at least one token"):
        BatchLayout.plan([[1, 2]], reused=[2])


def test_assembled_cache_holds_each_rows_reused_states_right_aligned() -> None:
    stored = [prefix([1, 2, 3]), None, prefix([5, 6])]
    layout = BatchLayout.plan([[1, 2, 3, 9], [7, 7], [5, 6, 9]], reused=[3, 0, 2])

    cache = assemble_cache(layout, stored, config=None)

    assert cache is not None and cache.get_seq_length() == 3
    keys = cache.layers[1].keys[:, 0, :, 0]  # (rows, past columns) of one head and dimension
    assert keys.tolist() == [[1, 2, 3], [0, 0, 0], [0, 5, 6]]
    assert assemble_cache(BatchLayout.plan([[1, 2]]), [None], config=None) is None


def test_extracted_prefixes_round_trip_through_a_generation_cache() -> None:
    layout = BatchLayout.plan([[1, 2, 3], [4, 5]], reused=[0, 0])
    ids, _ = layout.tensors(pad_id=0, device=torch.device("cpu"))
    generated = torch.tensor([[11, 12], [21, 22]])
    # What generate leaves: the prompt columns and every generated token but the last.
    read = torch.cat([ids, generated[:, :1]], dim=1).float()
    states = read[:, None, :, None].expand(2, HEADS, read.shape[1], HEAD_DIM).contiguous()
    cache = DynamicCache(ddp_cache_data=[(states, states) for _ in range(LAYERS)])

    first, second = extract_prefixes(cache, layout, cache_rows=[0, 1], appended=[[11], [21]])

    assert first.token_ids == (1, 2, 3, 11)
    assert second.token_ids == (4, 5, 21)
    assert second.kv[0, 0, 0, :, 0].tolist() == [4.0, 5.0, 21.0]
    assert first.kv.shape == (LAYERS, 2, HEADS, 4, HEAD_DIM)
    with pytest.raises(ValueError, match="fewer tokens"):
        extract_prefixes(cache, layout, cache_rows=[0, 1], appended=[[11, 12], [21]])
