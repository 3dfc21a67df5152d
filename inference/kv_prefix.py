"""Reusing the key/value states of what a decoder already read, so a follow-up reads only its new part.

A conversation about one photo grows by appending: the image queries, then "Question: q1 Answer:",
the model's answer, then "Question: q2 Answer:". After each generation the engine keeps the token
ids the decoder read and their key/value states (a `Prefix`); the next request about the photo
reuses the longest common run of leading tokens and prefills only the rest. Matching token ids,
not strings, makes this exact whatever the tokenizer does at the seams. Rows about a new photo
in one batch first get a prefix of the start they share (`shared_starts`), read once.

In a batch each row continues from its own prefix, so rows are laid out as
`[pad][reused tokens][pad][new tokens]`: the first block is the cache's past, the second what
`generate` prefills. Padding is masked and positions count only real tokens (OPT derives them
from the attention mask), so every token sees exactly what it saw when it was first read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers import DynamicCache

from inference.embedding_cache import tensor_bytes

#: Tokens of key/value states kept across requests unless told otherwise: for blip2-opt-2.7b in
#: fp16 (320 KiB a token) that is 2.5 GiB, about 190 photos just described (some 43 tokens each)
#: or 28 conversations at the prompt cap (about 290 tokens each).
DEFAULT_KV_CACHE_TOKENS = 8192


@dataclass(frozen=True, slots=True)
class Prefix:
    """Token ids a decoder read, in order, and the key/value states they left in every layer.

    `kv` has shape (layers, 2, heads, tokens, head_dim): index 0 of the second axis holds keys.
    """

    token_ids: tuple[int, ...]
    kv: torch.Tensor

    @property
    def nbytes(self) -> int:
        return tensor_bytes(self.kv)


def reusable_length(token_ids: Sequence[int], prefix: Prefix | None) -> int:
    """Leading tokens of `token_ids` that `prefix` already holds, leaving at least the last one to read.

    The last prompt token must be read again: its logits start the answer.
    """
    if prefix is None:
        return 0
    limit = min(len(token_ids) - 1, len(prefix.token_ids))
    stored = prefix.token_ids
    length = 0
    while length < limit and token_ids[length] == stored[length]:
        length += 1
    return length


def shared_starts(
    keys: Sequence[str], rows: Sequence[Sequence[int]], prefixes: Sequence[Prefix | None]
) -> dict[str, tuple[int, ...]]:
    """The leading tokens to read once for each photo that rows of a batch start from afresh.

    A description asks several things about a new photo at once; read row by row, each would read
    the photo's image queries again. A photo's start is the run of leading tokens all its rows
    share (image queries and begin marker at least), one short of its shortest row, whose last
    token `generate` must read. Rows that reuse a prefix need none. A photo with one row gets its
    start too (the same reading `generate` would do): kept at once, it serves the photo's other
    batch decoding beside this one (a caption's detail questions joining its decode).
    """
    groups: dict[str, list[Sequence[int]]] = {}
    for key, row, prefix in zip(keys, rows, prefixes, strict=True):
        if reusable_length(row, prefix) == 0:
            groups.setdefault(key, []).append(row)
    starts = {}
    for key, members in groups.items():
        first, length = members[0], min(len(row) for row in members) - 1
        for row in members[1:]:
            length = next((n for n in range(length) if row[n] != first[n]), length)
        if length > 0:
            starts[key] = tuple(first[:length])
    return starts


def kv_bytes_per_token(config: Any, dtype: torch.dtype) -> int:
    """Bytes one token's keys and values take in every layer of a decoder with `config`, in `dtype`.

    What a `Prefix` costs per token, so a budget set in tokens means the same for any model:
    layers x (keys, values) x key/value heads x head size x element size.
    """
    heads = config.num_attention_heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    head_dim = (
        getattr(config, "head_dim", None) or getattr(config, "d_kv", None) or config.hidden_size // heads
    )
    return config.num_hidden_layers * 2 * kv_heads * head_dim * dtype.itemsize


@dataclass(frozen=True, slots=True)
class BatchLayout:
    """Where each row's tokens sit in a batch whose rows continue from prefixes of different lengths.

    Row `i` is `[pad][rows[i][:reused[i]]][pad][rows[i][reused[i]:]]`; the first block is
    `past_columns` wide, the second `new_columns`. With no reuse this is plain left padding.
    """

    rows: tuple[tuple[int, ...], ...]
    reused: tuple[int, ...]
    past_columns: int
    new_columns: int

    @classmethod
    def plan(cls, rows: Sequence[Sequence[int]], reused: Sequence[int] | None = None) -> BatchLayout:
        reused = tuple(reused) if reused is not None else (0,) * len(rows)
        if len(reused) != len(rows):
            raise ValueError("one reused length per row")
        if any(not 0 <= r < len(row) for row, r in zip(rows, reused, strict=True)):
            raise ValueError("each row must have at least one token left to read")
        return cls(
            rows=tuple(tuple(row) for row in rows),
            reused=reused,
            past_columns=max(reused, default=0),
            new_columns=max((len(row) - r for row, r in zip(rows, reused, strict=True)), default=0),
        )

    @property
    def width(self) -> int:
        return self.past_columns + self.new_columns

    def columns(self, row: int) -> list[int]:
        """The column of each of the row's tokens, in order."""
        tokens, reused = self.rows[row], self.reused[row]
        past_start = self.past_columns - reused
        new_start = self.width - (len(tokens) - reused)
        return [*range(past_start, self.past_columns), *range(new_start, self.width)]

    def tensors(self, pad_id: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """`input_ids` and `attention_mask` of shape (rows, width).

        Padding gets `pad_id`; pass an id every row already holds (the image token) so that a
        repetition penalty, which looks at the set of ids in a row, sees the same set as unpadded.
        """
        ids = torch.full((len(self.rows), self.width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(self.rows), self.width), dtype=torch.long)
        for i, tokens in enumerate(self.rows):
            columns = torch.tensor(self.columns(i), dtype=torch.long)
            ids[i, columns] = torch.tensor(tokens, dtype=torch.long)
            mask[i, columns] = 1
        return ids.to(device), mask.to(device)


def assemble_cache(
    layout: BatchLayout, prefixes: Sequence[Prefix | None], config: Any
) -> DynamicCache | None:
    """A cache holding each row's reused tokens right-aligned in the past block, zeros elsewhere.

    None when no row reuses anything. `config` is the language model's config (layer types).
    """
    if layout.past_columns == 0:
        return None
    template = next(p.kv for p, r in zip(prefixes, layout.reused, strict=True) if r and p is not None)
    layers, _, heads, _, head_dim = template.shape
    width = layout.past_columns
    states = []
    for layer in range(layers):
        pair = []
        for kind in (0, 1):  # keys, values
            past = template.new_empty(len(layout.rows), heads, width, head_dim)
            for i, (prefix, reused) in enumerate(zip(prefixes, layout.reused, strict=True)):
                # Padding is masked, but must not be uninitialised memory: 0 * NaN is NaN.
                past[i, :, : width - reused] = 0
                if reused:
                    assert prefix is not None
                    past[i, :, width - reused :] = prefix.kv[layer, kind, :, :reused]
            pair.append(past)
        states.append(pair)
    # Built empty, then handed the tensors: `update` would copy every one of them again.
    cache = DynamicCache(ddp_cache_data=[(k[:, :, :0], v[:, :, :0]) for k, v in states], config=config)
    for cache_layer, (keys, values) in zip(cache.layers, states, strict=True):
        cache_layer.keys, cache_layer.values = keys, values
    return cache


def extract_prefixes(
    cache: DynamicCache,
    layout: BatchLayout,
    cache_rows: Sequence[int],
    appended: Sequence[Sequence[int]],
) -> list[Prefix]:
    """Each request's prefix after a generation: its prompt tokens plus the `appended` tokens the cache holds.

    `cache_rows[i]` is the cache row of request `i` (with beams, the first of its beams: every beam
    holds the same prompt states). `appended[i]` are generated tokens whose states are in the cache,
    read right after the prompt's block (empty for beam search, whose cache follows the beams).
    """
    layers = cache.layers
    sample = layers[0].keys
    prefixes = []
    for i, (tokens, row) in enumerate(zip(layout.rows, cache_rows, strict=True)):
        extra = list(appended[i])
        columns = layout.columns(i) + [layout.width + j for j in range(len(extra))]
        if columns[-1] >= sample.shape[-2]:
            raise ValueError("the cache holds fewer tokens than the prefix asks for")
        index = torch.tensor(columns, dtype=torch.long, device=sample.device)
        kv = sample.new_empty(len(layers), 2, sample.shape[1], len(columns), sample.shape[-1])
        # One copy straight into the prefix's own storage, layer by layer.
        for number, layer in enumerate(layers):
            torch.index_select(layer.keys[row], -2, index, out=kv[number, 0])
            torch.index_select(layer.values[row], -2, index, out=kv[number, 1])
        prefixes.append(Prefix(token_ids=(*tokens, *extra), kv=kv))
    return prefixes
