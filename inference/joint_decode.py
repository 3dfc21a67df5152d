"""Iteration-level scheduling for beam search: a batch that arrives joins the decode already running.

`generate` runs one batch from its first token to its last; a photo that arrives meanwhile waits
for all of it. Here each batch (a *cohort*: one `generate` call's requests, prepared by
`transformers` itself through `custom_generate`) keeps its own beam search state, exactly as
`GenerationMixin._beam_search` holds it and updated by the same helper methods, while the model's
forward pass runs once per step over the rows of every cohort in flight: one read of the weights
for all of them (each cohort's own part is `beam_cohort`). A new cohort's prompt, read but for its
last token when the engine planned it, joins the shared cache, and the next step reads that token
with everyone's; a finished one leaves it. Rows of cohorts of different lengths are
left-padded in the shared cache and masked, and positions come from each row's own mask, so every
row sees the states it would see alone: the answers are the same tokens (tested, and checked by
`blipbot bench` on every run).

Decoder-only language models (OPT) and beam search only: the engine sends greedy and sampled
batches, and encoder-decoders, to plain `generate`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from transformers import DynamicCache
from transformers.generation.utils import GenerateBeamDecoderOnlyOutput

from inference.beam_cohort import (
    Cohort,
    advance,
    next_tokens,
    output,
    reorder_in_place,
    start,
    start_in_step,
)


class JointDecoder:
    """The cohorts in flight and their shared cache: `join`, then `step` until `idle`.

    `finish(cohort, output)` is called for each cohort as it ends, from inside `step`.
    """

    def __init__(
        self, language_model: Any, finish: Callable[[Cohort, GenerateBeamDecoderOnlyOutput], None]
    ) -> None:
        self.model = language_model
        self.finish = finish
        self.cohorts: list[Cohort] = []
        self.cache: DynamicCache | None = None

    @property
    def idle(self) -> bool:
        return not self.cohorts

    @property
    def rows(self) -> int:
        return sum(cohort.rows for cohort in self.cohorts)

    def join(self, cohort: Cohort) -> None:
        """Add `cohort`'s rows to the shared cache; its first token comes with the next step.

        A cohort whose cache does not hold all its prompt but the last token reads the rest on
        its own first (`start`).
        """
        if not start_in_step(cohort):
            start(cohort)
        own: DynamicCache = cohort.model_kwargs.pop("cache")
        if cohort.finished:  # done at its first token (one-token answers)
            self.finish(cohort, output(cohort, own))
            return
        width = max(cohort.cache_length, self._length())
        layers = [(_left_pad(k, width), _left_pad(v, width)) for k, v in _tensors(own)]
        if self.cache is not None:
            layers = [
                (torch.cat([_left_pad(k, width), nk]), torch.cat([_left_pad(v, width), nv]))
                for (k, v), (nk, nv) in zip(_tensors(self.cache), layers, strict=True)
            ]
        self.cache = _cache(layers, self.model.config)
        self.cohorts.append(cohort)

    def step(self) -> None:
        """One token for every cohort in flight, in one forward pass; finished cohorts leave."""
        assert self.cache is not None
        width = self._length() + 1
        tokens = torch.cat([next_tokens(cohort) for cohort in self.cohorts])[:, None]
        mask = torch.cat([_left_pad(cohort.mask, width) for cohort in self.cohorts])
        positions = (mask.sum(dim=-1, keepdim=True) - 1).long()
        outputs = self.model(
            **self._inputs(tokens),
            attention_mask=mask,
            position_ids=positions,
            cache=self.cache,
            use_cache=True,
        )
        logits = outputs.logits[:, -1, :]
        order, offset = [], 0
        for cohort in self.cohorts:
            rows = cohort.rows
            ones = cohort.mask.new_ones((rows, 1))
            cohort.model_kwargs["attention_mask"] = torch.cat([cohort.mask, ones], dim=-1)
            order.append(advance(cohort, logits[offset : offset + rows]) + offset)
            offset += rows
        reorder_in_place(self.cache, torch.cat(order))
        self._release([cohort for cohort in self.cohorts if cohort.finished])

    def _inputs(self, tokens: torch.Tensor) -> dict[str, torch.Tensor]:
        """The step's input: the tokens, or their embeddings with starting cohorts' prompt ends in."""
        if all(cohort.first_embeds is None for cohort in self.cohorts):
            return {"input_ids": tokens}
        parts = []
        for cohort, rows in zip(self.cohorts, tokens.split([c.rows for c in self.cohorts]), strict=True):
            if cohort.first_embeds is None:
                parts.append(self.model.get_input_embeddings()(rows))
            else:
                parts.append(cohort.first_embeds)
                cohort.first_embeds = None
        return {"inputs_embeds": torch.cat(parts)}

    def _release(self, done: list[Cohort]) -> None:
        """Hand each finished cohort its rows of the cache, then drop them (and unneeded padding)."""
        if not done:
            return
        assert self.cache is not None
        offsets, offset = {}, 0
        for cohort in self.cohorts:
            offsets[id(cohort)] = offset
            offset += cohort.rows
        tensors = _tensors(self.cache)
        for cohort in done:
            rows = slice(offsets[id(cohort)], offsets[id(cohort)] + cohort.rows)
            length = cohort.cache_length
            own = _cache(
                [(k[rows, :, -length:], v[rows, :, -length:]) for k, v in tensors], self.model.config
            )
            self.finish(cohort, output(cohort, own))
        self.cohorts = [cohort for cohort in self.cohorts if not cohort.finished]
        if not self.cohorts:
            self.cache = None
            return
        keep = torch.cat(
            [
                torch.arange(offsets[id(c)], offsets[id(c)] + c.rows, device=tensors[0][0].device)
                for c in self.cohorts
            ]
        )
        length = self._length()
        self.cache = _cache(
            [(k[keep, :, -length:], v[keep, :, -length:]) for k, v in tensors], self.model.config
        )

    def _length(self) -> int:
        return max((cohort.cache_length for cohort in self.cohorts), default=0)


def _tensors(cache: DynamicCache) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(layer.keys, layer.values) for layer in cache.layers]


def _cache(layers: list[tuple[torch.Tensor, torch.Tensor]], config: Any) -> DynamicCache:
    """A cache holding these tensors as they are (built empty, then handed them: no copies)."""
    cache = DynamicCache(ddp_cache_data=[(k[:, :, :0], v[:, :, :0]) for k, v in layers], config=config)
    for layer, (keys, values) in zip(cache.layers, layers, strict=True):
        layer.keys, layer.values = keys, values
    return cache


def _left_pad(tensor: torch.Tensor, width: int) -> torch.Tensor:
    """`tensor` widened to `width` on the left of its sequence dimension with zeros (masked).

    Masks are (rows, columns); keys and values (rows, heads, columns, head size).
    """
    dim = 1 if tensor.dim() == 2 else 2
    missing = width - tensor.shape[dim]
    if missing <= 0:
        return tensor
    shape = list(tensor.shape)
    shape[dim] = missing
    return torch.cat([tensor.new_zeros(shape), tensor], dim=dim)
